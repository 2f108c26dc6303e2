"""A retry storm: 50 concurrent submissions with one Idempotency-Key over real HTTP → one case."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from sqlalchemy import func, select
from werkzeug.serving import make_server

from portal.accounts.models import ChannelIdentity
from portal.api.models import IdempotencyRecord
from portal.cases.models import Case

CONCURRENCY = 50
TEXT = "楼道里的声控灯全坏了，晚上上下楼很危险，已经反映过一次，请物业尽快处理。"


@contextmanager
def serve(app: Any) -> Iterator[str]:
    """The app on a loopback port (threaded, like several workers on one database)."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


def test_fifty_concurrent_retries_create_one_case(app, session, jurisdiction, make_api_key) -> None:  # type: ignore[no-untyped-def]
    secret = make_api_key("channel:telegram")
    headers = {
        "Authorization": f"Bearer {secret}",
        "Idempotency-Key": "storm-7f3a",
        "X-Shuzhi-Resident": "telegram:31337",
    }
    body = {"text": TEXT, "lat": 28.222, "lon": 112.86}
    barrier = threading.Barrier(CONCURRENCY)
    results: list[tuple[int, bool, dict[str, Any]]] = []
    lock = threading.Lock()

    def submit(base: str) -> None:
        with httpx.Client(base_url=base, timeout=60) as http:
            barrier.wait()
            response = http.post("/api/v1/cases", json=body, headers=headers)
        with lock:
            results.append(
                (
                    response.status_code,
                    response.headers.get("Idempotent-Replayed") == "true",
                    response.json(),
                )
            )

    with serve(app) as base:
        threads = [threading.Thread(target=submit, args=(base,)) for _ in range(CONCURRENCY)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        # once the storm is over, a late retry replays the one answer
        with httpx.Client(base_url=base, timeout=60) as http:
            late = http.post("/api/v1/cases", json=body, headers=headers)

    statuses = Counter((status, replayed) for status, replayed, _ in results)
    assert len(results) == CONCURRENCY
    assert statuses[(201, False)] == 1, statuses
    assert set(statuses) <= {(201, False), (201, True), (409, False)}, statuses
    created = next(body for status, replayed, body in results if status == 201 and not replayed)
    assert all(b == created for s, _, b in results if s == 201)
    assert all(b["code"] == "idempotency_in_progress" for s, _, b in results if s == 409)
    assert late.status_code == 201 and late.headers["Idempotent-Replayed"] == "true"
    assert late.json() == created

    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Case)) == 1
    assert session.scalar(select(func.count()).select_from(IdempotencyRecord)) == 1
    assert session.scalar(select(func.count()).select_from(ChannelIdentity)) == 1
