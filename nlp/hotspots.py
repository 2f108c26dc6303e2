"""Hotspots over residents' messages: surges of a category in an area, and clusters of
similar messages about one place or one problem.

A pure library over plain :class:`Record` values (no web framework, no database).

* :func:`detect_surges` compares each (area, category)'s count in a recent window with its own
  trailing baseline: the count must reach ``min_count`` and exceed the Poisson upper bound of
  the baseline rate (``1 - alpha`` quantile; the baseline gets half a message of prior so a
  cell that was silent still has a finite, small rate). The baseline is adjusted for the day of
  the week (hotlines hear more on Mondays than on Sundays): the weekly profile is estimated from
  all messages of the baseline pooled, shrunk towards flat, so an ordinary Monday is not a
  surge and a real one on a Sunday is not missed.
* :func:`find_clusters` links messages whose character 2–3-gram TF-IDF vectors have cosine
  similarity ``>= threshold``, that lie within ``window_days`` of each other and (when both
  have coordinates) within ``radius_m``. Only messages within the time window are compared
  (the rows are sorted by time and compared chunk by chunk with their recent past), so the
  cost grows with ``n × messages per window`` rather than ``n²``. Clusters are DBSCAN-style
  groups on that sparse graph: messages with at least ``min_neighbors`` neighbours are cores,
  cores linked to cores form a cluster, and other messages join their most similar core's
  cluster — a single loose link does not chain two topics into one giant cluster.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

DAY_SECONDS = 86_400.0


@dataclass(frozen=True, slots=True)
class Record:
    """One message: ``time`` is required; ``weight`` is its public support (likes, "me too")."""

    id: Any
    text: str
    time: datetime
    area: str | None = None
    category: str | None = None
    lat: float | None = None
    lon: float | None = None
    weight: float = 0.0


@dataclass(frozen=True, slots=True)
class Surge:
    area: str | None
    category: str | None
    count: int
    expected: float
    upper_bound: int
    score: float  # count / expected
    window_start: datetime
    window_end: datetime
    ids: tuple[Any, ...]


@dataclass(slots=True)
class Cluster:
    ids: list[Any]
    start: datetime
    end: datetime
    weight: float
    area: str | None
    category: str | None
    representatives: list[Any] = field(default_factory=list)
    terms: list[str] = field(default_factory=list)

    @property
    def size(self) -> int:
        return len(self.ids)

    @property
    def score(self) -> float:
        """Size, plus support on a log scale (for ranking)."""
        return self.size + math.log1p(max(0.0, self.weight))


def _aware(dt: datetime) -> datetime:
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


# --- surges ---------------------------------------------------------------------------------


def poisson_upper_bound(rate: float, alpha: float) -> int:
    """The smallest k with P(X > k) <= alpha for X ~ Poisson(rate)."""
    from scipy.stats import poisson

    return int(poisson.ppf(1.0 - alpha, max(rate, 1e-9)))


WEEKLY_PSEUDO_COUNT = 20.0
"""Shrinks the day-of-week factors towards 1: a weekday's own level counts only once it has
well over this many messages (all areas and categories together) in the baseline."""
WEEKLY_MIN_DAYS = 14.0
"""A weekly profile needs at least two weeks of baseline; shorter baselines stay flat."""


def weekday_exposure(start: datetime, end: datetime, tz: tzinfo = UTC) -> list[float]:
    """How many days of ``[start, end)`` fall on each weekday (Monday first) in ``tz``
    (wall-clock days: exact for zones without daylight saving, such as China's)."""
    out = [0.0] * 7
    t, end = _aware(start).astimezone(tz), _aware(end).astimezone(tz)
    while t < end:
        midnight = (t + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
        stop = min(midnight, end)
        out[t.weekday()] += (stop - t).total_seconds() / DAY_SECONDS
        t = stop
    return out


def weekday_factors(
    counts: Sequence[float], exposure: Sequence[float], pseudo: float = WEEKLY_PSEUDO_COUNT
) -> list[float]:
    """Each weekday's message rate relative to the average day: ``(n_d + m) / (E_d + m)``,
    where ``E_d`` is what a flat week would give that weekday and ``m`` the pseudo-count.
    All 1 when the baseline is shorter than :data:`WEEKLY_MIN_DAYS` or empty."""
    days, total = sum(exposure), sum(counts)
    if days < WEEKLY_MIN_DAYS or total <= 0:
        return [1.0] * 7
    mean = total / days
    return [
        (counts[d] + pseudo) / (mean * exposure[d] + pseudo) if exposure[d] > 0 else 1.0
        for d in range(7)
    ]


def detect_surges(
    records: Iterable[Record],
    *,
    now: datetime,
    recent_days: float = 1.0,
    baseline_days: float = 28.0,
    min_count: int = 5,
    alpha: float = 0.001,
    prior: float = 0.5,
    weekly: bool = True,
    tz: tzinfo = UTC,
) -> list[Surge]:
    """(area, category) cells whose count in ``[now - recent_days, now)`` is at least
    ``min_count`` and above the Poisson ``1 - alpha`` bound of their trailing baseline
    ``[now - recent_days - baseline_days, now - recent_days)``. Strongest first.

    With ``weekly`` the expected count is the cell's baseline rate per *weighted* day times
    the weighted length of the recent window, each day weighted by its weekday's factor
    (:func:`weekday_factors`, weekdays in ``tz``, the jurisdiction's time zone)."""
    if recent_days <= 0 or baseline_days <= 0:
        raise ValueError("recent_days and baseline_days must be positive")
    now = _aware(now)
    recent_start = now - timedelta(days=recent_days)
    baseline_start = recent_start - timedelta(days=baseline_days)
    recent: dict[tuple[str | None, str | None], list[Any]] = {}
    baseline: Counter[tuple[str | None, str | None]] = Counter()
    by_weekday = [0.0] * 7
    for r in records:
        t = _aware(r.time)
        key = (r.area, r.category)
        if recent_start <= t < now:
            recent.setdefault(key, []).append(r.id)
        elif baseline_start <= t < recent_start:
            baseline[key] += 1
            by_weekday[t.astimezone(tz).weekday()] += 1
    factors = [1.0] * 7
    if weekly:
        base = weekday_exposure(baseline_start, recent_start, tz)
        factors = weekday_factors(by_weekday, base)
    if factors == [1.0] * 7:
        scale = recent_days / baseline_days
    else:
        window = weekday_exposure(recent_start, now, tz)
        scale = sum(w * f for w, f in zip(window, factors, strict=True)) / sum(
            b * f for b, f in zip(base, factors, strict=True)
        )
    surges: list[Surge] = []
    for key, ids in recent.items():
        count = len(ids)
        if count < min_count:
            continue
        expected = (baseline[key] + prior) * scale
        bound = poisson_upper_bound(expected, alpha)
        if count > bound:
            surges.append(
                Surge(
                    area=key[0],
                    category=key[1],
                    count=count,
                    expected=round(expected, 3),
                    upper_bound=bound,
                    score=round(count / expected, 2),
                    window_start=recent_start,
                    window_end=now,
                    ids=tuple(ids),
                )
            )
    surges.sort(key=lambda s: (-s.score, -s.count))
    return surges


# --- clusters -------------------------------------------------------------------------------

CHUNK_ROWS = 2048


N_FEATURES = 1 << 21
KEEP_FEATURES = 64
MAX_DF = 0.1  # n-grams in 10%+ of messages ("问题", "小区") say nothing about the topic
MIN_MAX_DF = 50  # ...but never drop an n-gram shared by fewer messages than this


def _vectorize(texts: Sequence[str]) -> Any:
    """Row-normalised TF-IDF of hashed character 2- and 3-grams (sublinear TF, smoothed IDF,
    n-grams in fewer than 2 or more than ``MAX_DF`` of the texts dropped).

    Vectorised in numpy over the code points of all texts at once: scikit-learn's
    ``TfidfVectorizer(analyzer="char")`` builds n-grams in Python and is ~20x slower."""
    import numpy as np
    from scipy.sparse import csr_matrix

    n = len(texts)
    lengths = np.fromiter((len(t) for t in texts), dtype=np.int64, count=n)
    codes = np.frombuffer("".join(texts).encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    doc = np.repeat(np.arange(n, dtype=np.int64), lengths)
    rows: list[Any] = []
    feats: list[Any] = []
    for k in (2, 3):
        if codes.size < k:
            continue
        m = codes.size - k + 1
        same = doc[:m] == doc[k - 1 : k - 1 + m]
        h = np.zeros(m, dtype=np.uint64)
        for offset in range(k):
            h = h * np.uint64(1_000_003) + codes[offset : offset + m]
        h ^= np.uint64(k) << np.uint64(40)
        h = (h * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(43)  # top 21 bits
        rows.append(doc[:m][same])
        feats.append(h[same].astype(np.int64))
    if not rows or sum(r.size for r in rows) == 0:
        return None
    r = np.concatenate(rows)
    f = np.concatenate(feats)
    tf = csr_matrix((np.ones(r.size, dtype=np.float32), (r, f)), shape=(n, N_FEATURES))
    tf.sum_duplicates()
    df = np.bincount(tf.indices, minlength=N_FEATURES)
    useful = (df >= 2) & (df <= max(MIN_MAX_DF, MAX_DF * n))
    if not useful.any():
        return None
    idf = (np.log((1.0 + n) / (1.0 + df)) + 1.0).astype(np.float32) * useful
    tf.data = (1.0 + np.log(tf.data)) * idf[tf.indices]
    tf.eliminate_zeros()
    _keep_top_features(tf, KEEP_FEATURES)
    norms = np.sqrt(np.asarray(tf.multiply(tf).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    tf.data /= np.repeat(norms, np.diff(tf.indptr)).astype(np.float32)
    return tf


def _keep_top_features(m: Any, k: int) -> None:
    """Keep each row's ``k`` heaviest entries (in place): the rarest n-grams of a message say
    what it is about, and products of short rows are cheap."""
    import numpy as np

    counts = np.diff(m.indptr)
    if counts.size == 0 or counts.max() <= k:
        return
    rows = np.repeat(np.arange(counts.size, dtype=np.float64), counts)
    peak = np.maximum.reduceat(m.data, m.indptr[:-1][counts > 0])
    full_peak = np.zeros(counts.size, dtype=np.float64)
    full_peak[counts > 0] = peak
    share = m.data / np.repeat(full_peak, counts)  # in (0, 1]
    order = np.argsort(rows - 0.5 * share, kind="quicksort")  # by row, heaviest first
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size) - np.repeat(m.indptr[:-1], counts)
    m.data[rank >= k] = 0.0
    m.eliminate_zeros()


def _edges(
    x: Any,
    days: Any,
    lat: Any,
    lon: Any,
    *,
    threshold: float,
    window_days: float,
    radius_m: float,
) -> tuple[Any, Any, Any]:
    """Pairs (i > j) within the time window with similarity >= threshold, and near enough."""
    import numpy as np

    n = x.shape[0]
    rows: list[Any] = []
    cols: list[Any] = []
    sims: list[Any] = []
    for a in range(0, n, CHUNK_ROWS):
        b = min(n, a + CHUNK_ROWS)
        lo = int(np.searchsorted(days, days[a] - window_days, side="left"))
        s = (x[a:b] @ x[lo:b].T).tocoo()
        i = s.row.astype(np.int64) + a
        j = s.col.astype(np.int64) + lo
        keep = (s.data >= threshold) & (j < i)
        i, j, v = i[keep], j[keep], s.data[keep]
        keep = (days[i] - days[j]) <= window_days
        i, j, v = i[keep], j[keep], v[keep]
        both = ~(np.isnan(lat[i]) | np.isnan(lat[j]))
        if both.any():
            p1, p2 = np.radians(lat[i]), np.radians(lat[j])
            dl = np.radians(lon[j] - lon[i])
            h = np.sin((p2 - p1) / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
            dist = 2 * 6_371_008.8 * np.arcsin(np.sqrt(np.minimum(1.0, h)))
            keep = ~both | (np.nan_to_num(dist, nan=0.0) <= radius_m)
            i, j, v = i[keep], j[keep], v[keep]
        rows.append(i)
        cols.append(j)
        sims.append(v)
    return np.concatenate(rows), np.concatenate(cols), np.concatenate(sims)


def _labels(n: int, i: Any, j: Any, v: Any, min_neighbors: int) -> Any:
    """DBSCAN-style labels (-1 = noise) on the similarity graph."""
    import numpy as np
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    degree = np.bincount(np.concatenate([i, j]), minlength=n)
    core = degree >= min_neighbors
    cc = core[i] & core[j]
    graph = coo_matrix((np.ones(int(cc.sum())), (i[cc], j[cc])), shape=(n, n))
    _, comp = connected_components(graph, directed=False)
    labels = np.where(core, comp, -1)
    # Border messages join the cluster of their most similar core neighbour.
    best = np.full(n, -1.0)
    for src, dst in ((i, j), (j, i)):
        m = (~core[src]) & core[dst]
        for s_, d_, w in zip(src[m], dst[m], v[m], strict=True):
            if w > best[s_]:
                best[s_] = w
                labels[s_] = labels[d_]
    return labels


def find_clusters(
    records: Sequence[Record],
    *,
    threshold: float = 0.45,
    window_days: float = 30.0,
    radius_m: float = 1_000.0,
    min_neighbors: int = 2,
    min_size: int = 3,
    limit: int | None = None,
    text_chars: int = 200,
    n_terms: int = 8,
    n_representatives: int = 3,
) -> list[Cluster]:
    """Clusters of similar messages near in time (and place), largest and most supported
    first; ``limit`` keeps the top ones (top terms and representatives are computed only for
    the clusters returned)."""
    import numpy as np

    from nlp.tokenizer import model_text, top_terms

    recs = sorted(
        (r for r in records if isinstance(r.text, str) and r.text.strip()),
        key=lambda r: _aware(r.time),
    )
    if len(recs) < min_size:
        return []
    texts = [model_text(r.text[: text_chars + 40])[:text_chars] for r in recs]
    x = _vectorize(texts)
    if x is None:
        return []
    epoch = _aware(recs[0].time)
    days = np.array([(_aware(r.time) - epoch).total_seconds() / DAY_SECONDS for r in recs])
    lat = np.array([np.nan if r.lat is None else r.lat for r in recs], dtype=float)
    lon = np.array([np.nan if r.lon is None else r.lon for r in recs], dtype=float)
    i, j, v = _edges(
        x, days, lat, lon, threshold=threshold, window_days=window_days, radius_m=radius_m
    )
    labels = _labels(len(recs), i, j, v, min_neighbors)
    members: dict[int, list[int]] = {}
    for idx, label in enumerate(labels.tolist()):
        if label >= 0:
            members.setdefault(label, []).append(idx)
    clusters: list[tuple[Cluster, list[int]]] = []
    for idxs in members.values():
        if len(idxs) < min_size:
            continue
        group = [recs[k] for k in idxs]
        areas = Counter(r.area for r in group if r.area is not None)
        cats = Counter(r.category for r in group if r.category is not None)
        cluster = Cluster(
            ids=[r.id for r in group],
            start=_aware(group[0].time),
            end=_aware(group[-1].time),
            weight=float(sum(max(0.0, r.weight) for r in group)),
            area=areas.most_common(1)[0][0] if areas else None,
            category=cats.most_common(1)[0][0] if cats else None,
        )
        clusters.append((cluster, idxs))
    clusters.sort(key=lambda c: (-c[0].size, -c[0].weight, c[0].start))
    if limit is not None:
        clusters = clusters[:limit]
    for cluster, idxs in clusters:
        sub = x[idxs]
        centroid = np.asarray(sub.mean(axis=0)).ravel()
        closeness = sub @ centroid
        order = np.argsort(-closeness, kind="stable")[:n_representatives]
        cluster.representatives = [recs[idxs[k]].id for k in order.tolist()]
        sample = [recs[k].text for k in idxs[:200]]
        cluster.terms = top_terms(sample, n_terms)
    return [c for c, _ in clusters]


# --- reading a message file -----------------------------------------------------------------

TIME_FORMATS = (
    "%Y-%m-%d %H:%M:%S",
    "%Y/%m/%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y/%m/%d %H:%M",
    "%Y-%m-%d",
    "%Y/%m/%d",
)


def parse_time(value: str) -> datetime:
    """A timestamp in one of :data:`TIME_FORMATS` or ISO 8601 (naive = UTC)."""
    value = value.strip()
    for fmt in TIME_FORMATS:
        try:
            return datetime.strptime(value, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    try:
        return _aware(datetime.fromisoformat(value))
    except ValueError:
        raise ValueError(f"unreadable time {value!r}") from None


@dataclass(frozen=True, slots=True)
class MessageFile:
    records: list[Record]
    skipped: list[tuple[int, str]]  # (line, reason)


def read_records(
    path: str,
    *,
    text_cols: Sequence[str] = ("subject", "detail"),
    time_col: str = "time",
    id_col: str = "id",
    weight_col: str | None = "likes",
) -> MessageFile:
    """Records from a UTF-8 CSV file: texts of ``text_cols`` joined by a newline. Rows with an
    empty text or an unreadable time are skipped and reported, not fatal."""
    import csv

    from nlp.errors import CorpusError

    try:
        fh = open(path, encoding="utf-8-sig", newline="")  # noqa: SIM115
    except OSError as exc:
        raise CorpusError(f"cannot read {path}: {exc.strerror}") from None
    records: list[Record] = []
    skipped: list[tuple[int, str]] = []
    with fh:
        try:
            reader = csv.DictReader(fh)
            columns = reader.fieldnames or []
            missing = [c for c in (*text_cols, time_col) if c not in columns]
            if missing:
                raise CorpusError(
                    f"{path}: missing column(s) {', '.join(missing)}; found {', '.join(columns)}"
                )
            for line, row in enumerate(reader, 2):
                text = "\n".join((row.get(c) or "").strip() for c in text_cols).strip()
                if not text:
                    skipped.append((line, "empty text"))
                    continue
                try:
                    time = parse_time(row.get(time_col) or "")
                except ValueError as exc:
                    skipped.append((line, str(exc)))
                    continue
                weight = 0.0
                raw_weight = (row.get(weight_col) or "").strip() if weight_col else ""
                if raw_weight:
                    try:
                        weight = float(raw_weight)
                    except ValueError:
                        skipped.append((line, f"{weight_col} is not a number"))
                        continue
                rid = row.get(id_col) or str(line)
                records.append(Record(id=rid, text=text, time=time, weight=weight))
        except UnicodeDecodeError:
            raise CorpusError(f"{path} is not UTF-8 text") from None
        except csv.Error as exc:
            raise CorpusError(f"{path}: not a readable CSV file ({exc})") from None
    return MessageFile(records, skipped)
