"""Chains parked until their next attempt is due: one timer for all of them, no task each.

A callback whose attempt failed waits seconds to minutes for its retry (`callback_backoff`
doubling within `callback_window`). With a merchant's postLink down under load, that is every
callback of the last minutes: tens of thousands. Each waiting in a task of its own kept a
coroutine chain, a timeout and a timer per callback, hundreds of MB, and the garbage collector's
full passes over them stalled the event loop for up to a second. A chain whose head is not due
for a while is parked here instead, keyed by its chain key with the due time on the mock clock's
monotonic scale, and `ParkedChains.run` restarts it (through the dispatcher's `spawn`) once due.

The due times move with the mock clock (`Clock.monotonic` includes its offset), so a clock jump
only has to wake the timer (`wake`): what is due by then is restarted at once.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Callable, Hashable, Iterable

from mock_epay.core.clock import Clock

PARK_AFTER_SECONDS = 1.0  # a chain waiting longer than this is parked; a shorter wait stays in its task


class ParkedChains:
    """Chain keys waiting for a due time, restarted in due order by one timer."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._heap: list[tuple[float, int, Hashable]] = []
        self._due: dict[Hashable, float] = {}  # the key's current due time (older heap entries are stale)
        self._order = itertools.count()
        self._changed = asyncio.Event()

    def __contains__(self, key: Hashable) -> bool:
        return key in self._due

    def __len__(self) -> int:
        return len(self._due)

    def park(self, key: Hashable, due_at: float) -> None:
        """Restart `key` once the clock's monotonic time reaches `due_at`."""
        earliest = self._heap[0][0] if self._heap else None
        self._due[key] = due_at
        heapq.heappush(self._heap, (due_at, next(self._order), key))
        if earliest is None or due_at < earliest:
            self._changed.set()  # the timer sleeps until a later time: it must look again

    def release(self, keys: Iterable[Hashable]) -> list[Hashable]:
        """Take `keys` out of the park now (their heap entries go stale); the ones that were parked."""
        released = [key for key in keys if self._due.pop(key, None) is not None]
        if released:
            self._changed.set()
        return released

    def parked_keys(self) -> list[Hashable]:
        return list(self._due)

    def wake(self) -> None:
        """Look at the due times again now (the mock clock jumped)."""
        self._changed.set()

    def take_due(self) -> list[Hashable]:
        """The parked keys due by now, in due order, taken out of the park."""
        now = self._clock.monotonic()
        due: list[Hashable] = []
        heap = self._heap
        while heap and heap[0][0] <= now:
            due_at, _, key = heapq.heappop(heap)
            if self._due.get(key) == due_at:
                del self._due[key]
                due.append(key)
        if len(heap) > 2 * len(self._due) + 64:  # mostly stale entries: rebuild
            self._heap = [entry for entry in heap if self._due.get(entry[2]) == entry[0]]
            heapq.heapify(self._heap)
        return due

    def seconds_to_next(self) -> float | None:
        """Seconds until the earliest parked key is due (0 when one is), None when none is parked."""
        if not self._heap:
            return None
        return max(0.0, self._heap[0][0] - self._clock.monotonic())

    async def run(self, spawn: Callable[[Hashable], None]) -> None:
        """Hand each parked key to `spawn` once it is due; runs until cancelled."""
        while True:
            for key in self.take_due():
                spawn(key)
            self._changed.clear()
            wait = self.seconds_to_next()
            if wait == 0.0:
                continue
            try:
                async with asyncio.timeout(wait):
                    await self._changed.wait()
            except TimeoutError:
                pass
