"""Plain data: merchants, terminals, tokens, saved cards, transactions and outcomes.

No behaviour lives here beyond small derived properties; the store owns the
state and its invariants, the scenario engine produces `Outcome`s. The records the
store keeps (tokens, cards, saved cards, transactions and their history) and the
attempts made per request are frozen: a change is a new record (`evolve`) written
back through one store call, so no caller can change state behind the store's back.
Times that must survive a restart are wall-clock datetimes on the mock's clock.
`record` makes those frozen records as cheap to build and copy as mutable ones.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, fields
from datetime import datetime
from enum import StrEnum
from typing import Any, TypeVar

R = TypeVar("R")
_EVOLVERS: dict[type, Any] = {}


def record(cls: type[R]) -> type[R]:
    """Make a frozen, slotted dataclass cheap to build and to `evolve`, and still frozen.

    A frozen dataclass's `__init__` sets each field through `object.__setattr__` (about three
    times the cost of a plain assignment). Here a generated straight-line `__new__` fills an
    instance of a mutable twin class with the same slots, then turns it into `cls`
    (`__class__` assignment, allowed between identical slot layouts), so assignment after
    construction still raises `FrozenInstanceError`. Fields, equality, hash and repr stay the
    dataclass's own; `dataclasses.replace`, `copy` and pickling keep working.
    """
    names = tuple(f.name for f in fields(cls))  # type: ignore[arg-type]
    if getattr(cls, "__slots__", None) != names or "__weakref__" in names:
        raise TypeError(f"{cls.__name__}: record needs @dataclass(frozen=True, slots=True)")
    scope: dict[str, Any] = {"_new": object.__new__, "_cls": cls,
                             "_Twin": type(f"_{cls.__name__}Fields", (), {"__slots__": names})}
    params = []
    for f in fields(cls):  # type: ignore[arg-type]
        if f.default_factory is not dataclasses.MISSING or not f.init or f.kw_only:
            raise TypeError(f"{cls.__name__}.{f.name}: record fields are plain, with plain defaults")
        if f.default is dataclasses.MISSING:
            params.append(f.name)
        else:
            scope[f"_default_{f.name}"] = f.default
            params.append(f"{f.name}=_default_{f.name}")
    exec(_record_source(names, params), scope)  # noqa: S102 - source built from field names only
    cls.__new__ = scope["__new__"]  # type: ignore[method-assign]
    del cls.__init__  # object.__init__ now: __new__ did the work
    cls.__reduce__ = scope["__reduce__"]  # type: ignore[method-assign]
    _EVOLVERS[cls] = scope["_evolve"]
    return cls


def _record_source(names: tuple[str, ...], params: list[str]) -> str:
    fill = "".join(f"    self.{name} = {name}\n" for name in names)
    copy = "".join(f"    self.{name} = old.{name}\n" for name in names)
    values = "".join(f"self.{name}, " for name in names)
    return (
        f"def __new__(_record_cls, {', '.join(params)}):\n"
        f"    self = _new(_Twin)\n{fill}    self.__class__ = _record_cls\n    return self\n"
        f"def __reduce__(self):\n    return (type(self), ({values}))\n"
        f"def _evolve(old, changes):\n    self = _new(_Twin)\n{copy}"
        "    for name, value in changes.items():\n"
        "        try:\n            setattr(self, name, value)\n"
        "        except AttributeError:\n"
        "            raise TypeError(f'{_cls.__name__} has no field {name!r}') from None\n"
        "    self.__class__ = type(old)\n    return self\n"
    )


def evolve(record: R, **changes: Any) -> R:
    """A copy of a frozen record with `changes` (`dataclasses.replace` for other dataclasses;
    a straight-line copy for `record` classes: a transaction changes on every operation)."""
    copier = _EVOLVERS.get(type(record))
    if copier is None:
        return dataclasses.replace(record, **changes)  # type: ignore[type-var]
    return copier(record, changes)  # type: ignore[no-any-return]


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


@dataclass(frozen=True)
class Terminal:
    id: str  # the UUID merchants send as `terminal` / `terminalId`
    number: str  # the 8-digit processing terminal number shown as `terminal` in status
    two_stage: bool = False
    auto_cancel_seconds: float | None = None  # AUTH older than this becomes CANCEL_OLD


@dataclass(frozen=True)
class SeedCard:
    """A saved card declared in the config file for an accountId."""

    account_id: str
    card_number: str
    id: str | None = None
    payer_name: str = ""  # empty: a generated (Faker) cardholder name
    expiry: str = "01/27"


@dataclass(frozen=True)
class Merchant:
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


@record
@dataclass(frozen=True, slots=True)
class Token:
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


@record
@dataclass(frozen=True, slots=True)
class Card:
    """A payment card as the mock knows it. The full number never leaves the process."""

    pan: str
    mask: str  # first 6 + "..." + last 4
    card_type: str  # VISA, MasterCard, AMEX, ...
    issuer: str = "HALYK BANK"
    issuer_country: str = "KAZ"
    payer_name: str = ""
    expiry: str = ""


@record
@dataclass(frozen=True, slots=True)
class SavedCard:
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


@record
@dataclass(frozen=True, slots=True)
class HistoryEntry:
    at: datetime
    status: Status
    amount: float
    note: str = ""


@record
@dataclass(frozen=True, slots=True)
class Transaction:
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


@dataclass(frozen=True)
class CallbackPlan:
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


@dataclass(frozen=True)
class Outcome:
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


@record
@dataclass(frozen=True, slots=True)
class PaymentAttempt:
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


@record
@dataclass(frozen=True, slots=True)
class OperationAttempt:
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


@dataclass(frozen=True, slots=True)
class InvoiceLink:
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


@dataclass(frozen=True, slots=True)
class QrBill:
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


@dataclass(frozen=True, slots=True)
class OutboxMessage:
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


@dataclass(frozen=True, slots=True)
class Subscription:
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
