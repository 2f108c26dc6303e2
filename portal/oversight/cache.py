"""A short-lived cache of the public figures (the numbers, never the rendered pages), keyed by a
cheap watermark of the case data so that a new case or event shows at once.

The cache lives in the memory of each process (one :class:`StatsCache` per Flask app, in
``app.extensions``): with several gunicorn workers each worker computes a figure at most once per
``STATS_CACHE_SECONDS`` and data watermark. That is the point of it — a burst of readers after a
news story costs one computation per worker instead of one per request — and it needs no shared
store, so the figures can never outlive a restart or leak between databases. Redis (available in
production for the rate limits) would share the work between workers, but would need the figures
pickled and a lock across processes; the saving is at most ``workers - 1`` computations per
minute, so it is not worth it.

What is cached are plain, locale-free values (counts, :class:`~portal.workbench.kpi.Rate`
objects, codes and stored names); labels and HTML are made per request, in the reader's language.
The differentially private releases are not cached here: they are stored once in their ledger.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from flask import Flask, current_app, g, has_request_context
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.cases.models import Case, CaseEvent
from portal.workbench.models import LabelledExample, Verdict

T = TypeVar("T")

EXTENSION = "oversight_stats_cache"
DEFAULT_SECONDS = 60
#: Entries kept at most (least recently used first out). A figure is a few kilobytes, so the cap
#: bounds memory to a few megabytes whatever combination of periods and filters readers ask for.
DEFAULT_MAX_ENTRIES = 256

_MISSING = object()


class StatsCache:
    """A thread-safe, size-bounded TTL cache with one computation per key at a time.

    ``get_or_compute(key, compute)`` returns the value stored under ``key`` if it is younger than
    ``ttl`` seconds, else calls ``compute()`` and stores its result. Concurrent callers that miss
    the same key wait for the first caller's computation instead of repeating it (a cold cache
    hit by a burst computes once). An exception from ``compute`` is passed on and nothing is
    stored. ``ttl <= 0`` turns the cache off: every call computes.

    ``clock`` (seconds, monotonic) is injectable so that tests can move time without sleeping.
    """

    def __init__(
        self,
        ttl: float,
        *,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.ttl = float(ttl)
        self.max_entries = max_entries
        self.clock = clock
        #: Lookups answered from the cache, computations, and lookups that waited for another
        #: caller's computation of the same key (counted for tests and the benchmark).
        self.hits = 0
        self.misses = 0
        self.waits = 0
        self._entries: OrderedDict[Hashable, tuple[float, Any]] = OrderedDict()
        self._lock = threading.Lock()
        self._computing: dict[Hashable, threading.Lock] = {}

    @property
    def enabled(self) -> bool:
        return self.ttl > 0

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def _fresh(self, key: Hashable) -> Any:
        """The live value under ``key`` or ``_MISSING`` (an expired entry is dropped). Caller
        holds ``_lock``."""
        entry = self._entries.get(key)
        if entry is None:
            return _MISSING
        stored_at, value = entry
        if self.clock() - stored_at >= self.ttl:
            del self._entries[key]
            return _MISSING
        self._entries.move_to_end(key)
        return value

    def _store(self, key: Hashable, value: Any) -> None:
        """Caller holds ``_lock``."""
        now = self.clock()
        self._entries[key] = (now, value)
        self._entries.move_to_end(key)
        if len(self._entries) > self.max_entries:
            for old in [k for k, (at, _) in self._entries.items() if now - at >= self.ttl]:
                del self._entries[old]
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def peek(self, key: Hashable) -> Any:
        """The live value under ``key``, or None; never computes."""
        if not self.enabled:
            return None
        with self._lock:
            value = self._fresh(key)
            if value is _MISSING:
                return None
            self.hits += 1
            return value

    def get_or_compute(self, key: Hashable, compute: Callable[[], T]) -> T:
        if not self.enabled:
            return compute()
        with self._lock:
            value = self._fresh(key)
            if value is not _MISSING:
                self.hits += 1
                return value  # type: ignore[no-any-return]
            key_lock = self._computing.get(key)
            if key_lock is None:
                key_lock = self._computing[key] = threading.Lock()
            else:
                self.waits += 1
        with key_lock:
            with self._lock:
                value = self._fresh(key)
                if value is not _MISSING:  # computed by the caller we waited for
                    self.hits += 1
                    return value  # type: ignore[no-any-return]
                self.misses += 1
            try:
                value = compute()
                with self._lock:
                    self._store(key, value)
            finally:
                with self._lock:
                    if self._computing.get(key) is key_lock:
                        del self._computing[key]
        return value  # type: ignore[no-any-return]


# --- the data watermark ----------------------------------------------------------------------


@dataclass(frozen=True)
class Watermark:
    """Changes whenever a case is added, removed or updated (``updated_at`` is set on every ORM
    or Core update of a case), an event is appended (the event table is append-only), a resident
    gives a verdict or a coordinator's correction is recorded."""

    cases: int
    cases_changed: datetime | None
    last_event: int | None
    last_verdict: int | None
    last_correction: int | None


def data_watermark(session: Session) -> Watermark:
    """The watermark in one query (a count and an indexed ``max`` over ``cases``, index-only
    ``max(id)`` over the three append-only tables)."""
    row = session.execute(
        select(
            select(func.count()).select_from(Case).scalar_subquery(),
            select(func.max(Case.updated_at)).scalar_subquery(),
            select(func.max(CaseEvent.id)).scalar_subquery(),
            select(func.max(Verdict.id)).scalar_subquery(),
            select(func.max(LabelledExample.id)).scalar_subquery(),
        )
    ).one()
    return Watermark(int(row[0] or 0), row[1], row[2], row[3], row[4])


# --- Flask glue ------------------------------------------------------------------------------


def init_app(app: Flask) -> StatsCache:
    """One cache per app, from the ``STATS_CACHE_SECONDS`` setting (0 turns it off)."""
    cache = StatsCache(
        float(app.config.get("STATS_CACHE_SECONDS", DEFAULT_SECONDS) or 0),
        max_entries=int(app.config.get("STATS_CACHE_ENTRIES") or DEFAULT_MAX_ENTRIES),
    )
    app.extensions[EXTENSION] = cache
    return cache


def stats_cache() -> StatsCache:
    return current_app.extensions[EXTENSION]  # type: ignore[no-any-return]


def _watermark(session: Session) -> Watermark:
    """The data watermark, read once per request (a page may look up several figures)."""
    if not has_request_context():
        return data_watermark(session)
    if "oversight_watermark" not in g:
        g.oversight_watermark = data_watermark(session)
    return g.oversight_watermark  # type: ignore[no-any-return]


def cached_figures(
    session: Session,
    key: tuple[Hashable, ...],
    compute: Callable[[], T],
    *,
    derive_from: tuple[tuple[Hashable, ...], Callable[[Any], T]] | None = None,
) -> T:
    """``compute()``, or its value from the last ``STATS_CACHE_SECONDS`` for the same ``key``
    (what is computed: name, period, filters) and the same data watermark.

    ``derive_from=(other_key, derive)``: when the figures under ``other_key`` are cached (same
    watermark), ``derive(those figures)`` is returned instead of computing (e.g. the status mix is
    part of the dashboard's figures).

    The watermark is read before computing: a case that arrives during the computation may then
    be in a value stored under the older watermark, which the next reader misses (never the
    reverse, a value without the case under the newer watermark)."""
    cache = stats_cache()
    if not cache.enabled:
        return compute()
    watermark = _watermark(session)
    if derive_from is not None:
        other_key, derive = derive_from
        other = cache.peek((*other_key, watermark))
        if other is not None:
            return derive(other)
    return cache.get_or_compute((*key, watermark), compute)
