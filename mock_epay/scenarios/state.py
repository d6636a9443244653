"""Where the scenario engine keeps its state: sequence positions and the overrides' saved form.

`MemorySequences` is the memory backend's (and a plain engine's): positions in an ordered dict,
oldest dropped past `SEQUENCE_STATE_LIMIT`, no store call. `StoredScenarioState` keeps both in a
durable store's `ScenarioStateStore`, so they survive a restart (SQLite) and are shared between
processes (PostgreSQL): taking a sequence position is one atomic store call, and the override
list is changed only inside `change_scenario_overrides` (a row lock or write transaction), so a
use counted by one process is seen by every other. Only rules with state cost a store call:
a rule with one outcome and no use count never reaches the store.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from mock_epay.store.base import ScenarioStateStore

SEQUENCE_STATE_LIMIT = 10_000  # (rule, merchant, invoice-or-card) positions kept, oldest dropped first

SequenceKey = tuple[str, str, str]  # (rule, client_id, invoice / card / transaction)
SavedOverrides = list[Any]  # [[spec, uses left], ...], top first


class MemorySequences:
    """Sequence positions in this process."""

    def __init__(self) -> None:
        self._positions: OrderedDict[SequenceKey, int] = OrderedDict()

    def take(self, key: SequenceKey) -> int:
        """The position a sequence is at (0 first), moved on by one."""
        step = self._positions.pop(key, 0)
        self._positions[key] = step + 1
        if len(self._positions) > SEQUENCE_STATE_LIMIT:
            self._positions.popitem(last=False)
        return step

    def forget(self, client_id: str | None = None) -> None:
        if client_id is None:
            self._positions.clear()
            return
        for key in [k for k in self._positions if k[1] == client_id]:
            del self._positions[key]


class StoredScenarioState:
    """Sequence positions and overrides in a durable store, shared by every process on it."""

    def __init__(self, store: Any) -> None:
        self._store = store
        self._seen = -1

    @classmethod
    def of(cls, store: object) -> StoredScenarioState | None:
        """The store's scenario state when it keeps one (SQLite, PostgreSQL), else None (memory)."""
        if isinstance(store, ScenarioStateStore) and hasattr(store, "change_scenario_overrides"):
            return cls(store)
        return None

    def take(self, key: SequenceKey) -> int:
        step: int = self._store.take_scenario_step(*key)
        return step

    def forget(self, client_id: str | None = None) -> None:
        self._store.forget_scenario_steps(client_id)

    def changed(self) -> bool:
        """Whether the overrides may have changed in another process since the last look (cheap)."""
        generation: int = self._store.shared_generation()
        if generation == self._seen:
            return False
        self._seen = generation
        return True

    def overrides(self) -> SavedOverrides:
        saved: SavedOverrides = self._store.scenario_overrides()
        return saved

    def change(self, change: Callable[[SavedOverrides], SavedOverrides | None]) -> SavedOverrides:
        """Apply `change` to the saved overrides atomically (None: no change); the list after it."""
        changed: SavedOverrides = self._store.change_scenario_overrides(change)
        return changed


def use_one(saved: SavedOverrides, name: str) -> SavedOverrides | None:
    """The list after one use of override `name` (gone at zero uses left); None when it has none left."""
    for index, (spec, left) in enumerate(saved):
        if spec.get("name") == name:
            if left <= 1:
                return saved[:index] + saved[index + 1:]
            return [*saved[:index], [spec, left - 1], *saved[index + 1:]]
    return None
