"""Benchmark: hotspot clustering and surge detection on 100,000 messages.

Replicates the real message file (``../shared/data/teddy2020_hotspot.csv``) in memory to
``--n`` messages: each copy has a few characters replaced or dropped, its time moved by up to
a year and its likes redrawn. Nothing is written to disk. Prints wall-clock and CPU seconds
for each phase; the target is under a minute of wall-clock time for 100,000 messages.

    .venv/bin/python bench/hotspots.py [--data PATH] [--n 100000]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nlp.hotspots import Record, detect_surges, find_clusters, read_records  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "teddy2020_hotspot.csv"
TARGET_SECONDS = 60.0


def perturb(text: str, rng: random.Random) -> str:
    chars = list(text)
    for _ in range(rng.randint(1, 4)):
        if not chars:
            break
        k = rng.randrange(len(chars))
        if rng.random() < 0.5:
            del chars[k]
        else:
            chars[k] = rng.choice("的了是在有和与及对我们")
    return "".join(chars)


def replicate(records: list[Record], n: int, seed: int = 0) -> list[Record]:
    rng = random.Random(seed)
    out = list(records[:n])
    areas = [f"A{k}" for k in range(1, 10)]
    while len(out) < n:
        r = rng.choice(records)
        out.append(
            replace(
                r,
                id=f"{r.id}-{len(out)}",
                text=perturb(r.text, rng),
                time=r.time + timedelta(days=rng.uniform(-365, 365)),
                weight=float(rng.randint(0, 3)),
            )
        )
    return [replace(r, area=rng.choice(areas), category=str(hash(r.text[:4]) % 20)) for r in out]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--n", type=int, default=100_000)
    args = parser.parse_args()
    if not Path(args.data).exists():
        print(f"skipped: {args.data} not found")
        return 0
    source = read_records(args.data).records
    records = replicate(source, args.n)
    print(f"{len(records)} messages replicated from {len(source)} in {Path(args.data).name}")

    w0, c0 = time.perf_counter(), time.process_time()
    clusters = find_clusters(records, limit=10)
    w1, c1 = time.perf_counter(), time.process_time()
    now = max(r.time for r in records)
    surges = detect_surges(records, now=now, recent_days=7)
    w2, c2 = time.perf_counter(), time.process_time()
    print(f"clusters: {w1 - w0:.1f} s wall, {c1 - c0:.1f} s CPU (imports included)")
    print(f"surges:   {w2 - w1:.1f} s wall, {c2 - c1:.1f} s CPU")
    total = w2 - w0
    print(f"total:    {total:.1f} s wall (target < {TARGET_SECONDS:.0f} s)")
    for c in clusters[:5]:
        print(f"  cluster size {c.size}, likes {c.weight:.0f}: {' '.join(c.terms)}")
    print(f"  {len(surges)} surge(s) in the last 7 days")
    return 0 if total < TARGET_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())
