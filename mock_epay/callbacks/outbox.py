"""The callback outbox: the dispatcher's write-through to a durable store's `DeliveryStore`.

With a durable backend every delivery is saved when it is queued, after each failed
attempt (with its next due time) and when it ends, so a restart finds the pending ones
and resumes them on their schedule. Times are kept as wall-clock on the mock's clock and
put back on the process's monotonic scale when loaded. Each attempt is claimed first
(owner = this process, lease = the callback timeout plus a margin): a delivery another
process is sending, or has already moved to a later due time, is left to it.

A delivery due at once is claimed as it is queued, in the same store transaction as its first
save (so inside the payment's own `atomic()` scope: no commit of its own), and its first attempt
uses that claim when it starts within `fresh_claim_seconds` (half the lease margin), leaving at
least the callback
timeout plus half the margin of the lease to run.

The final states (delivered, failed) of the deliveries that end in one turn of the event loop are
written together, by one store call (`flush`, also run before the outbox reads or forgets and at
shutdown): until then each shows pending under this process's claim, so no other process takes it.

The memory backend has no outbox (`Outbox.of` gives None): the in-process log is the log.
"""

from __future__ import annotations

import asyncio
import logging
import math
import secrets
from collections.abc import Awaitable, Callable, Container

from mock_epay.callbacks.delivery_log import Delivery, DeliveryStatus, from_stored, to_stored, use_durable_ids
from mock_epay.core.clock import Clock
from mock_epay.store.base import DeliveryStore, StoredDelivery

log = logging.getLogger("mock_epay.callbacks")
LEASE_MARGIN_SECONDS = (1.0, 10.0)  # the margin past the callback timeout: the timeout itself, within these
OUTBOX_POLL_SECONDS = 5.0  # how often a durable dispatcher looks for deliveries nobody holds


class Outbox:
    """Saves, loads and claims deliveries in a durable store on behalf of one process."""

    def __init__(self, store: DeliveryStore, clock: Clock, callback_timeout: float) -> None:
        self._store = store
        self._durable: Callable[[], Awaitable[None] | None] | None = getattr(store, "durable", None)
        self._clock = clock
        self.owner = f"{secrets.token_hex(4)}"
        low, high = LEASE_MARGIN_SECONDS
        margin = min(max(callback_timeout, low), high)
        self.lease = callback_timeout + margin
        # A claim taken at queueing serves the first attempt if it starts within half the margin, so the
        # lease still has the whole callback timeout left for the attempt itself.
        self.fresh_claim_seconds = margin / 2
        self._fresh: dict[str, float] = {}  # delivery id -> until when (monotonic) its queued claim serves
        self._finals: list[StoredDelivery] = []  # final saves waiting for this loop turn's flush
        use_durable_ids()

    @classmethod
    def of(cls, store: object, clock: Clock, callback_timeout: float) -> Outbox | None:
        """The outbox of `store` when it is durable, else None."""
        return cls(store, clock, callback_timeout) if isinstance(store, DeliveryStore) else None

    def _wall(self, monotonic_due: float) -> float:
        return self._clock.now().timestamp() + (monotonic_due - self._clock.monotonic())

    def _monotonic(self, wall_due: float) -> float:
        return self._clock.monotonic() + (wall_due - self._clock.now().timestamp())

    def save(self, delivery: Delivery) -> None:
        """Write the delivery as it is now (and release this process's claim on it); one just
        queued and due at once is claimed in the same call. A final one (delivered, failed) is
        written with the others that end in the same turn of the event loop (`flush`)."""
        queued = (delivery.status is DeliveryStatus.PENDING and not delivery.attempts
                  and not delivery.waiting)
        try:
            stored = to_stored(delivery, self._wall(delivery.due_at))
            if delivery.status is not DeliveryStatus.PENDING and self._flush_soon():
                self._finals.append(stored)
            elif queued:
                claimed = self._store.queue_delivery(stored, self.owner, self._clock.now().timestamp(),
                                                     self.lease)
            else:
                self._store.save_delivery(stored)
        except Exception:  # an unstorable body must not stop delivery; the log line says so
            log.exception("callback %s: could not be saved to the store's outbox", delivery.id)
            return
        if delivery.status is not DeliveryStatus.PENDING:
            self._fresh.pop(delivery.id, None)
        elif queued and claimed:
            self._fresh[delivery.id] = self._clock.monotonic() + self.fresh_claim_seconds

    def _flush_soon(self) -> bool:
        """Make sure a flush is scheduled on the running loop; False without one (write at once)."""
        if not self._finals:
            try:
                asyncio.get_running_loop().call_soon(self.flush)
            except RuntimeError:
                return False
        return True

    def flush(self) -> None:
        """Write the final deliveries saved since the last flush, in one store call.

        Until then each still shows pending in the store under this process's claim, so no other
        process takes it; a crash in between sends it again after the restart (at least once)."""
        finals, self._finals = self._finals, []
        if not finals:
            return
        try:
            self._store.save_deliveries(finals)
        except Exception:  # the store is briefly unavailable: they stay pending and are resent later
            log.exception("callback outbox: could not save %d finished deliveries", len(finals))

    def load(self) -> list[Delivery]:
        """Every kept delivery, oldest first, due times on this process's scale."""
        self.flush()
        return [self._loaded(stored) for stored in self._store.deliveries()]

    def orphans(self, known: Container[str], due_within: float = math.inf) -> list[Delivery]:
        """Pending deliveries no process holds a live claim on and this one does not know, due
        within `due_within` seconds: only their ids are read until one is unknown here."""
        self.flush()
        now = self._clock.now().timestamp()
        ids = self._store.claimable_delivery_ids(now, now + due_within)
        stored = (self._store.stored_delivery(i) for i in ids if i not in known)
        return [self._loaded(s) for s in stored if s is not None and s.status == DeliveryStatus.PENDING.value]

    def _loaded(self, stored: object) -> Delivery:
        delivery = from_stored(stored)  # type: ignore[arg-type]
        delivery.due_at = self._monotonic(stored.due_at)  # type: ignore[attr-defined]
        pending = delivery.status is DeliveryStatus.PENDING
        delivery.waiting = pending and delivery.due_at > self._clock.monotonic()
        return delivery

    async def settled(self, delivery: Delivery) -> None:
        """Before an attempt under the claim taken as `delivery` was queued: wait for the store to
        have committed what was written so far (its `durable()`: PostgreSQL sends a payment's tail
        with its COMMIT without waiting, SQLite commits a loop turn's writes together), so no
        callback goes out before its payment is recorded. If that commit failed, the claim may not
        exist: it is dropped, and `claim` asks the store."""
        if delivery.id not in self._fresh or self._durable is None:
            return
        pending = self._durable()
        if pending is None:
            return
        try:
            await asyncio.shield(pending)
        except Exception:
            self._fresh.pop(delivery.id, None)

    def claim(self, delivery: Delivery) -> bool:
        """Claim the next attempt; merges attempts another process recorded. False: leave it."""
        if self._fresh.pop(delivery.id, 0.0) > self._clock.monotonic():
            return True  # claimed as it was queued, moments ago: nobody else can have attempted it
        now = self._clock.now().timestamp()
        stored = self._store.claim_delivery(delivery.id, self.owner, now, self.lease)
        if stored is None:
            return False
        delivery.attempts = from_stored(stored).attempts
        return True

    async def adopt_orphans(self, adopt: Callable[[list[Delivery]], None],
                            known: Callable[[], Container[str]]) -> None:
        """Every OUTBOX_POLL_SECONDS, hand `adopt` the pending deliveries nobody holds (a process
        on the same file died with them) that fall due before the next poll; runs until cancelled.

        One due later is left for a later poll: with a postLink down for minutes, the store holds
        every callback of those minutes pending, and each poll reads only the few due soon."""
        while True:
            await asyncio.sleep(OUTBOX_POLL_SECONDS)
            try:
                adopt(self.orphans(known(), due_within=2 * OUTBOX_POLL_SECONDS))
            except Exception:  # the store is briefly unavailable: try again next round
                log.exception("callback outbox: polling failed")

    def forget(self, client_id: str | None) -> None:
        self.flush()
        self._store.forget_deliveries(client_id)
