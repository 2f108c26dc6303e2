"""The bounded memory of handled ids."""

from __future__ import annotations

import pickle

from bot.recent import RecentIds


def test_remembers_exact_ids_and_forgets_the_oldest() -> None:
    memory = RecentIds(size=3)
    assert [memory.add(i) for i in (5, 1, 9)] == [True, True, True]
    assert memory.add(1) is False and 1 in memory
    assert memory.add(2) is True  # evicts 5, the oldest
    assert 5 not in memory and len(memory) == 3
    assert memory.add(5) is True


def test_survives_pickling() -> None:
    memory = RecentIds(size=10)
    memory.add(42)
    restored = pickle.loads(pickle.dumps(memory))
    assert 42 in restored and restored.add(42) is False and restored.size == 10
