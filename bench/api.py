"""Throughput of ``/api/v1`` under gunicorn (2 workers, 127.0.0.1) on SQLite and PostgreSQL.

For each backend: case submissions/s (``POST /api/v1/cases``, each with its own Idempotency-Key)
and case look-ups/s (``GET /api/v1/cases/{n}``), beside the bare Flask + SQLAlchemy ceiling
(``bench/ceiling.py``: one-row insert / one-row read) served the same way. Counts and time are
bounded; rate limits are switched off in the benchmark's instance settings.

    .venv/bin/python bench/api.py                       # both backends, 200 requests each
    .venv/bin/python bench/api.py --backend sqlite --requests 500 --concurrency 8
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PG_ADMIN_URL = os.environ.get(
    "SHUZHI_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
GUNICORN = str(Path(sys.executable).with_name("gunicorn"))
TEXTS = (
    "小区门口的路灯坏了一个多星期，晚上很黑，请尽快修理。",
    "楼下饭店每天深夜排风扇噪音很大，影响休息，希望环保部门来测一下。",
    "公交站台的遮雨棚破了，下雨天等车全身湿透，请交通部门维修。",
    "孩子上学的路口没有红绿灯，车速很快，很危险，建议设置信号灯。",
    "单位拖欠工资三个月了，多次讨要无果，请劳动监察部门帮忙。",
    "菜市场门口垃圾堆了好几天没人清运，气味很大，苍蝇很多。",
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def database(backend: str, workdir: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{workdir / 'bench.db'}"
        return
    from sqlalchemy import create_engine, text

    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"shuzhi_bench_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def prepare_portal(url: str, instance: Path, model_dir: Path) -> str:
    """Schema, demo jurisdiction, the model and a channel API key; returns the key."""
    from portal import create_app, get_session
    from portal.api.services import create_api_key
    from portal.db import make_engine
    from portal.jurisdiction.services import load_jurisdiction, read_yaml
    from portal.models import Base

    engine = make_engine(url)
    Base.metadata.create_all(engine)
    engine.dispose()
    instance.mkdir(parents=True, exist_ok=True)
    (instance / "settings.json").write_text(json.dumps({"RATELIMIT_ENABLED": False}))
    app = create_app(
        {
            "DATABASE_URL": url,
            "INSTANCE_PATH": str(instance),
            "NLP_MODEL_DIR": str(model_dir),
            "SECRET_KEY": "bench-secret",
        }
    )
    with app.app_context():
        session = get_session()
        load_jurisdiction(session, read_yaml(app.config["JURISDICTION_FILE"]))
        key = create_api_key(session, name="bench", scopes=["channel:telegram"]).secret
        session.commit()
        import nlp

        nlp.default_model(model_dir)  # trained once here, loaded by the workers
    app.extensions["db"].dispose()
    return key


@contextmanager
def gunicorn(app_spec: str, env: dict[str, str], ready_path: str) -> Iterator[str]:
    port = _free_port()
    process = subprocess.Popen(
        [
            GUNICORN,
            "-w",
            "2",
            "-b",
            f"127.0.0.1:{port}",
            "--preload",
            "--timeout",
            "120",
            "--log-level",
            "warning",
            app_spec,
        ],
        cwd=ROOT,
        env={**os.environ, **env},
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(base + ready_path, timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn did not start: {app_spec}")
            time.sleep(0.3)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


def measure(
    count: int,
    concurrency: int,
    call: Callable[[httpx.Client, int], int],
    base: str,
    max_seconds: float,
) -> dict[str, float]:
    """Run ``call(client, i)`` ``count`` times over ``concurrency`` threads; requests/s, latency."""
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    counter = iter(range(count))
    stop_at = time.monotonic() + max_seconds

    def worker() -> None:
        nonlocal errors
        with httpx.Client(base_url=base, timeout=60) as client:
            while time.monotonic() < stop_at:
                with lock:
                    i = next(counter, None)
                if i is None:
                    return
                started = time.perf_counter()
                status = call(client, i)
                elapsed = time.perf_counter() - started
                with lock:
                    latencies.append(elapsed)
                    errors += status >= 400

    started = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    latencies.sort()
    return {
        "requests": len(latencies),
        "errors": errors,
        "per_second": len(latencies) / wall if wall else 0.0,
        "p50_ms": 1000 * statistics.median(latencies) if latencies else 0.0,
        "p95_ms": 1000 * latencies[int(0.95 * (len(latencies) - 1))] if latencies else 0.0,
    }


def bench_backend(
    backend: str, count: int, concurrency: int, max_seconds: float
) -> dict[str, dict[str, float]]:
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix=f"shuzhi-bench-{backend}-") as tmp:
        workdir = Path(tmp)
        model_dir = Path(os.environ.get("SHUZHI_BENCH_MODEL_DIR") or workdir / "model")
        with database(backend, workdir) as url:
            key = prepare_portal(url, workdir / "instance", model_dir)
            env = {
                "SHUZHI_DATABASE_URL": url,
                "SHUZHI_INSTANCE_PATH": str(workdir / "instance"),
                "SHUZHI_NLP_MODEL_DIR": str(model_dir),
                "SHUZHI_SECRET_KEY": "bench-secret",
            }
            numbers: list[str] = []
            headers = {"Authorization": f"Bearer {key}"}

            def submit(client: httpx.Client, i: int) -> int:
                response = client.post(
                    "/api/v1/cases",
                    json={
                        "text": f"{TEXTS[i % len(TEXTS)]}（第{i}号）",
                        "lat": 28.222,
                        "lon": 112.86,
                    },
                    headers={
                        **headers,
                        "Idempotency-Key": f"bench-{i}",
                        "X-Shuzhi-Resident": f"telegram:{1000 + i % 50}",
                    },
                )
                if response.status_code == 201:
                    numbers.append(response.json()["tracking_number"])
                return response.status_code

            def look_up(client: httpx.Client, i: int) -> int:
                return client.get(
                    f"/api/v1/cases/{numbers[i % len(numbers)]}", headers=headers
                ).status_code

            def warm_up(client: httpx.Client, i: int) -> int:
                """Each worker loads the NLP model on its first request (not measured)."""
                return client.post(
                    "/api/v1/preview", json={"text": TEXTS[i % len(TEXTS)]}, headers=headers
                ).status_code

            with gunicorn("portal:create_app()", env, "/api/v1/openapi.json") as base:
                measure(4 * concurrency, concurrency, warm_up, base, max_seconds=180)
                results["api submit"] = measure(count, concurrency, submit, base, max_seconds)
                if numbers:
                    results["api lookup"] = measure(count, concurrency, look_up, base, max_seconds)

            from bench.ceiling import prepare

            prepare(url)
            row_ids: list[int] = []

            def insert(client: httpx.Client, i: int) -> int:
                response = client.post("/rows", json={"text": TEXTS[i % len(TEXTS)]})
                if response.status_code == 201:
                    row_ids.append(response.json()["id"])
                return response.status_code

            def read(client: httpx.Client, i: int) -> int:
                return client.get(f"/rows/{row_ids[i % len(row_ids)]}").status_code

            with gunicorn(f"bench.ceiling:create_app({url!r})", {}, "/ready") as base:
                results["ceiling insert"] = measure(count, concurrency, insert, base, max_seconds)
                if row_ids:
                    results["ceiling read"] = measure(count, concurrency, read, base, max_seconds)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--requests", type=int, default=200, help="per measurement (default 200)")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--max-seconds", type=float, default=60, help="cap per measurement")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args()
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    report = {
        b: bench_backend(b, args.requests, args.concurrency, args.max_seconds) for b in backends
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(
        f"gunicorn -w 2, {args.concurrency} concurrent clients, up to {args.requests} requests each"
    )
    print(f"{'backend':<11}{'measurement':<16}{'req/s':>9}{'p50 ms':>9}{'p95 ms':>9}{'errors':>8}")
    for backend, rows in report.items():
        for name, row in rows.items():
            print(
                f"{backend:<11}{name:<16}{row['per_second']:>9.1f}{row['p50_ms']:>9.1f}"
                f"{row['p95_ms']:>9.1f}{int(row['errors']):>8}"
            )


if __name__ == "__main__":
    main()
