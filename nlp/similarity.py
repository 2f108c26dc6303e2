""" "Is this the same problem?": rank open cases by text similarity, distance and recency."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

EARTH_RADIUS_M = 6_371_008.8
DISTANCE_SCALE_M = 300.0  # the distance weight halves its bonus every ~200 m
RECENCY_SCALE_DAYS = 30.0
UNKNOWN_DISTANCE_FACTOR = 0.8
UNKNOWN_RECENCY_FACTOR = 0.85


@dataclass(frozen=True, slots=True)
class SimilarCandidate:
    """An existing case to compare against."""

    id: Any
    text: str
    lat: float | None = None
    lon: float | None = None
    created_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class SimilarMatch:
    id: Any
    score: float
    text_similarity: float
    distance_m: float | None


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def distance_factor(distance_m: float | None) -> float:
    """1.0 on the spot, ~0.68 at 300 m, ~0.52 at 1 km, 0.5 far away; 0.8 when unknown."""
    if distance_m is None:
        return UNKNOWN_DISTANCE_FACTOR
    return 0.5 + 0.5 * math.exp(-distance_m / DISTANCE_SCALE_M)


def recency_factor(age_days: float | None) -> float:
    """1.0 today, ~0.81 after a month, 0.7 for old cases; 0.85 when unknown."""
    if age_days is None:
        return UNKNOWN_RECENCY_FACTOR
    return 0.7 + 0.3 * math.exp(-max(0.0, age_days) / RECENCY_SCALE_DAYS)


def _aware(dt: datetime) -> datetime:
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def text_similarities(text: str, others: Sequence[str]) -> list[float]:
    """Cosine similarity of character 2–3-gram TF-IDF vectors (IDF from ``others`` and
    ``text``), after normalisation and greeting removal."""
    if not others:
        return []
    from sklearn.feature_extraction.text import TfidfVectorizer

    from nlp.tokenizer import model_text

    docs = [model_text(text), *(model_text(o) if isinstance(o, str) else "" for o in others)]
    vec = TfidfVectorizer(analyzer="char", ngram_range=(2, 3), sublinear_tf=True, lowercase=False)
    try:
        m = vec.fit_transform(docs)
    except ValueError:  # empty vocabulary: nothing to compare
        return [0.0] * len(others)
    sims = (m[1:] @ m[0].T).toarray().ravel()
    return [float(min(1.0, max(0.0, s))) for s in sims]


def find_similar(
    text: str,
    candidates: Sequence[SimilarCandidate],
    *,
    lat: float | None = None,
    lon: float | None = None,
    now: datetime | None = None,
    limit: int = 5,
    min_score: float = 0.35,
) -> list[SimilarMatch]:
    """Candidates that probably describe the same problem, best first.

    ``score = text_similarity × distance_factor × recency_factor``: the text decides, a
    nearby and recent case is preferred over a distant or old one with the same words
    (an identical text far away and long ago still scores 0.35). Pure function.
    """
    if not candidates or limit <= 0 or not isinstance(text, str) or not text.strip():
        return []
    sims = text_similarities(text, [c.text for c in candidates])
    now = _aware(now or datetime.now(UTC))
    matches = []
    for c, sim in zip(candidates, sims, strict=True):
        if sim <= 0:
            continue
        dist = None
        if None not in (lat, lon, c.lat, c.lon):
            dist = haversine_m(lat, lon, c.lat, c.lon)  # type: ignore[arg-type]
        age = None
        if c.created_at is not None:
            age = (now - _aware(c.created_at)).total_seconds() / 86400
        score = sim * distance_factor(dist) * recency_factor(age)
        if score >= min_score:
            matches.append(
                SimilarMatch(
                    c.id, round(score, 4), round(sim, 4), None if dist is None else round(dist, 1)
                )
            )
    matches.sort(key=lambda m: (-m.score, -m.text_similarity))
    return matches[:limit]
