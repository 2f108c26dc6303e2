"""Response times of the public oversight pages over a year of synthetic cases (SQLite).

Builds ``--cases`` hand-made cases (no NLP: rows and two events each) spread over 360 days in the
demo jurisdiction, then times each page and download through the Flask test client: the first
request (figures cache emptied before it) and the cached request right after it. Then one dashboard
visit as a browser makes it (the page, its four chart figures and the map) cold and warm, the
same visit after one new case (the data watermark moves), a burst of ``--burst`` concurrent
readers on a cold dashboard, and the cost of the watermark query itself.

    PYTHONPATH=. .venv/bin/python bench/oversight.py --cases 20000
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import insert, select

from portal import create_app, get_session
from portal.cases.models import Case, CaseEvent
from portal.db import Base, utcnow
from portal.jurisdiction.models import Area, Category, Department
from portal.oversight.cache import EXTENSION, data_watermark
from tests.factories import load_demo_jurisdiction

PAGES = (
    "/dashboard?days=365",
    "/dashboard/chart/cases_by_group.json?days=365",
    "/dashboard/data/rates.csv?days=365",
    "/dashboard/map.svg?days=365",
    "/dashboard/departments",
    "/dashboard/streets",
    "/open-data/cases.json?per_page=1000&page=5",
    "/transparency?days=365",
)
#: What a browser fetches for one dashboard visit (the page, then its charts and map).
VISIT = (
    "/dashboard?days=365",
    "/dashboard/chart/cases_by_group.json?days=365",
    "/dashboard/chart/cases_by_street.json?days=365",
    "/dashboard/chart/status.json?days=365",
    "/dashboard/chart/rates.json?days=365",
    "/dashboard/map.svg?days=365",
)
BENCH_KEYS = {
    "DATA_KEYS": '{"b1": "YmVuY2gtZGF0YS1rZXktMzItYnl0ZXMtbG9uZyEhISE="}',
    "DATA_KEY_ACTIVE": "b1",
    "DATA_HASH_KEY": "YmVuY2gtbG9va3VwLWhhc2gta2V5LTMyLWJ5dGVzISE=",
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", type=int, default=20000)
    parser.add_argument("--model-dir", default=None, help="NLP_MODEL_DIR (only read for metadata)")
    parser.add_argument("--burst", type=int, default=8, help="concurrent readers of a cold page")
    args = parser.parse_args()
    folder = tempfile.mkdtemp(prefix="shuzhi-bench-oversight-")
    app = create_app(
        {
            "ENV": "testing",
            "TESTING": True,
            "SECRET_KEY": "bench",
            "DATABASE_URL": f"sqlite:///{folder}/bench.db",
            "INSTANCE_PATH": f"{folder}/instance",
            "NLP_MODEL_DIR": args.model_dir or f"{folder}/model",
            "RATELIMIT_ENABLED": False,
            "RATELIMIT_STORAGE_URI": "memory://",
            **BENCH_KEYS,
        }
    )
    rng = random.Random(1)
    with app.app_context():
        db = get_session()
        Base.metadata.create_all(db.get_bind())
        load_demo_jurisdiction(db)
        areas = list(db.scalars(select(Area.id)))
        categories = list(db.scalars(select(Category.id).where(Category.parent_id.is_not(None))))
        department = db.scalars(select(Department.id)).first()
        now = utcnow()
        started = time.perf_counter()
        for i in range(args.cases):
            created = now - timedelta(days=rng.randint(0, 359), hours=rng.randint(0, 23))
            db.add(
                Case(
                    tracking_number=f"B{i}",
                    status="accepted",
                    text_raw="路灯坏了",
                    text_masked="路灯坏了",
                    title="路灯坏了",
                    category_id=rng.choice(categories),
                    area_id=rng.choice(areas),
                    lead_department_id=department,
                    created_at=created,
                    respond_due_at=created + timedelta(hours=24),
                    due_at=created + timedelta(days=5),
                )
            )
            if i % 2000 == 1999:
                db.flush()
        db.flush()
        rows = db.execute(select(Case.id, Case.created_at)).all()
        for type_, status, hours in (("submit", "assigned", 0), ("accept", "accepted", 5)):
            db.execute(
                insert(CaseEvent),
                [
                    {
                        "case_id": cid,
                        "type": type_,
                        "to_status": status,
                        "created_at": at + timedelta(hours=hours),
                        "public": True,
                        "actor_role": "system",
                        "data": {},
                    }
                    for cid, at in rows
                ],
            )
        db.commit()
        print(f"seeded {args.cases} cases in {time.perf_counter() - started:.1f} s")
    cache = app.extensions[EXTENSION]
    client = app.test_client()

    def timed(url: str) -> float:
        started = time.perf_counter()
        response = client.get(url)
        elapsed = time.perf_counter() - started
        if response.status_code != 200:
            raise SystemExit(f"{url}: HTTP {response.status_code}")
        return elapsed

    print(f"figures cache: {cache.ttl:.0f} s, at most {cache.max_entries} entries per process")
    print(f"{'first':>8} {'cached':>8} {'ratio':>7}  page")
    for url in PAGES:
        cache.clear()
        first = timed(url)
        cached = timed(url)
        note = "  (not cached: a page of rows)" if url.startswith("/open-data") else ""
        print(f"{first:7.3f}s {cached:7.3f}s {first / cached:6.0f}x  {url}{note}")

    def visit() -> float:
        return sum(timed(url) for url in VISIT)

    cache.clear()
    cold, warm = visit(), visit()
    print(f"dashboard visit ({len(VISIT)} requests): cold {cold:.2f} s, cached {warm:.3f} s")
    with app.app_context():
        db = get_session()
        db.add(
            Case(
                tracking_number="B-new",
                status="triage",
                text_raw="井盖丢了",
                text_masked="井盖丢了",
                title="井盖丢了",
                created_at=utcnow(),
            )
        )
        db.commit()
    print(f"same visit after one new case (watermark moved): {visit():.2f} s, then {visit():.3f} s")

    cache.clear()
    misses, waits = cache.misses, cache.waits
    barrier = threading.Barrier(args.burst)
    times: list[float] = []

    def reader() -> None:
        own = app.test_client()
        barrier.wait()
        started = time.perf_counter()
        assert own.get("/dashboard?days=365").status_code == 200
        times.append(time.perf_counter() - started)

    started = time.perf_counter()
    threads = [threading.Thread(target=reader) for _ in range(args.burst)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(
        f"burst of {args.burst} readers on a cold dashboard: all served in "
        f"{time.perf_counter() - started:.2f} s, {cache.misses - misses} computation(s), "
        f"{cache.waits - waits} reader(s) waited for it"
    )
    with app.app_context():
        db = get_session()
        runs = []
        for _ in range(50):
            started = time.perf_counter()
            data_watermark(db)
            runs.append(time.perf_counter() - started)
            db.rollback()
        print(f"watermark query: median {1000 * statistics.median(runs):.2f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
