"""The answers of the mock's own `/_mock/` API: health, journal, transactions, deliveries, merchants,
scenarios, clock and reset.

These are the mock's shapes, not the bank's: camelCase throughout, times in RFC 3339
with milliseconds (Asia/Almaty), absent values as `null`.
"""

from __future__ import annotations

from typing import Any, Literal

from mock_epay.gateway.models import Status
from mock_epay.wire.shape import UNSET, Shape, UnsetType

DeliveryStatus = Literal["pending", "delivered", "failed", "skipped"]
DeliveryKind = Literal["payment", "operation", "forged", "replay"]
Number = int | float  # kept as given: a whole number stays an integer in the JSON


class Health(Shape):
    """`GET /_mock/health`."""

    status: Literal["ok"]
    version: str


class JournalEntry(Shape):
    """One request in the journal; `body` and `responseBody` are the first 2 KB, card numbers masked
    (`responseBody` is empty for a streamed answer)."""

    at: str
    method: str
    path: str
    status: int
    ms: Number
    body: str
    responseBody: str


class Journal(Shape):
    """`GET /_mock/requests`: newest first."""

    requests: list[JournalEntry]


class DeliveryAttempt(Shape):
    """One attempt at sending a callback."""

    attempt: int
    startedAt: str
    durationMs: Number
    responseStatus: int | None
    responseBody: str | None
    error: str | None


class Delivery(Shape):
    """One callback: where it goes, its body exactly as sent, and every attempt at sending it."""

    id: str
    kind: DeliveryKind
    clientId: str
    invoiceId: str
    transactionId: str
    url: str | None
    status: DeliveryStatus
    body: Any
    attempts: list[DeliveryAttempt]
    nextRetryAt: str | None
    error: str | None
    replayOf: str | None
    note: str
    createdAt: str
    finishedAt: str | None


class Deliveries(Shape):
    """`GET /_mock/callbacks`: newest first; `total` counts every match, `deliveries` at most `limit`."""

    deliveries: list[Delivery]
    total: int


class CallbackSummary(Shape):
    """How many callbacks a transaction has and the state of the latest one."""

    count: int
    attempts: int
    latestStatus: DeliveryStatus | None


class HistoryEntry(Shape):
    """One status change of a transaction."""

    at: str
    status: Status
    amount: Number
    note: str


class Transaction(Shape):
    """A transaction as the admin API lists it; `createdDate` is RFC 3339, Asia/Almaty (+05:00).
    `history` and `deliveries` are present on `GET /_mock/transactions/{id}` only."""

    id: str
    clientId: str
    invoiceId: str
    amount: Number
    orgAmount: Number
    chargedAmount: Number
    refundedAmount: Number
    currency: str
    status: Status
    reasonCode: int
    reason: str
    terminalId: str
    accountId: str
    description: str
    cardMask: str | None
    cardType: str | None
    cardId: str | None
    secure: bool
    createdDate: str
    source: Literal["cards/auth", "payform", "cryptopay", "recurring", "invoice-link", "qr"]
    callbacks: CallbackSummary
    history: list[HistoryEntry] | UnsetType = UNSET
    deliveries: list[Delivery] | UnsetType = UNSET


class Transactions(Shape):
    """`GET /_mock/transactions`: newest first; `total` counts every match."""

    transactions: list[Transaction]
    total: int


class Terminal(Shape):
    """A merchant's terminal."""

    id: str
    number: str
    twoStage: bool
    autoCancelSeconds: Number | None


class Merchant(Shape):
    """A configured merchant (its secret is never shown)."""

    clientId: str
    name: str
    callbackFormat: Literal["current", "legacy"]
    callbacksAfterOperations: bool
    terminals: list[Terminal]
    shopId: str = ""  # the shop id invoice links name (`shop_id`)


class Merchants(Shape):
    """`GET /_mock/merchants`."""

    merchants: list[Merchant]


class ScenarioRule(Shape):
    """A scenario rule as in a YAML file (docs/scenarios.md), with where it came from; `match` and
    `outcome(s)` are as written in the file; `remaining` counts down for an override with `times`."""

    name: str
    source: str
    index: int
    description: str
    match: dict[str, Any] | UnsetType = UNSET
    header_only: bool | UnsetType = UNSET
    outcome: dict[str, Any] | UnsetType = UNSET
    outcomes: list[dict[str, Any]] | UnsetType = UNSET
    sequence_by: Literal["invoice", "card", "transaction"] | UnsetType = UNSET
    remaining: int | UnsetType = UNSET


class Scenarios(Shape):
    """`GET /_mock/scenarios`: the loaded files, their rules in matching order, and the overrides."""

    files: list[str]
    rules: list[ScenarioRule]
    overrides: list[ScenarioRule]
    last_error: str | None


class OverrideAdded(Shape):
    """201 of `POST /_mock/scenarios`."""

    override: ScenarioRule


class OverridesCleared(Shape):
    """`DELETE /_mock/scenarios/overrides`: how many overrides were removed."""

    cleared: int


class ScenariosReloaded(Shape):
    """`POST /_mock/scenarios/reload`."""

    status: Literal["reloaded"]
    rules: int


class ClockOffset(Shape):
    """`POST /_mock/clock/advance`: the clock's total offset in seconds."""

    offset: Number


class ResetDone(Shape):
    """`POST /_mock/reset`: everything, or one merchant's state (`client_id`), was forgotten."""

    status: Literal["reset"]
    client_id: str | None


class CreatedCard(Shape):
    """A saved card of a created merchant (the number masked)."""

    id: str
    accountId: str
    cardMask: str
    cardType: str
    payerName: str
    expiry: str


class MerchantCreated(Shape):
    """201 of `POST /_mock/merchants`: the credentials to request tokens with (the only answer that
    shows the secret), the terminal to pay on and the saved cards' ids."""

    clientId: str
    clientSecret: str
    name: str
    terminalId: str
    terminals: list[Terminal]
    callbackFormat: Literal["current", "legacy"]
    callbacksAfterOperations: bool
    savedCards: list[CreatedCard]
