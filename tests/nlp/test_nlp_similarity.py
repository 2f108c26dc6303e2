from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import nlp
from nlp.similarity import distance_factor, haversine_m, recency_factor

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
HERE = (30.2741, 120.1551)


def cand(id, text, d_lat=0.0, days=0.0):
    return nlp.SimilarCandidate(
        id, text, lat=HERE[0] + d_lat, lon=HERE[1], created_at=NOW - timedelta(days=days)
    )


def test_haversine():
    assert haversine_m(*HERE, *HERE) == 0
    # one degree of latitude is about 111 km
    assert 110_000 < haversine_m(0, 0, 1, 0) < 112_000


def test_same_problem_ranks_first_and_unrelated_is_dropped():
    new = "幸福路12号门口的井盖丢了，晚上很危险"
    cands = [
        cand(1, "幸福路12号门口井盖丢失，晚上有危险，请尽快处理"),
        cand(2, "学校门口早上堵车严重，建议增加交警"),
        cand(3, "小区广场舞噪音太大"),
    ]
    out = nlp.find_similar(new, cands, lat=HERE[0], lon=HERE[1], now=NOW)
    assert [m.id for m in out] == [1]
    assert out[0].distance_m == 0 and 0 < out[0].text_similarity <= 1 and out[0].score >= 0.35


def test_distance_and_recency_break_ties_between_identical_texts():
    text = "路口红绿灯坏了，车辆乱成一团"
    cands = [
        cand("far", text, d_lat=0.05),  # ~5.5 km away
        cand("old", text, days=120),
        cand("near", text, d_lat=0.001),  # ~110 m
        cand("here", text),
    ]
    out = nlp.find_similar(text, cands, lat=HERE[0], lon=HERE[1], now=NOW, limit=10)
    assert [m.id for m in out] == ["here", "near", "old", "far"]
    assert all(abs(m.text_similarity - 1) < 1e-6 for m in out)
    assert out[-1].distance_m > 5000


def test_without_location_or_time_text_decides():
    cands = [
        nlp.SimilarCandidate("a", "小区门口垃圾堆积没人清运，臭气熏天"),
        nlp.SimilarCandidate("b", "小区门口垃圾没人清运"),
        nlp.SimilarCandidate("c", "公交车司机态度差"),
    ]
    out = nlp.find_similar("小区门口垃圾堆积很久没人清运", cands, min_score=0.1)
    assert [m.id for m in out][:2] in (["a", "b"], ["b", "a"])
    assert all(m.distance_m is None for m in out)
    assert nlp.find_similar("任何", []) == []
    assert nlp.find_similar("   ", cands) == []


def test_limit_and_min_score():
    text = "电动车在楼道飞线充电"
    cands = [cand(i, text + "!" * i) for i in range(10)]
    assert len(nlp.find_similar(text, cands, now=NOW, limit=3)) == 3
    assert nlp.find_similar(text, cands, now=NOW, min_score=1.01) == []


def test_factors():
    assert distance_factor(0) == 1.0 and distance_factor(10_000) < 0.51
    assert recency_factor(0) == 1.0 and recency_factor(365) < 0.71
    assert recency_factor(-3) == 1.0  # clock skew: a case from the future counts as new


def test_naive_datetimes_are_utc():
    c = nlp.SimilarCandidate(1, "井盖丢了", created_at=datetime(2026, 6, 1, 11, 0))
    assert nlp.find_similar("井盖丢了", [c], now=NOW)[0].id == 1


def test_fast_for_a_few_thousand_candidates():
    base = ["小区路灯坏了", "楼下烧烤油烟扰民", "公司拖欠工资", "学校乱收费", "公交车太挤"]
    cands = [
        cand(i, f"{base[i % 5]}，第{i}号楼的情况", d_lat=(i % 50) * 1e-4, days=i % 90)
        for i in range(3000)
    ]
    started = time.perf_counter()
    out = nlp.find_similar("第7号楼楼下烧烤油烟扰民", cands, lat=HERE[0], lon=HERE[1], now=NOW)
    assert time.perf_counter() - started < 3.0  # well under a second on an idle core
    assert out and all("烧烤" in cands[m.id].text for m in out)
