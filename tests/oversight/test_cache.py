"""The figures cache: TTL with an injected clock, size bound, one computation per key under a
burst, the data watermark, and the pages served from it in both languages."""

from __future__ import annotations

import csv
import io
import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import update

from portal.cases.models import Case
from portal.config import load_settings
from portal.db import utcnow
from portal.oversight import dp
from portal.oversight.cache import EXTENSION, StatsCache, data_watermark

# --- the cache on its own --------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Counter:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> int:
        self.calls += 1
        return self.calls


def test_value_is_reused_within_the_ttl_and_recomputed_after() -> None:
    clock, compute = FakeClock(), Counter()
    cache = StatsCache(60, clock=clock)
    assert cache.get_or_compute("k", compute) == 1
    clock.advance(59.9)
    assert cache.get_or_compute("k", compute) == 1
    assert (cache.hits, cache.misses) == (1, 1)
    clock.advance(0.1)
    assert cache.get_or_compute("k", compute) == 2
    assert cache.get_or_compute("other", compute) == 3
    assert compute.calls == 3


def test_zero_ttl_turns_the_cache_off() -> None:
    compute = Counter()
    cache = StatsCache(0, clock=FakeClock())
    assert [cache.get_or_compute("k", compute) for _ in range(3)] == [1, 2, 3]
    assert len(cache) == 0 and not cache.enabled


def test_size_is_bounded_least_recently_used_first_out() -> None:
    clock = FakeClock()
    cache = StatsCache(60, max_entries=3, clock=clock)
    for key in "abc":
        cache.get_or_compute(key, lambda k=key: k.upper())
    cache.get_or_compute("a", lambda: "recomputed")  # a is now the most recently used
    cache.get_or_compute("d", lambda: "D")
    assert len(cache) == 3
    assert cache.get_or_compute("a", lambda: "recomputed") == "A"
    assert cache.get_or_compute("b", lambda: "recomputed") == "recomputed"  # b was evicted


def test_expired_entries_go_first_when_full() -> None:
    clock = FakeClock()
    cache = StatsCache(60, max_entries=2, clock=clock)
    cache.get_or_compute("old", lambda: 1)
    clock.advance(30)
    cache.get_or_compute("young", lambda: 2)
    clock.advance(31)  # "old" has expired, "young" has not
    cache.get_or_compute("new", lambda: 3)
    assert cache.get_or_compute("young", lambda: -1) == 2


def test_an_error_is_passed_on_and_not_cached() -> None:
    cache = StatsCache(60, clock=FakeClock())

    def fail() -> int:
        raise RuntimeError("database went away")

    with pytest.raises(RuntimeError):
        cache.get_or_compute("k", fail)
    assert cache.get_or_compute("k", lambda: 7) == 7


def test_a_burst_on_a_cold_key_computes_once() -> None:
    cache = StatsCache(60)
    entered, release = threading.Event(), threading.Event()
    calls = []

    def slow() -> object:
        calls.append(1)
        entered.set()
        assert release.wait(10)
        return object()

    results: list[object] = []
    leader = threading.Thread(target=lambda: results.append(cache.get_or_compute("k", slow)))
    leader.start()
    assert entered.wait(10)
    others = [
        threading.Thread(target=lambda: results.append(cache.get_or_compute("k", slow)))
        for _ in range(7)
    ]
    for t in others:
        t.start()
    deadline = time.monotonic() + 10
    while cache.waits < 7:  # all seven are waiting for the leader's computation
        assert time.monotonic() < deadline, "the other readers did not wait"
        time.sleep(0.005)
    release.set()
    for t in (leader, *others):
        t.join(10)
    assert len(calls) == 1
    assert len(results) == 8 and all(r is results[0] for r in results)


def test_setting_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings()["STATS_CACHE_SECONDS"] == 60
    monkeypatch.setenv("SHUZHI_STATS_CACHE_SECONDS", "0")
    assert load_settings()["STATS_CACHE_SECONDS"] == 0


# --- the pages -------------------------------------------------------------------------------


@pytest.fixture
def recent(session, world, add_case):  # type: ignore[no-untyped-def]
    """Three cases from three days ago: two in the east street, one waiting in triage."""
    start = utcnow() - timedelta(days=3)
    for _ in range(2):
        add_case(
            area=world.east,
            category=world.roads,
            department=world.roads_dept,
            created=start,
            respond_due=24,
            due=120,
            status="accepted",
            events=[("submit", 0, "assigned"), ("accept", 2, "accepted")],
        )
    add_case(
        area=None,
        category=None,
        status="triage",
        predicted=False,
        created=start,
        events=[("submit", 0, "triage")],
    )
    return world


@pytest.fixture
def clock(app) -> FakeClock:  # type: ignore[no-untyped-def]
    fake = FakeClock()
    app.extensions[EXTENSION].clock = fake
    return fake


def status_counts(client, query: str = "days=7") -> dict[str, int]:  # type: ignore[no-untyped-def]
    response = client.get(f"/dashboard/data/status.csv?{query}&lang=en")
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    return {label: int(n) for label, n in rows[1:]}


def close_triage_case_unseen(session) -> None:  # type: ignore[no-untyped-def]
    """Change a figure without moving the watermark (``updated_at`` kept as it was)."""
    table = Case.__table__
    session.execute(
        update(table)
        .where(table.c.status == "triage")
        .values(status="closed", updated_at=table.c.updated_at)
    )
    session.commit()


def test_pages_reuse_figures_within_the_ttl(app, client, session, recent, clock) -> None:  # type: ignore[no-untyped-def]
    cache = app.extensions[EXTENSION]
    before = data_watermark(session)
    assert status_counts(client) == {
        "Waiting for dispatch": 1,
        "Sent to the department": 0,
        "Being handled": 2,
        "Resolved, waiting for the resident's rating": 0,
        "Closed": 0,
    }
    close_triage_case_unseen(session)
    assert data_watermark(session) == before
    clock.advance(59)
    assert status_counts(client)["Waiting for dispatch"] == 1  # the cached figure
    assert cache.hits == 1
    for url in ("/dashboard/data/status.csv", "/dashboard/chart/status.json", "/dashboard/map.svg"):
        # browsers and proxies keep a figure no longer than the server does
        assert client.get(url).headers["Cache-Control"] == "public, max-age=60", url
    clock.advance(1)
    counts = status_counts(client)  # the time limit has passed: computed again
    assert counts["Waiting for dispatch"] == 0 and counts["Closed"] == 1


def test_a_new_case_shows_at_once(app, client, session, recent, add_case, clock) -> None:  # type: ignore[no-untyped-def]
    month = (utcnow() - timedelta(days=3)).astimezone(dp.LOCAL_TZ).strftime("%Y-%m")
    html = client.get("/dashboard?days=7").get_data(as_text=True)
    assert "3 cases submitted in this period." in html
    league = client.get(f"/dashboard/departments?month={month}&format=csv")
    assert "道路管理所,2," in league.get_data(as_text=True)
    before = data_watermark(session)
    add_case(
        area=recent.west,
        category=recent.lights,
        department=recent.roads_dept,
        created=utcnow() - timedelta(days=3),
        events=[("submit", 0, "assigned")],
    )
    assert data_watermark(session) != before
    html = client.get("/dashboard?days=7").get_data(as_text=True)
    assert "4 cases submitted in this period." in html
    league = client.get(f"/dashboard/departments?month={month}&format=csv")
    assert "道路管理所,3," in league.get_data(as_text=True)
    # Any update of a case moves the watermark (its ``updated_at``), events or not.
    session.execute(update(Case).where(Case.status == "triage").values(status="closed"))
    session.commit()
    assert status_counts(client)["Closed"] == 1


def test_periods_and_filters_are_cached_apart(app, client, recent, clock) -> None:  # type: ignore[no-untyped-def]
    cache = app.extensions[EXTENSION]
    assert sum(status_counts(client, "days=7").values()) == 3
    assert sum(status_counts(client, "days=1").values()) == 0
    assert sum(status_counts(client, "days=7&street=D-E").values()) == 2
    assert sum(status_counts(client, "days=7&street=D-W").values()) == 0
    assert sum(status_counts(client, "days=7&group=CITY").values()) == 2
    assert cache.hits == 0 and len(cache) == 5
    series = client.get("/dashboard/data/cases_by_street.csv?days=7&bucket=week&lang=en")
    daily = client.get("/dashboard/data/cases_by_street.csv?days=7&bucket=day&lang=en")
    assert series.get_data(as_text=True).count("\n") < daily.get_data(as_text=True).count("\n")
    # Both "over time" charts come from one reading of the cases.
    client.get("/dashboard/data/cases_by_group.csv?days=7&bucket=day&lang=en")
    assert cache.hits == 1
    # Ranking by another key reuses the month's league figures.
    month = (utcnow() - timedelta(days=3)).astimezone(dp.LOCAL_TZ).strftime("%Y-%m")
    for sort in ("response", "reopen", "overdue"):
        assert client.get(f"/dashboard/streets?month={month}&sort={sort}").status_code == 200
    assert cache.hits == 3
    assert client.get(f"/dashboard/streets?month={month}&sort=nope").status_code == 422


def test_pages_render_in_both_languages_from_one_computation(app, client, recent, clock) -> None:  # type: ignore[no-untyped-def]
    cache = app.extensions[EXTENSION]
    en = client.get("/dashboard?days=7&lang=en").get_data(as_text=True)
    zh = client.get("/dashboard?days=7&lang=zh_Hans_CN").get_data(as_text=True)
    assert "Public dashboard" in en and "Waiting for dispatch" in en
    assert "公开数据看板" in zh and "Public dashboard" not in zh
    assert cache.hits == 1
    for lang in ("en", "zh_Hans_CN"):
        figure = client.get(f"/dashboard/chart/status.json?days=7&lang={lang}").get_json()
        labels = figure["data"][0]["labels"]
        assert ("Closed" in labels) == (lang == "en") and ("已关闭" in labels) == (lang != "en")
        svg = client.get(f"/dashboard/map.svg?days=7&lang={lang}").get_data(as_text=True)
        assert ("Cases by street" in svg) == (lang == "en")
        assert ("各街道诉求量" in svg) == (lang != "en")
        page = client.get(f"/transparency?days=90&lang={lang}")
        assert page.status_code == 200 and "东湖街道" in page.get_data(as_text=True)
    assert cache.hits == 1 + 4 + 1  # two charts and the map per language, the second transparency


def test_zero_seconds_serves_fresh_figures(session, db_url, make_app, recent) -> None:  # type: ignore[no-untyped-def]
    fresh = make_app(DATABASE_URL=db_url, STATS_CACHE_SECONDS=0, thread_client=True)
    client = fresh.test_client()
    assert not fresh.extensions[EXTENSION].enabled
    assert status_counts(client)["Waiting for dispatch"] == 1
    close_triage_case_unseen(session)
    assert status_counts(client)["Waiting for dispatch"] == 0
    # browsers must not keep what the server does not
    assert client.get("/dashboard/data/status.csv").headers["Cache-Control"] == "no-cache"
