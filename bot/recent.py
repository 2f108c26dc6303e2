"""A bounded memory of ids already handled (Telegram update ids, delivered notifications)."""

from __future__ import annotations

from collections import deque


class RecentIds:
    """The last ``size`` ids seen, with O(1) membership; picklable (kept in persisted bot data).

    Not "everything at or below the highest id": Telegram may restart update ids after a long
    silence, so only exact repeats count.
    """

    def __init__(self, size: int = 10_000) -> None:
        self.size = size
        self._order: deque[int] = deque()
        self._members: set[int] = set()

    def __contains__(self, item: object) -> bool:
        return item in self._members

    def __len__(self) -> int:
        return len(self._members)

    def add(self, item: int) -> bool:
        """Remember ``item``; False when it was already there (a repeat)."""
        if item in self._members:
            return False
        self._order.append(item)
        self._members.add(item)
        while len(self._order) > self.size:
            self._members.discard(self._order.popleft())
        return True
