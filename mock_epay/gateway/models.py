"""Plain data: merchants, terminals, tokens, saved cards, transactions and outcomes.

No behaviour lives here beyond small derived properties; the store owns the
state and its invariants, the scenario engine produces `Outcome`s. The records the
store keeps (tokens, cards, saved cards, transactions and their history) and the
attempts made per request are frozen: a change is a new record (`evolve`) written
back through one store call, so no caller can change state behind the store's back.
Times that must survive a restart are wall-clock datetimes on the mock's clock.
Each is a frozen `msgspec.Struct`: built, compared, copied (`evolve`) and encoded in C, and
its class made in microseconds at import (a dataclass's generated methods cost about 0.7 ms
per class at start-up).
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from enum import StrEnum
from typing import Any, TypeVar

import msgspec

R = TypeVar("R")


def evolve(record: R, **changes: Any) -> R:
    """A copy of a frozen record with `changes` (a field it lacks is a TypeError)."""
    if isinstance(record, msgspec.Struct):
        return msgspec.structs.replace(record, **changes)
    return dataclasses.replace(record, **changes)  # type: ignore[type-var]


class Status(StrEnum):
    """`statusName` values of spec section 6.3."""

    NEW = "NEW"
    AUTH = "AUTH"
    CHARGE = "CHARGE"
    CANCEL = "CANCEL"
    CANCEL_OLD = "CANCEL_OLD"
    REFUND = "REFUND"
    REJECT = "REJECT"
    FAILED = "FAILED"
    THREE_D = "3D"
    VERIFIED = "VERIFIED"

    @property
    def is_success(self) -> bool:
        return self in SUCCESS_STATUSES


SUCCESS_STATUSES = frozenset({Status.AUTH, Status.CHARGE, Status.REFUND, Status.VERIFIED})


class TokenKind(StrEnum):
    PAYMENT = "payment"
    SERVICE = "service"


class Terminal(msgspec.Struct, frozen=True):
    id: str  # the UUID merchants send as `terminal` / `terminalId`
    number: str  # the 8-digit processing terminal number shown as `terminal` in status
    two_stage: bool = False
    auto_cancel_seconds: float | None = None  # AUTH older than this becomes CANCEL_OLD


class SeedCard(msgspec.Struct, frozen=True):
    """A saved card declared in the config file for an accountId."""

    account_id: str
    card_number: str
    id: str | None = None
    payer_name: str = ""  # empty: a generated (Faker) cardholder name
    expiry: str = "01/27"


class Merchant(msgspec.Struct, frozen=True):
    client_id: str
    client_secret: str
    name: str
    terminals: tuple[Terminal, ...]
    callback_format: str = "current"  # or "legacy" (spec 5.4)
    callbacks_after_operations: bool = False
    saved_cards: tuple[SeedCard, ...] = ()
    shop_id: str = ""  # the cabinet's shop id that invoice links name (`shop_id`)
    cabinet_login: str = ""  # merchant-cabinet login for the password grant (empty: none)
    cabinet_password: str = ""

    def terminal(self, terminal_id: str) -> Terminal | None:
        for terminal in self.terminals:
            if terminal.id == terminal_id:
                return terminal
        return None


class Token(msgspec.Struct, frozen=True):
    access_token: str
    client_id: str
    kind: TokenKind
    scope: str
    expires_at: datetime  # wall-clock, on the mock's clock (`Clock.now()`)
    expires_in: int
    invoice_id: str | None = None
    amount: float | None = None
    currency: str | None = None
    terminal_id: str | None = None
    post_link: str | None = None
    failure_post_link: str | None = None
    secret_hash: str | None = None
    source: str | None = None  # the product a payment under this token belongs to (invoice-link)
    refresh_token: str = ""  # password grant: the refresh token issued with this token
    refresh: bool = False  # this record is a refresh token, never accepted as a bearer token


class Card(msgspec.Struct, frozen=True):
    """A payment card as the mock knows it. The full number never leaves the process."""

    pan: str
    mask: str  # first 6 + "..." + last 4
    card_type: str  # VISA, MasterCard, AMEX, ...
    issuer: str = "HALYK BANK"
    issuer_country: str = "KAZ"
    payer_name: str = ""
    expiry: str = ""


class SavedCard(msgspec.Struct, frozen=True):
    id: str
    client_id: str
    account_id: str
    card: Card
    created_at: datetime
    terminal_id: str = ""
    transaction_id: str = ""
    reference: str = ""
    int_reference: str = ""
    token: str = ""
    active: bool = True


class HistoryEntry(msgspec.Struct, frozen=True):
    at: datetime
    status: Status
    amount: float
    note: str = ""


class Transaction(msgspec.Struct, frozen=True):
    id: str
    client_id: str
    invoice_id: str
    amount: float  # current amount (after partial charge / refund)
    org_amount: float  # amount originally authorised
    currency: str
    terminal_id: str
    terminal_number: str
    status: Status
    created_at: datetime
    card: Card | None = None
    card_id: str | None = None  # saved card used or created
    invoice_id_alt: str = ""
    account_id: str = ""
    description: str = ""
    language: str = "RU"
    name: str = ""
    email: str = ""
    phone: str = ""
    data: str = ""
    ip: str = ""
    reference: str = ""
    int_reference: str = ""
    approval_code: str = ""
    reason: str = "success"
    reason_code: int = 0
    secure: bool = False
    charged_amount: float = 0.0
    refunded_amount: float = 0.0
    post_link: str | None = None
    failure_post_link: str | None = None
    secret_hash: str | None = None
    source: str = "cards/auth"  # or "payform"
    history: tuple[HistoryEntry, ...] = ()
    version: int = 0  # bumped by the store on every write (optimistic concurrency)


class CallbackMode(StrEnum):
    SEND = "send"
    DELAY = "delay"
    SKIP = "skip"
    TWICE = "twice"


class CallbackPlan(msgspec.Struct, frozen=True):
    """What happens to the postLink for one outcome."""

    mode: CallbackMode = CallbackMode.SEND
    delay_ms: int = 0


class OutcomeKind(StrEnum):
    APPROVE = "approve"
    DECLINE = "decline"
    DUPLICATE = "duplicate"
    SECURE3D = "secure3d"
    SERVER_ERROR = "server_error"
    HANG = "hang"
    DROP = "drop"


class Outcome(msgspec.Struct, frozen=True):
    """What the bank does with one payment attempt (decided by the scenario engine)."""

    kind: OutcomeKind = OutcomeKind.APPROVE
    reason_code: int = 0
    message: str = "success"
    http_status: int = 200
    body: str | None = None  # raw body for server errors; None means the bank's error JSON
    delay_ms: int = 0
    otp: str = "123456"  # the one-time code a 3-D Secure step accepts
    callback: CallbackPlan = CallbackPlan()
    rule: str = ""  # name of the scenario rule that decided it
    # server_error / hang / drop only: the bank still approves the payment (and sends its
    # callback) although the merchant never sees a good answer.
    records_approval: bool = False


APPROVED = Outcome()


class PaymentAttempt(msgspec.Struct, frozen=True):
    """One payment request as the scenario engine sees it (from cards/auth or the payment page)."""

    client_id: str
    invoice_id: str
    amount: float
    currency: str
    terminal_id: str
    description: str = ""
    account_id: str = ""
    invoice_id_alt: str = ""
    name: str = ""
    email: str = ""
    phone: str = ""
    language: str = "RU"
    data: str = ""
    card_pan: str | None = None  # full number when typed on the page or known from a saved card
    card_id: str | None = None  # saved card used (cards/auth, paymentType cardId)
    card_expiry: str = ""  # MM/YY as typed on the page
    card_cvc: str = ""
    card_save: bool = False
    scenario: str | None = None  # X-Mock-Scenario header: names a rule outright
    source: str = "cards/auth"  # or "payform"
    post_link: str | None = None
    failure_post_link: str | None = None
    secret_hash: str | None = None
    ip: str = ""


class OperationAttempt(msgspec.Struct, frozen=True):
    """A charge / cancel / refund request as the scenario engine sees it."""

    client_id: str
    operation: str  # "charge", "cancel" or "refund"
    transaction_id: str
    invoice_id: str
    amount: float  # the amount asked for (full amount when none was given)
    currency: str
    terminal_id: str
    account_id: str = ""
    card_pan: str | None = None
    card_id: str | None = None
    scenario: str | None = None  # X-Mock-Scenario header


# -- invoice links, QR bills and the outbox (issue 15) ------------------------------------


class LinkStatus(StrEnum):
    """An invoice link's `status` (ACTIVE and CHARGED are the bank's; the rest the mock's names)."""

    ACTIVE = "ACTIVE"
    CHARGED = "CHARGED"
    EXPIRED = "EXPIRED"
    CANCELLED = "CANCELLED"


class InvoiceLink(msgspec.Struct, frozen=True):
    """A payment link made by `POST /invoice` (spec 3.3); `fields` keeps the request's text fields."""

    id: str
    client_id: str
    shop_id: str
    terminal_id: str
    invoice_id: str
    amount: float
    currency: str
    created_at: datetime
    expires_at: datetime
    expire_period: str
    status: LinkStatus = LinkStatus.ACTIVE
    updated_at: datetime | None = None
    fields: tuple[tuple[str, Any], ...] = ()  # the other snake_case fields, as answered
    secret_hash: str | None = None
    transaction_id: str = ""
    version: int = 0

    def field(self, name: str, default: Any = "") -> Any:
        for key, value in self.fields:
            if key == name:
                return value
        return default

    def is_live(self, now: datetime) -> bool:
        """ACTIVE and not past its expiry, or CHARGED: a second link for its invoice is refused."""
        if self.status is LinkStatus.CHARGED:
            return True
        return self.status is LinkStatus.ACTIVE and self.expires_at > now


class QrStatus(StrEnum):
    """A QR bill's `status` (the SDK's values)."""

    NEW = "NEW"
    SCANNED = "SCANNED"
    BLOCKED = "BLOCKED"
    AUTH = "AUTH"
    PAID = "PAID"
    REJECTED = "REJECTED"

    @property
    def is_final(self) -> bool:
        return self in (QrStatus.PAID, QrStatus.REJECTED, QrStatus.AUTH)


class QrBill(msgspec.Struct, frozen=True):
    """A bill made by `POST /payment/qr/generate`, bound to its payment token's invoice."""

    bill_number: str
    client_id: str
    invoice_id: str
    amount: float
    currency: str
    terminal_id: str
    created_at: datetime
    token: str  # the access token it was generated under (a second generate returns this bill)
    status: QrStatus = QrStatus.NEW
    description: str = ""
    language: str = "RU"
    account_id: str = ""
    email: str = ""
    phone: str = ""
    post_link: str | None = None
    failure_post_link: str | None = None
    secret_hash: str | None = None
    outcome: Outcome | None = None  # decided when scanned; applied on approve
    transaction_id: str = ""
    ret_code: str = ""
    err_description: str = ""
    updated_at: datetime | None = None
    version: int = 0


class OutboxMessage(msgspec.Struct, frozen=True):
    """An e-mail or SMS the bank would have sent (never sent by the mock)."""

    id: str
    client_id: str
    channel: str  # "email" or "sms"
    to: str
    text: str
    invoice_id: str
    invoice_url: str
    sent_at: datetime
    link_id: str = ""


class Subscription(msgspec.Struct, frozen=True):
    """A bank-side recurring payment (`POST /recurrent/subscribe`): the saved card charged on a schedule.

    Renewal `n` (1-based) falls due `n` periods after `created_at`; `renewals` counts the
    renewals made so far (approved or declined), `charge_ids` names their transactions.
    """

    id: str
    client_id: str
    transaction_id: str  # the first payment
    invoice_id: str  # the first payment's invoice
    card_id: str
    account_id: str
    terminal_id: str
    amount: float
    currency: str
    frequency: str  # WEEKLY, MONTHLY or QUARTERLY
    created_at: datetime  # wall-clock, on the mock's clock
    ends_at: datetime  # `lastPaymentDate`: the end of the subscription's term
    reference: str = ""
    description: str = ""
    post_link: str | None = None
    failure_post_link: str | None = None
    active: bool = True
    renewals: int = 0
    charge_ids: tuple[str, ...] = ()
