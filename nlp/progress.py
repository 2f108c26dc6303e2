"""Progress bars (tqdm) shown only when stderr is a terminal."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator, Sequence
from typing import Any


class _Silent:
    def update(self, n: int = 1) -> None:
        pass


def interactive() -> bool:
    return sys.stderr.isatty()


@contextlib.contextmanager
def steps(items: Sequence[Any], *, enabled: bool, desc: str) -> Iterator[Any]:
    """A progress bar over ``items`` steps when ``enabled`` and attached to a terminal."""
    if not (enabled and interactive()):
        yield _Silent()
        return
    from tqdm import tqdm

    with tqdm(total=len(items), desc=desc, file=sys.stderr, leave=False) as bar:
        yield bar
