"""How one process follows the state a durable store shares: the clock offset and the scenario overrides.

`SharedValues` is mixed into the SQL backends' state (`SqliteState`, `PostgresState`). The clock
offset is restored from the store at start and written on every jump of this process's clock.
When another process changes it (or the overrides), this process learns it two ways:

* PostgreSQL: each connection listens on a channel the changing transaction notifies; psycopg
  hands the notification over with the answer of this process's next query (every request makes
  one), so the new offset applies at once, no query added. `follow_shared_state` adds a light
  read every `FOLLOW_SECONDS` for an idle process (its callback timers wait on the clock).
* SQLite: `PRAGMA data_version` (no disk read) tells that another connection committed; the
  offset and override list are read again then, at most once per check.

`shared_generation()` moves on whenever the overrides may have changed elsewhere, so the scenario
engine re-reads them only then (`mock_epay.scenarios.state`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any

from mock_epay.store.base import StoredDelivery

if TYPE_CHECKING:
    from mock_epay.core.clock import Clock

log = logging.getLogger("mock_epay.store")

CLOCK_KEY = "clock-offset"
OVERRIDES_KEY = "scenario-overrides"
SCENARIO_STEPS_LIMIT = 10_000  # (rule, merchant, key) positions kept, oldest dropped first
DUE_TOLERANCE = 0.5  # seconds: wall and monotonic clocks drift a little between save and claim
FOLLOW_SECONDS = 1.0


DELIVERY_COLUMNS = "id, client_id, invoice_id, transaction_id, status, due_at, record"  # the outbox's rows


def delivery_row(delivery: StoredDelivery) -> tuple[Any, ...]:
    """A delivery's values in DELIVERY_COLUMNS order: what an outbox INSERT binds."""
    return (delivery.id, delivery.client_id, delivery.invoice_id, delivery.transaction_id,
            delivery.status, delivery.due_at, bytes(delivery.record))


def delivery_from_row(row: Any) -> StoredDelivery:
    """One outbox row (DELIVERY_COLUMNS, in order) as the contract's record."""
    return StoredDelivery(row[0], row[1], row[2], row[3], row[4], row[5], bytes(row[6]))


class SharedValues:
    """The clock offset kept in step with the store, and a generation for the overrides."""

    get_value: Any
    put_value: Any

    def _init_shared(self, clock: Clock) -> None:
        self._shared_clock = clock
        self._generation = 0
        self._known_offset = clock.offset
        saved = self.get_value(CLOCK_KEY)
        if saved is not None:
            self._known_offset = float(saved)
            clock.restore_offset(self._known_offset)
        clock.add_listener(self._clock_jumped)

    def _clock_jumped(self) -> None:
        offset = self._shared_clock.offset
        if offset != self._known_offset:  # this process moved it (not a value followed from the store)
            self._known_offset = offset
            self.put_value(CLOCK_KEY, repr(offset))

    def _follow_offset(self, saved: str | None) -> None:
        offset = float(saved) if saved is not None else 0.0
        if offset == self._known_offset:
            return
        self._known_offset = offset
        if self._shared_clock.follow_offset(offset):
            self._later(self._shared_clock.notify_listeners)

    def _changed_elsewhere(self, payload: str) -> None:
        """A notification (PostgreSQL), `key=value`: runs inside a query, so it must not make one."""
        self._generation += 1
        key, _, value = payload.partition("=")
        if key == CLOCK_KEY:
            self._follow_offset(value or None)

    @staticmethod
    def _later(call: Any) -> None:
        try:
            asyncio.get_running_loop().call_soon(call)
        except RuntimeError:  # no event loop (a command): the next sync_shared() catches up
            return

    def shared_generation(self) -> int:
        return self._generation

    def sync_shared(self) -> None:
        """Read the shared clock offset again (and, on PostgreSQL, take pending notifications)."""
        self._follow_offset(self.get_value(CLOCK_KEY))


async def follow_shared_state(store: Any, interval: float = FOLLOW_SECONDS) -> None:
    """Every `interval` seconds, `store.sync_shared()`; runs until cancelled."""
    while True:
        await asyncio.sleep(interval)
        try:
            store.sync_shared()
        except Exception:  # the store is briefly unavailable: try again next round
            log.exception("store: following the shared clock failed")


def start_following(store: Any) -> asyncio.Task[None] | None:
    """The task that keeps this process in step with a shared store (None for memory://)."""
    if not hasattr(store, "sync_shared"):
        return None
    return asyncio.get_running_loop().create_task(follow_shared_state(store))


async def stop_following(task: asyncio.Task[None] | None) -> None:
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
