"""The pure detector (nlp.hotspots): planted surges and clusters, and a steady series."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from nlp.corpus import seed_examples
from nlp.hotspots import (
    Record,
    detect_surges,
    find_clusters,
    parse_time,
    weekday_exposure,
    weekday_factors,
)

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def _series(area: str, category: str, per_day: list[int], start_id: int = 0) -> list[Record]:
    """``per_day[k]`` messages on day k (the last entry is the day before NOW)."""
    out: list[Record] = []
    days = len(per_day)
    for k, count in enumerate(per_day):
        day_start = NOW - timedelta(days=days - k)
        for m in range(count):
            t = day_start + timedelta(hours=(m * 23) / max(count, 1))
            out.append(
                Record(id=start_id + len(out), text="x", time=t, area=area, category=category)
            )
    return out


def test_a_planted_surge_is_found_and_a_steady_series_is_not() -> None:
    steady = _series("east", "lights", [2] * 29)
    surging = _series("west", "roads", [2, 3, 1, 2] * 7 + [15], start_id=10_000)
    surges = detect_surges(steady + surging, now=NOW, recent_days=1, baseline_days=28)
    assert [(s.area, s.category) for s in surges] == [("west", "roads")]
    s = surges[0]
    assert s.count == 15 and 1.5 < s.expected < 2.5 and s.upper_bound < 15
    assert len(s.ids) == 15 and all(i >= 10_000 for i in s.ids)


def test_steady_and_small_counts_raise_nothing() -> None:
    steady = _series("east", "lights", [2] * 29) + _series("west", "roads", [5] * 29, 1000)
    assert detect_surges(steady, now=NOW) == []
    # A new category with 4 messages is below the minimum count, however low its baseline.
    assert detect_surges(_series("north", "noise", [0] * 28 + [4]), now=NOW) == []
    assert len(detect_surges(_series("north", "noise", [0] * 28 + [5]), now=NOW)) == 1


PLANTED = (
    "江滨街道滨江花园小区3栋楼下的下水道堵塞了，污水漫到人行道上，臭味很大，"
    "老人小孩出入都要绕路，希望有关部门尽快派人疏通处理。"
)


def _perturb(text: str, rng: random.Random) -> str:
    chars = list(text)
    for _ in range(3):
        k = rng.randrange(len(chars))
        chars[k] = rng.choice("的了是在有和请")
    prefix = rng.choice(["", "您好，", "反映一个问题：", "再次反映："])
    return prefix + "".join(chars)


def test_twenty_near_duplicates_among_500_varied_messages_form_one_cluster() -> None:
    rng = random.Random(7)
    varied = [e.text for e in seed_examples()]
    rng.shuffle(varied)
    records = [
        Record(id=f"v{k}", text=t, time=NOW - timedelta(hours=rng.uniform(0, 24 * 14)))
        for k, t in enumerate(varied[:500])
    ]
    records += [
        Record(
            id=f"p{k}",
            text=_perturb(PLANTED, rng),
            time=NOW - timedelta(hours=rng.uniform(0, 24 * 10)),
            lat=28.2221 + rng.uniform(-0.001, 0.001),
            lon=112.8581 + rng.uniform(-0.001, 0.001),
            weight=k % 3,
        )
        for k in range(20)
    ]
    clusters = find_clusters(records, window_days=14)
    planted = [c for c in clusters if sum(str(i).startswith("p") for i in c.ids) >= 2]
    assert len(planted) == 1
    cluster = planted[0]
    assert sum(str(i).startswith("p") for i in cluster.ids) >= 18
    assert sum(str(i).startswith("v") for i in cluster.ids) <= 2
    assert clusters[0] is cluster  # the largest
    assert all(c.size <= 25 for c in clusters)  # no giant junk cluster
    assert {"下水道", "堵塞"} & set(cluster.terms)
    assert len(cluster.representatives) == 3 and cluster.start <= cluster.end


def test_the_same_words_far_apart_are_two_places() -> None:
    rng = random.Random(3)
    records = []
    for k in range(12):
        far = k % 2 == 1
        records.append(
            Record(
                id=k,
                text=_perturb(PLANTED, rng),
                time=NOW - timedelta(hours=k),
                lat=28.30 if far else 28.20,
                lon=112.90,
            )
        )
    clusters = find_clusters(records, radius_m=1_000)
    assert sorted(sorted(c.ids) for c in clusters) == [[0, 2, 4, 6, 8, 10], [1, 3, 5, 7, 9, 11]]


def test_messages_far_apart_in_time_do_not_cluster() -> None:
    rng = random.Random(5)
    records = [
        Record(id=k, text=_perturb(PLANTED, rng), time=NOW - timedelta(days=100 * k))
        for k in range(5)
    ]
    assert find_clusters(records, window_days=30) == []
    assert find_clusters([], window_days=30) == []


def test_times_in_the_formats_of_message_exports() -> None:
    assert parse_time("2019/2/28 11:25:05") == datetime(2019, 2, 28, 11, 25, 5, tzinfo=UTC)
    assert parse_time("2017-06-08 17:31:20").year == 2017
    assert parse_time("2019-01-07T08:00:00+08:00").hour == 8


# --- the weekly profile ----------------------------------------------------------------------

SHANGHAI = ZoneInfo("Asia/Shanghai")


def test_weekday_exposure_counts_local_days() -> None:
    start = datetime(2026, 11, 2, 0, 0, tzinfo=SHANGHAI)  # a Monday
    assert weekday_exposure(start, start + timedelta(days=28), SHANGHAI) == [4.0] * 7
    half = weekday_exposure(
        start + timedelta(hours=12), start + timedelta(days=1, hours=6), SHANGHAI
    )
    assert half == [0.5, 0.25, 0, 0, 0, 0, 0]
    # the same instant is still Sunday in UTC: the zone decides the weekday
    assert weekday_exposure(start, start + timedelta(hours=1), UTC)[6] == 1 / 24


def test_weekday_factors_shrink_towards_flat() -> None:
    assert weekday_factors([0] * 7, [4.0] * 7) == [1.0] * 7
    assert weekday_factors([10, 1, 1, 1, 1, 1, 1], [1.0] * 7) == [1.0] * 7  # under two weeks
    big = weekday_factors([400, 100, 100, 100, 100, 100, 100], [4.0] * 7)
    small = weekday_factors([40, 10, 10, 10, 10, 10, 10], [4.0] * 7)
    assert big[0] > small[0] > 1.0 > small[1] > big[1]


def _weekly(cells: int, monday: int, other: int, weeks: int, end: datetime) -> list[Record]:
    """``cells`` areas with ``monday`` messages on each Monday and ``other`` on other days."""
    out: list[Record] = []
    for c in range(cells):
        for day in range(weeks * 7):
            start = end - timedelta(days=weeks * 7 - day)
            n = monday if start.weekday() == 0 else other
            for m in range(n):
                t = start + timedelta(hours=1 + m * 22 / n)
                out.append(Record(id=len(out) + c * 10_000, text="x", time=t, area=f"a{c}"))
    return out


def test_an_ordinary_monday_is_not_a_surge_but_a_busy_sunday_is() -> None:
    monday = datetime(2026, 11, 30, 0, 0, tzinfo=SHANGHAI)
    history = _weekly(20, monday=8, other=1, weeks=4, end=monday)
    now = monday + timedelta(days=1)
    ordinary = [Record(id=f"m{i}", text="x", time=monday + timedelta(hours=i + 1), area="a0")
                for i in range(9)]  # fmt: skip
    assert detect_surges(history + ordinary, now=now, weekly=False, tz=SHANGHAI)  # flat: alarm
    assert detect_surges(history + ordinary, now=now, tz=SHANGHAI) == []
    busy = [Record(id=f"b{i}", text="x", time=monday + timedelta(hours=i / 2), area="a1")
            for i in range(25)]  # fmt: skip
    assert [s.area for s in detect_surges(history + ordinary + busy, now=now, tz=SHANGHAI)] == [
        "a1"
    ]
    sunday = monday - timedelta(days=1)
    history = _weekly(20, monday=8, other=1, weeks=4, end=sunday)
    quiet_day_burst = [
        Record(id=f"s{i}", text="x", time=sunday + timedelta(hours=i + 1), area="a2")
        for i in range(7)
    ]
    events = history + quiet_day_burst
    assert detect_surges(events, now=monday, weekly=False, tz=SHANGHAI) == []
    assert [s.area for s in detect_surges(events, now=monday, tz=SHANGHAI)] == ["a2"]
