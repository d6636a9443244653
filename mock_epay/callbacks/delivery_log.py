"""The delivery log: every callback the mock queued, every attempt to send it, bounded in size.

Owned by the callback dispatcher (it is the only writer). The admin API reads it to
list, show, replay and wait for deliveries. Waiters are woken by `changed()`, which is
swapped for a fresh event on every change, so code that is not async can notify.

With a durable store the log is also written through to the store's outbox
(`to_stored` / `from_stored` convert a delivery to and from its stored row), so pending
callbacks and the log survive a restart; ids then carry a per-start prefix so a new
process never reuses an id the file already holds.
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
from collections import OrderedDict
from collections.abc import Callable, Iterator
from datetime import datetime
from enum import StrEnum
from typing import Any

import msgspec

from mock_epay.store.base import StoredDelivery

RESPONSE_BODY_LIMIT = 4096  # bytes of the merchant's answer kept per attempt
_ids = itertools.count(1)
_prefix = ""


def new_delivery_id() -> str:
    """Short, unique within the process, cheap (no uuid on the payment's hot path)."""
    return f"dlv-{_prefix}{next(_ids)}"


def use_durable_ids() -> None:
    """Make ids unique across restarts too (a random per-process prefix: `dlv-3fa2c1-7`)."""
    global _prefix
    if not _prefix:
        _prefix = secrets.token_hex(3) + "-"


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"
    SKIPPED = "skipped"

    @property
    def is_final(self) -> bool:
        return self is not DeliveryStatus.PENDING


class DeliveryKind(StrEnum):
    PAYMENT = "payment"
    OPERATION = "operation"
    FORGED = "forged"
    REPLAY = "replay"


class DeliveryAttempt(msgspec.Struct):
    number: int
    started_at: datetime
    duration_ms: float = 0.0
    response_status: int | None = None
    response_body: str | None = None
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "attempt": self.number,
            "startedAt": self.started_at.isoformat(timespec="milliseconds"),
            "durationMs": round(self.duration_ms, 2),
            "responseStatus": self.response_status,
            "responseBody": self.response_body,
            "error": self.error,
        }


class Delivery(msgspec.Struct):
    """One callback to send (and, for a retried one, every attempt at sending it)."""

    kind: DeliveryKind
    client_id: str
    invoice_id: str
    transaction_id: str
    url: str | None
    body: Any
    created_at: datetime
    id: str = msgspec.field(default_factory=new_delivery_id)
    status: DeliveryStatus = DeliveryStatus.PENDING
    attempts: list[DeliveryAttempt] = msgspec.field(default_factory=list)
    due_at: float = 0.0  # clock-monotonic time of the next attempt (delay or retry)
    waiting: bool = False  # True while waiting for `due_at` (delayed or between retries)
    error: str | None = None  # why it failed or was skipped
    replay_of: str | None = None
    note: str = ""  # e.g. the callback plan that produced it ("delay 2000 ms", "twice 2/2")
    finished_at: datetime | None = None

    def to_json(self, next_retry_at: datetime | None = None) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind.value,
            "clientId": self.client_id,
            "invoiceId": self.invoice_id,
            "transactionId": self.transaction_id,
            "url": self.url,
            "status": self.status.value,
            "body": self.body,
            "attempts": [attempt.to_json() for attempt in self.attempts],
            "nextRetryAt": next_retry_at.isoformat(timespec="milliseconds") if next_retry_at else None,
            "error": self.error,
            "replayOf": self.replay_of,
            "note": self.note,
            "createdAt": self.created_at.isoformat(timespec="milliseconds"),
            "finishedAt": self.finished_at.isoformat(timespec="milliseconds") if self.finished_at else None,
        }


_encode = msgspec.json.encode


def to_stored(delivery: Delivery, due_at_wall: float) -> StoredDelivery:
    """The row a durable store keeps; `due_at_wall` is epoch seconds on the mock's clock."""
    return StoredDelivery(delivery.id, delivery.client_id, delivery.invoice_id, delivery.transaction_id,
                          delivery.status.value, due_at_wall, _encode(delivery))


def from_stored(stored: StoredDelivery) -> Delivery:
    """The delivery a stored row holds (its `due_at` still to be put on this process's scale)."""
    return msgspec.json.decode(stored.record, type=Delivery)


class DeliveryLog:
    """The last `max_size` deliveries, oldest evicted first, indexed by id and invoice."""

    def __init__(self, max_size: int = 5000) -> None:
        self._max_size = max_size
        self._by_id: OrderedDict[str, Delivery] = OrderedDict()
        self._by_invoice: dict[str, list[Delivery]] = {}
        self._changed = asyncio.Event()
        self._watched = False  # whether `_changed` was handed out since the last change

    def __len__(self) -> int:
        return len(self._by_id)

    def add(self, delivery: Delivery) -> None:
        self._by_id[delivery.id] = delivery
        self._by_invoice.setdefault(delivery.invoice_id, []).append(delivery)
        while len(self._by_id) > self._max_size:
            _, old = self._by_id.popitem(last=False)
            siblings = self._by_invoice.get(old.invoice_id, [])
            if old in siblings:
                siblings.remove(old)
            if not siblings:
                self._by_invoice.pop(old.invoice_id, None)
        self.touch()

    def get(self, delivery_id: str) -> Delivery | None:
        return self._by_id.get(delivery_id)

    def for_invoice(self, invoice_id: str, client_id: str | None = None) -> list[Delivery]:
        """Deliveries of one invoice, oldest first."""
        found = self._by_invoice.get(invoice_id, [])
        return [d for d in found if client_id is None or d.client_id == client_id]

    def newest_first(self) -> Iterator[Delivery]:
        return reversed(self._by_id.values())

    def forget(self, client_id: str | None = None) -> None:
        """Drop finished deliveries (of one merchant, or all); pending ones stay visible."""
        keep = [d for d in self._by_id.values()
                if not d.status.is_final or (client_id is not None and d.client_id != client_id)]
        self._by_id = OrderedDict((d.id, d) for d in keep)
        self._by_invoice = {}
        for delivery in keep:
            self._by_invoice.setdefault(delivery.invoice_id, []).append(delivery)
        self.touch()

    def touch(self) -> None:
        """Wake everyone waiting for a change (nothing to do while no one took the event: a delivery
        touches the log three times, and most are never waited for)."""
        if self._watched:
            self._watched = False
            event, self._changed = self._changed, asyncio.Event()
            event.set()

    def changed(self) -> asyncio.Event:
        """An event set at the next change (take it before checking, then wait on it)."""
        self._watched = True
        return self._changed


def select_deliveries(log: DeliveryLog, get: Callable[[str], Delivery | None], *,
                      invoice_id: str | None = None, transaction_id: str | None = None,
                      delivery_id: str | None = None, client_id: str | None = None) -> list[Delivery]:
    """The deliveries one selector names (one id, one invoice, or a transaction / merchant), oldest first."""
    if delivery_id:
        found = get(delivery_id)
        return [found] if found else []
    if invoice_id:
        return log.for_invoice(invoice_id, client_id)
    matches = [d for d in log.newest_first()
               if (not transaction_id or d.transaction_id == transaction_id)
               and (not client_id or d.client_id == client_id)]
    return matches[::-1]


async def wait_until_final(log: DeliveryLog, select: Callable[[], list[Delivery]],
                           timeout: float) -> Delivery | None:
    """The latest selected delivery once every selected one is final; None on timeout."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        changed = log.changed()
        found = select()
        if found and all(d.status.is_final for d in found):
            return found[-1]
        remaining = deadline - loop.time()
        if remaining <= 0:
            return None
        try:
            async with asyncio.timeout(remaining):
                await changed.wait()
        except TimeoutError:
            return None
