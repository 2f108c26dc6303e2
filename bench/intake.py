"""Intake throughput: submissions per second through the web form and the service layer, on
SQLite and PostgreSQL, beside a bare Flask+SQLAlchemy one-row insert (the ceiling).

    python bench/intake.py [--seconds 8] [--requests 200] [--clients 4] [--backends sqlite,postgresql]

Both servers run under gunicorn with 2 sync workers on 127.0.0.1; an httpx client process drives
them with a few threads. Every measurement stops after ``--requests`` requests or ``--seconds``
seconds, whichever comes first. The web form is measured as a signed-in resident would use it
(CSRF on, production settings): the "check" step (classify, route, find similar cases) and the
"submit" step (validate, mask, classify, route, number, record, commit). The service layer is
``submit_case`` + commit called in 2 processes, no HTTP. Aim (issue 3): web submit >= 50% of the
ceiling on the same backend.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import multiprocessing
import os
import re
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

GUNICORN = str(Path(sys.executable).with_name("gunicorn"))
PG_ADMIN_URL = os.environ.get(
    "SHUZHI_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
PASSWORD = "bench-password-123"

#: Invented reports (no real residents' texts), varied so the classifier and routing do work.
TEXTS = (
    "小区门口的路灯坏了一个多星期，晚上很黑，老人出门很不方便，请尽快修理。",
    "楼下的下水道堵塞好几天了，污水漫到人行道上，气味很大，请尽快疏通。",
    "附近工地晚上十一点以后还在施工，噪音很大，影响居民休息。",
    "公交站台的顶棚破损，下雨天候车的人都被淋湿，希望尽快维修。",
    "孩子学校的课后服务收费不透明，家长多次询问没有答复。",
    "菜市场有商贩缺斤少两，投诉到管理处也没有处理结果。",
    "单位拖欠了三个月工资，多次讨要没有结果，请劳动部门帮忙。",
    "小区物业不清理楼道垃圾，电梯也经常坏，物业一直不处理。",
    "路口红绿灯时间太短，老人过马路来不及，建议延长绿灯时间。",
    "社区卫生服务中心排队时间太长，建议增加周末门诊。",
    "河边有人往河里倾倒生活垃圾，河水发黑发臭，请环保部门查处。",
    "建议在公园里增设一些健身器材和休息座椅，方便老年人锻炼。",
)


# --- results ---------------------------------------------------------------------------------


@dataclass
class Result:
    backend: str
    path: str
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    seconds: float = 0.0
    note: str = ""

    @property
    def count(self) -> int:
        return len(self.latencies)

    @property
    def rate(self) -> float:
        return self.count / self.seconds if self.seconds else 0.0

    def percentile(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def ceiling_rates(results: list[Result]) -> dict[str, float]:
    """Per backend, the mean of its ceiling measurements (taken before and after the portal's,
    so that a change in the machine's load during the run weighs on both sides alike)."""
    rates: dict[str, list[float]] = {}
    for r in results:
        if r.path.startswith("ceiling") and r.rate:
            rates.setdefault(r.backend, []).append(r.rate)
    return {backend: statistics.fmean(values) for backend, values in rates.items()}


def print_table(results: list[Result]) -> None:
    ceilings = ceiling_rates(results)
    print("(% ceil: against the mean of the backend's ceiling runs before and after)")
    header = (
        f"{'backend':<11} {'path':<34} {'done':>5} {'err':>4} {'secs':>6} "
        f"{'per s':>7} {'p50 ms':>7} {'p95 ms':>7} {'% ceil':>7}"
    )
    print()
    print(header)
    print("-" * len(header))
    for r in results:
        ceiling = ceilings.get(r.backend)
        share = (
            f"{100 * r.rate / ceiling:6.0f}%"
            if ceiling and not r.path.startswith("ceiling")
            else ""
        )
        print(
            f"{r.backend:<11} {r.path:<34} {r.count:>5} {r.errors:>4} {r.seconds:>6.1f} "
            f"{r.rate:>7.1f} {r.percentile(0.5):>7.1f} {r.percentile(0.95):>7.1f} {share:>7}"
        )
        if r.note:
            print(f"{'':<11} {r.note}")
    print()


# --- load generation -------------------------------------------------------------------------


def drive(
    name: tuple[str, str],
    clients: list[Any],
    one_request: Callable[[Any, int], bool],
    *,
    max_requests: int,
    max_seconds: float,
) -> Result:
    """Run ``one_request(client, i)`` from one thread per client until the budget is spent."""
    result = Result(*name)
    lock = threading.Lock()
    issued = 0
    deadline = time.perf_counter() + max_seconds

    def worker(client: Any) -> None:
        nonlocal issued
        while True:
            with lock:
                if issued >= max_requests or time.perf_counter() >= deadline:
                    return
                issued += 1
                index = issued
            started = time.perf_counter()
            try:
                ok = one_request(client, index)
            except httpx.HTTPError:
                ok = False
            elapsed = time.perf_counter() - started
            with lock:
                if ok:
                    result.latencies.append(elapsed)
                else:
                    result.errors += 1

    threads = [threading.Thread(target=worker, args=(c,)) for c in clients]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    result.seconds = time.perf_counter() - started
    return result


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def gunicorn(app_spec: str, env: dict[str, str], ready_path: str, log: Path) -> Iterator[str]:
    port = free_port()
    with open(log, "ab") as log_file:
        process = subprocess.Popen(
            [GUNICORN, "-w", "2", "-b", f"127.0.0.1:{port}", "--timeout", "60", app_spec],
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 90
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"gunicorn exited; see {log}")
            try:
                if httpx.get(base + ready_path, timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.time() > deadline:
                raise RuntimeError(f"gunicorn did not become ready; see {log}")
            time.sleep(0.3)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


_T0 = time.perf_counter()


def log_phase(message: str) -> None:
    print(f"  [{time.perf_counter() - _T0:5.0f} s] {message}", flush=True)


# --- set-up ----------------------------------------------------------------------------------


def portal_settings(url: str, instance: Path, model_dir: Path) -> dict[str, Any]:
    return {
        "ENV": "production",
        "SECRET_KEY": secrets.token_urlsafe(32),
        "DATABASE_URL": url,
        "INSTANCE_PATH": str(instance),
        "NLP_MODEL_DIR": str(model_dir),
        # Fresh keys per run (production refuses to start without explicit data keys).
        "DATA_KEYS": json.dumps({"b1": base64.b64encode(secrets.token_bytes(32)).decode()}),
        "DATA_KEY_ACTIVE": "b1",
        "DATA_HASH_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
    }


def prepare_portal_database(settings: dict[str, Any], residents: int) -> list[str]:
    """Schema, the demo jurisdiction and resident accounts; returns their e-mails."""
    from werkzeug.security import generate_password_hash

    from portal import create_app, get_session
    from portal.accounts.models import User
    from portal.jurisdiction.services import load_jurisdiction, read_yaml
    from portal.models import Base

    app = create_app(settings)
    emails = []
    with app.app_context():
        db = get_session()
        Base.metadata.create_all(db.get_bind())
        load_jurisdiction(db, read_yaml(app.config["JURISDICTION_FILE"]))
        for i in range(residents):
            email = f"bench-resident-{i}@example.test"
            db.add(
                User(
                    email=email,
                    display_name=f"Bench resident {i}",
                    # A cheap hash: the bench measures intake, not sign-in.
                    password_hash=generate_password_hash(PASSWORD, method="pbkdf2:sha256:1000"),
                    role="resident",
                )
            )
            emails.append(email)
        db.commit()
    app.extensions["db"].dispose()
    return emails


def csrf_token(html: str) -> str:
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html) or re.search(
        r'name="csrf_token" value="([^"]+)"', html
    )
    if not match:
        raise RuntimeError("no CSRF token in the page")
    return match.group(1)


def signed_in_client(base: str, email: str) -> tuple[httpx.Client, str]:
    client = httpx.Client(base_url=base, timeout=60)
    token = csrf_token(client.get("/login").text)
    response = client.post(
        "/login", data={"email": email, "password": PASSWORD, "csrf_token": token}
    )
    if response.status_code != 302:
        raise RuntimeError(f"bench sign-in failed: {response.status_code}")
    return client, csrf_token(client.get("/cases/new").text)


def service_worker(
    settings: dict[str, Any], email: str, budget: tuple[int, float], queue: Any
) -> None:
    """One process calling ``submit_case`` + commit in a loop (the service layer, no HTTP)."""
    from sqlalchemy import select

    from portal import create_app, get_session
    from portal.accounts.models import User
    from portal.cases.services import submit_case

    max_requests, max_seconds = budget
    app = create_app(settings)
    latencies: list[float] = []
    errors = 0
    with app.app_context():
        db = get_session()
        user = db.scalar(select(User).where(User.email == email))
        submit_case(db, text=TEXTS[0], channel="web", submitter=user)  # warm-up: model, jieba
        db.rollback()
        deadline = time.perf_counter() + max_seconds
        i = 0
        while i < max_requests and time.perf_counter() < deadline:
            i += 1
            started = time.perf_counter()
            try:
                submit_case(
                    db, text=f"{TEXTS[i % len(TEXTS)]}（{i}）", channel="web", submitter=user
                )
                db.commit()
                latencies.append(time.perf_counter() - started)
            except Exception:  # counted and reported; the bench goes on
                db.rollback()
                errors += 1
    app.extensions["db"].dispose()
    queue.put((latencies, errors))


def bench_service(backend: str, settings: dict[str, Any], emails: list[str], args: Any) -> Result:
    # Forked from this process, which already holds the loaded model: the workers start fast.
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    budget = (args.requests // 2, args.seconds)
    processes = [
        context.Process(target=service_worker, args=(settings, email, budget, queue))
        for email in emails[:2]
    ]
    started = time.perf_counter()
    for p in processes:
        p.start()
    outcomes = [queue.get(timeout=args.seconds + 120) for _ in processes]
    for p in processes:
        p.join()
    # The processes spend their first seconds loading; count from their own clocks instead.
    result = Result(backend, "service: submit_case (2 processes)")
    for latencies, errors in outcomes:
        result.latencies.extend(latencies)
        result.errors += errors
    busy = max(sum(lat) for lat, _ in outcomes) if outcomes else 0.0
    result.seconds = busy or (time.perf_counter() - started)
    return result


# --- one backend -----------------------------------------------------------------------------


def measure_ceiling(backend: str, url: str, work: Path, args: Any, when: str) -> Result:
    """The bare Flask+SQLAlchemy one-row insert under the same gunicorn set-up."""
    from bench import ceiling

    # A longer run than the portal's: the bare insert finishes its request budget in a blink.
    budget = {"max_requests": 5 * args.requests, "max_seconds": args.seconds}
    ceiling_url = f"sqlite:///{work / 'ceiling.db'}" if backend == "sqlite" else url
    ceiling.prepare(ceiling_url)
    spec = f'bench.ceiling:create_app("{ceiling_url}")'
    with gunicorn(spec, {}, "/ready", work / f"ceiling-{backend}.log") as base:
        http = [httpx.Client(base_url=base, timeout=60) for _ in range(args.clients)]

        def insert(i: int, n: int) -> bool:
            return http[i].post("/rows", json={"text": TEXTS[n % len(TEXTS)]}).status_code == 201

        for client in http:
            client.post("/rows", json={"text": "warm-up"})
        result = drive(
            (backend, f"ceiling: bare insert ({when})"), list(range(len(http))), insert, **budget
        )
        for client in http:
            client.close()
    return result


def bench_backend(backend: str, url: str, work: Path, model_dir: Path, args: Any) -> list[Result]:
    instance = work / f"instance-{backend}"
    settings = portal_settings(url, instance, model_dir)
    emails = prepare_portal_database(settings, residents=max(args.clients, 2))
    env = {f"SHUZHI_{k}": str(v) for k, v in settings.items()}
    env["SHUZHI_RATELIMIT_STORAGE_URI"] = "memory://"
    results: list[Result] = []
    budget = {"max_requests": args.requests, "max_seconds": args.seconds}

    log_phase(f"{backend}: database ready")
    results.append(measure_ceiling(backend, url, work, args, "before"))
    with gunicorn("portal:create_app()", env, "/", work / f"gunicorn-{backend}.log") as base:
        log_phase(f"{backend}: portal under gunicorn ready")
        sessions = [signed_in_client(base, email) for email in emails[: args.clients]]
        clients = list(range(len(sessions)))

        # Warm every worker (model load, jieba dictionary) before timing: concurrent requests,
        # so that both gunicorn workers get some, a few rounds each.
        def warm(i: int) -> None:
            client, token = sessions[i]
            for _round in range(3):
                client.post(
                    "/cases/new", data={"csrf_token": token, "text": TEXTS[0], "step": "check"}
                )

        warmers = [threading.Thread(target=warm, args=(i,)) for i in range(len(sessions))]
        for t in warmers:
            t.start()
        for t in warmers:
            t.join()

        def check(i: int, n: int) -> bool:
            client, token = sessions[i]
            text = f"{TEXTS[n % len(TEXTS)]}（{n}）"
            response = client.post(
                "/cases/new", data={"csrf_token": token, "text": text, "step": "check"}
            )
            return response.status_code == 200

        def submit(i: int, n: int) -> bool:
            client, token = sessions[i]
            text = f"{TEXTS[n % len(TEXTS)]}（{n}）"
            response = client.post(
                "/cases/new", data={"csrf_token": token, "text": text, "step": "submit"}
            )
            ok = response.status_code == 302 and "/submitted" in response.headers.get(
                "location", ""
            )
            if not ok:
                with failure_lock:
                    failures[response.status_code] = failures.get(response.status_code, 0) + 1
            return ok

        failures: dict[int, int] = {}
        failure_lock = threading.Lock()
        results.append(drive((backend, "web form: submit"), clients, submit, **budget))
        if failures:
            results[-1].note = f"failed responses by status: {failures} (see {work}/gunicorn-*.log)"
        results.append(drive((backend, "web form: check (preview)"), clients, check, **budget))
        for client, _ in sessions:
            client.close()

    log_phase(f"{backend}: web form measured")
    results.append(bench_service(backend, settings, emails, args))
    log_phase(f"{backend}: service layer measured")

    results.append(measure_ceiling(backend, url, work, args, "after"))
    return results


@contextlib.contextmanager
def postgres_database() -> Iterator[str]:
    from sqlalchemy import create_engine, text

    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"shuzhi_bench_{secrets.token_hex(4)}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0, help="time budget per measurement")
    parser.add_argument("--requests", type=int, default=200, help="request budget per measurement")
    parser.add_argument("--clients", type=int, default=4, help="concurrent client threads")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--model-dir", default=os.environ.get("SHUZHI_NLP_MODEL_DIR", ""))
    args = parser.parse_args(argv)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")  # before numpy loads; inherited by the servers

    import nlp

    model_dir = Path(args.model_dir) if args.model_dir else ROOT / "instance" / "models" / "default"
    print(f"model: {model_dir} (trained now if missing)", flush=True)
    nlp.default_model(model_dir)

    results: list[Result] = []
    work = Path(tempfile.mkdtemp(prefix="shuzhi-bench-intake-"))
    started = time.perf_counter()
    try:
        for backend in [b.strip() for b in args.backends.split(",") if b.strip()]:
            print(f"{backend}: preparing and measuring …", flush=True)
            if backend == "sqlite":
                results += bench_backend(
                    backend, f"sqlite:///{work / 'portal.db'}", work, model_dir, args
                )
            elif backend == "postgresql":
                try:
                    with postgres_database() as url:
                        results += bench_backend(backend, url, work, model_dir, args)
                except Exception as exc:  # report it and go on with the other backends
                    if "connect" not in str(exc).lower():
                        raise
                    print(f"postgresql: not reachable ({exc}); skipped", flush=True)
            else:
                parser.error(f"unknown backend {backend!r}")
    finally:
        if os.environ.get("SHUZHI_BENCH_KEEP"):
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    print_table(results)
    for backend in {r.backend for r in results}:
        web = next(
            (r for r in results if r.backend == backend and r.path == "web form: submit"), None
        )
        ceil = ceiling_rates(results).get(backend)
        if web and ceil:
            share = web.rate / ceil
            verdict = "meets" if share >= 0.5 else "misses"
            print(f"{backend}: web submit is {share:.0%} of the ceiling ({verdict} the 50% aim)")
    latencies = [r.percentile(0.5) for r in results if r.latencies]
    if latencies:
        print(f"median of p50s: {statistics.median(latencies):.1f} ms")
    print(f"total time: {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
