"""The store contract: what every backend (memory today; SQLite and PostgreSQL next) must provide.

One Protocol per kind of state, and `Store` combining them. Every invariant
is ONE call, which a backend makes atomic (a lock in memory; a transaction, row lock
or unique constraint in SQL):

* `reserve_invoice`: one payment in flight per invoice and per last six digits, and
  none once either succeeded for the merchant (duplicates are refused).
* `insert_payment`: record a transaction, mark its invoice succeeded when it did, and
  release its reservation or hand it over to a 3-D Secure hold.
* `end_secure3d`: remove a hold and write its result; exactly one caller wins.
* `replace_transaction`: write a changed transaction if, and only if, its version is
  still the one the caller read (optimistic concurrency; `VersionConflict` otherwise).
* `insert_card` (with the transaction it was saved from) and `deactivate_card`.
* `atomic()`: the calls made inside it commit together (a payment with the outbox row of the
  callback it causes, and the reservation it is made under), so a crash keeps all or none.
* `put_secret`: the first value written under a name wins (two processes making a key pair
  at once end up with one); `put_subscription` writes a subscription only if it is unchanged.

Records crossing the contract are frozen `msgspec.Struct`s (see `mock_epay.gateway.models`)
or fresh lists: nothing a caller holds can change the store's state. Backends keep no
domain rules: statuses, auto-cancel, card records and ids come from
`mock_epay.gateway.lifecycle`, and the calls built from them live in
`mock_epay.store.compose`. Calls scoped by `client_id` never see another merchant's data.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

import msgspec

from mock_epay.gateway.codes import DUPLICATE_MESSAGE, GENERIC, OPERATION_ERROR
from mock_epay.gateway.errors import EpayError
from mock_epay.gateway.lifecycle import Operation
from mock_epay.gateway.models import (
    CallbackPlan,
    InvoiceLink,
    Merchant,
    OutboxMessage,
    PaymentAttempt,
    QrBill,
    SavedCard,
    Subscription,
    Terminal,
    Token,
    Transaction,
)
from mock_epay.gateway.statements import StatementPage, StatementQuery
from mock_epay.gateway.transfer_records import Transfer

_reservation_numbers = itertools.count(1)


def invoice_suffix(invoice_id: str) -> str:
    """The last six characters: the bank requires them unique among a merchant's orders."""
    return invoice_id[-6:]


def duplicate_error() -> EpayError:
    return EpayError(400, GENERIC, DUPLICATE_MESSAGE)


class VersionConflict(EpayError):
    """The transaction changed since the caller read it; read it again and re-decide."""

    def __init__(self, transaction_id: str, expected: int, found: int) -> None:
        super().__init__(400, OPERATION_ERROR,
                         f"transaction {transaction_id} changed while this operation was applied "
                         f"(version {expected} expected, {found} found); retry the operation")
        self.transaction_id = transaction_id


class CardIdTaken(Exception):
    """A saved card id that already exists (for another merchant, or when not replacing)."""

    def __init__(self, card_id: str, owner: str) -> None:
        super().__init__(f"saved card id {card_id!r} is taken (merchant {owner!r})")
        self.card_id = card_id
        self.owner = owner


class MerchantTaken(Exception):
    """A merchant whose client id (or one of whose terminal ids) another merchant has already."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


class HoldNotFound(LookupError):
    """No 3-D Secure hold for this transaction (never made, or already ended by someone else)."""


@dataclass(frozen=True, slots=True)
class InvoiceReservation:
    """Proof that a payment for this invoice is in flight; released when it finishes.

    `number` tells reservations of one invoice apart, so releasing a stale one never frees
    the invoice for a newer holder. A dataclass, not a `msgspec.Struct` like the records: only a
    dataclass can leave one field (`number`) out of equality.
    """

    client_id: str
    invoice_id: str
    number: int = field(default_factory=lambda: next(_reservation_numbers), compare=False)


class Secure3DHold(msgspec.Struct, frozen=True):
    """A payment waiting for its 3-D Secure step; its invoice stays reserved meanwhile."""

    transaction_id: str
    client_id: str
    otp: str
    callback: CallbackPlan
    attempt: PaymentAttempt
    reservation: InvoiceReservation
    expires_at: datetime  # wall-clock, on the mock's clock
    context: Mapping[str, Any]  # what the page needs to finish (links, widget mode, ...)


PendingSecure3D = Secure3DHold  # the name callers used before the contract


class OperationResult(msgspec.Struct, frozen=True):
    """A charge, cancel or refund the store applied: the transaction after it and the amount moved."""

    transaction: Transaction
    operation: Operation
    amount: float


# (epoch seconds, method, path, status, ms, request body, answer body[, client id]): the eighth item,
# when present and not None, names the merchant the request was made for (see `remove_merchant`).
JournalEntry = tuple[Any, ...]


class MerchantStore(Protocol):
    def add_merchant(self, merchant: Merchant) -> None:
        """Add or replace a merchant (runtime changes included); its terminals become its own."""
    def insert_merchant(self, merchant: Merchant) -> None:
        """Add a new merchant; `MerchantTaken` (nothing written) when its client id or one of its
        terminal ids belongs to a merchant already."""
    def remove_merchant(self, client_id: str) -> Merchant | None:
        """Forget a merchant and everything it owns, in one step: its tokens, transactions,
        reservations, 3-D Secure holds, saved cards and the journal entries made for it. The
        removed merchant, or None when unknown."""
    def merchants(self) -> list[Merchant]: ...
    def merchant(self, client_id: str) -> Merchant | None: ...
    def authenticate_client(self, client_id: str, client_secret: str) -> Merchant | None: ...
    def terminal_of(self, client_id: str, terminal_id: str) -> Terminal | None: ...


class TokenStore(Protocol):
    def add_token(self, token: Token) -> None:
        """Keep a token; expired ones (on the mock's clock) and the oldest past the cap may go."""
    def token(self, access_token: str) -> Token | None:
        """The token as issued, expired or not (the caller checks `expires_at`)."""


class PaymentStore(Protocol):
    def reserve_invoice(self, client_id: str, invoice_id: str) -> InvoiceReservation:
        """Claim an invoice for one attempt; the duplicate error when it (or its last six
        digits) succeeded already or another attempt holds it."""
    def release_invoice(self, reservation: InvoiceReservation) -> None:
        """Free a reservation; a no-op when it was released or handed over already."""
    def invoice_succeeded(self, client_id: str, invoice_id: str) -> bool: ...
    def insert_payment(
        self, reservation: InvoiceReservation, transaction: Transaction, hold: Secure3DHold | None = None
    ) -> Transaction:
        """Record a new transaction (version 0); mark its invoice succeeded when its status is
        a success; release `reservation`, or keep the invoice reserved under `hold`."""
    def transaction(self, client_id: str, transaction_id: str) -> Transaction | None: ...
    def transaction_for_invoice(self, client_id: str, invoice_id: str) -> Transaction | None:
        """The latest transaction of this merchant's invoice."""
    def find_transaction(self, transaction_id: str) -> Transaction | None:
        """Any merchant's transaction (admin API only)."""
    def transactions(self, client_id: str | None = None) -> list[Transaction]:
        """Newest first; one merchant's, or everyone's with None."""
    def replace_transaction(self, transaction: Transaction, expected_version: int) -> Transaction:
        """Write a changed transaction (same id and merchant) if its stored version is still
        `expected_version`; the written record has version + 1. `VersionConflict` otherwise,
        the not-found error when it is unknown or another merchant's."""
    def add_secure3d_hold(self, hold: Secure3DHold) -> Secure3DHold:
        """Hold an already recorded NEW transaction for its 3-D Secure step, reserving its
        invoice again under `hold.reservation` (the duplicate error when it is taken)."""
    def secure3d_hold(self, transaction_id: str) -> Secure3DHold | None: ...
    def expired_secure3d(self, now: datetime) -> list[Secure3DHold]:
        """Holds whose `expires_at` is at or before `now`."""
    def end_secure3d(
        self, transaction_id: str, result: Transaction | None, expected_version: int = 0
    ) -> Secure3DHold:
        """Remove the hold, write `result` (when its transaction still exists, and only if its
        stored version is still `expected_version`), mark the invoice succeeded when it did,
        free the reservation. `HoldNotFound` for every caller but one."""


class CardStore(Protocol):
    def insert_card(
        self, saved: SavedCard, *, replace: bool = False, for_transaction: str | None = None
    ) -> SavedCard:
        """Keep a saved card under its id. `CardIdTaken` when the id exists, unless `replace`
        and it is this merchant's. With `for_transaction`, that transaction (of the same
        merchant) gets `card_id` in the same step."""
    def card(self, client_id: str, card_id: str) -> SavedCard | None: ...
    def card_id_taken(self, card_id: str) -> bool: ...
    def cards_for_account(self, client_id: str, account_id: str) -> list[SavedCard]:
        """Active cards of one account, oldest first."""
    def deactivate_card(self, client_id: str, card_id: str) -> SavedCard:
        """Deactivate once; the bank's 400 when unknown, another merchant's, or inactive."""


class SecretStore(Protocol):
    """Named secrets of the sandbox (its RSA key pair); they survive `reset`."""

    def get_secret(self, name: str) -> str | None: ...
    def put_secret(self, name: str, value: str) -> str:
        """Keep `value` under `name` unless a value is kept already; return the kept value."""


class SubscriptionStore(Protocol):
    """Bank-side recurring payments (`/recurrent/subscribe`), one per first transaction."""

    def put_subscription(self, subscription: Subscription, expected: Subscription | None = None) -> bool:
        """Write `subscription` if the stored one (by id) is still `expected` (None: no such id, and
        no subscription yet for its transaction); False otherwise, and nothing is written."""
    def subscription(self, client_id: str, subscription_id: str) -> Subscription | None: ...
    def subscription_for_transaction(self, client_id: str, transaction_id: str) -> Subscription | None: ...
    def subscriptions(self, client_id: str | None = None) -> list[Subscription]:
        """Oldest first; one merchant's, or everyone's with None."""


class JournalStore(Protocol):
    def journal_request(self, entry: JournalEntry) -> None:
        """Keep one request; only the last `journal_size` are kept."""
    def journal(self, limit: int | None = None) -> list[JournalEntry]:
        """Oldest first; the last `limit` with a limit."""


class StoredDelivery(msgspec.Struct, frozen=True):
    """One callback delivery as a durable store keeps it: the queried fields beside the record.

    `due_at` is wall-clock epoch seconds on the mock's clock (survives a restart); `record`
    is the delivery's JSON, which only `mock_epay.callbacks.delivery_log` reads and writes.
    """

    id: str
    client_id: str
    invoice_id: str
    transaction_id: str
    status: str  # "pending", "delivered", "failed", "skipped"
    due_at: float
    record: bytes


@runtime_checkable
class DeliveryStore(Protocol):
    """The callback outbox and delivery log of a durable backend, so pending callbacks survive a
    restart and exactly one process sends each attempt. The memory backend has none: the
    dispatcher's own `DeliveryLog` is the log there."""

    def save_delivery(self, delivery: StoredDelivery) -> None:
        """Insert or update one delivery and release its claim; final ones past the cap may go."""
    def deliveries(self) -> list[StoredDelivery]:
        """Every kept delivery, oldest first."""
    def stored_delivery(self, delivery_id: str) -> StoredDelivery | None: ...
    def claimable_delivery_ids(self, now: float, due_by: float = math.inf) -> list[str]:
        """The ids of pending deliveries with no live claim that are due by `due_by`, oldest first."""
    def claim_delivery(self, delivery_id: str, owner: str, now: float, lease: float) -> StoredDelivery | None:
        """Claim the next attempt of a pending delivery that is due, for `owner` until `now + lease`;
        None when it is final, not due, or another owner's lease still runs."""
    def save_deliveries(self, deliveries: list[StoredDelivery]) -> None:
        """`save_delivery` of each, in order, as one call (one statement where the backend can)."""
    def queue_delivery(self, delivery: StoredDelivery, owner: str, now: float, lease: float) -> bool:
        """`save_delivery` of a delivery just queued, then `claim_delivery` of its first attempt for
        `owner`, as one call (one statement where the backend can); whether it was claimed."""
    def forget_deliveries(self, client_id: str | None = None, *, pending_too: bool = False) -> None:
        """Drop final deliveries (of one merchant, or all); pending ones too with `pending_too`."""


@runtime_checkable
class ScenarioStateStore(Protocol):
    """Where a durable backend keeps the scenario engine's overrides and sequence positions."""

    def scenario_steps(self) -> list[tuple[str, str, str, int]]:
        """(rule, client_id, key, next step), oldest first."""
    def save_scenario_step(self, rule: str, client_id: str, key: str, step: int) -> None: ...
    def forget_scenario_steps(self, client_id: str | None = None) -> None: ...
    def scenario_overrides(self) -> list[Any]:
        """The active overrides as saved: JSON values ([spec, uses left] pairs, top first)."""
    def save_scenario_overrides(self, overrides: list[Any]) -> None: ...


class TransactionScope(Protocol):
    """Several calls committed as one: given by every store (`mock_epay.store.compose.ComposedCalls`)."""

    def atomic(self) -> AbstractContextManager[Any]:
        """A scope whose calls commit as ONE transaction: a crash keeps all of them or none, and
        an exception inside undoes them on a SQL backend. Nested scopes join the outer one; each
        call keeps its own invariant check (a unique key or row lock inside the transaction).
        Never `await` inside: on a SQL backend the scope is the process's connection's transaction,
        which any other task's call would join. In memory nothing is committed: a plain block."""


# -- invoice links, QR bills and the outbox (issue 15) ----------------------------------------


class RecordConflict(EpayError):
    """A link or bill changed since the caller read it (optimistic concurrency, as transactions)."""

    def __init__(self, kind: str, record_id: str) -> None:
        super().__init__(400, GENERIC, f"{kind} {record_id} changed while it was updated; retry")


class LinkStore(Protocol):
    def insert_link(self, link: InvoiceLink, now: datetime) -> InvoiceLink:
        """Record a new link; the duplicate error when the same merchant, shop and invoice has a
        link that is live at `now` (`InvoiceLink.is_live`)."""
    def link(self, client_id: str, link_id: str) -> InvoiceLink | None: ...
    def find_link(self, link_id: str) -> InvoiceLink | None:
        """Any merchant's link (the buyer's page knows only the id)."""
    def links(self, client_id: str | None = None) -> list[InvoiceLink]:
        """Newest first; one merchant's, or everyone's with None."""
    def replace_link(self, link: InvoiceLink, expected_version: int) -> InvoiceLink:
        """Write a changed link if its stored version is still `expected_version` (version + 1);
        `RecordConflict` otherwise."""


class QrStore(Protocol):
    def insert_bill(self, bill: QrBill) -> QrBill:
        """Record a new bill (`ValueError` when its number is taken)."""
    def bill(self, client_id: str, bill_number: str) -> QrBill | None: ...
    def find_bill(self, bill_number: str) -> QrBill | None:
        """Any merchant's bill (the Homebank-app simulator and the admin API)."""
    def bills(self, client_id: str | None = None) -> list[QrBill]:
        """Newest first."""
    def bill_for_invoice(self, client_id: str, invoice_id: str) -> QrBill | None:
        """The latest bill of this merchant's invoice."""
    def replace_bill(self, bill: QrBill, expected_version: int) -> QrBill:
        """As `replace_link`, for bills."""


class OutboxStore(Protocol):
    def add_message(self, message: OutboxMessage) -> None:
        """Keep one e-mail or SMS; only the newest `outbox_size` are kept."""
    def messages(self, client_id: str | None = None) -> list[OutboxMessage]:
        """Oldest first; one merchant's, or everyone's with None."""


# -- transfers and statements (P2P / AFT / OCT; POST /operations, /p2p/operations) -----------------


class TransferStore(Protocol):
    """Transfers, kept apart from payments: a payment read never returns one.

    `insert_transfer` is the invariant: one successful transfer per merchant and order id
    (the duplicate error for a second one), checked and written in one step.
    """

    def insert_transfer(self, transfer: Transfer) -> Transfer:
        """Record a transfer attempt; the duplicate error when its order already has a successful one."""
    def transfer_succeeded(self, client_id: str, order_id: str) -> bool: ...
    def transfer_for_order(self, client_id: str, order_id: str) -> Transfer | None:
        """The latest transfer of this merchant's order."""
    def transfers(self, client_id: str | None = None) -> list[Transfer]:
        """Newest first; one merchant's, or everyone's with None."""


class StatementStore(Protocol):
    """The statement search. The query arrives parsed and validated (`StatementQuery`: typed
    conditions ANDed, orderings, offset and size), so a SQL backend can translate it whole
    (`mock_epay.gateway.statements.FIELDS` names each filter's column)."""

    def search_statement(self, client_id: str, query: StatementQuery) -> StatementPage:
        """This merchant's payments (or transfers, by `query.source`) that match, ordered and paged;
        `total` counts every match before paging."""


class Store(MerchantStore, TokenStore, PaymentStore, CardStore, SecretStore, SubscriptionStore, JournalStore,
            LinkStore, QrStore, OutboxStore, TransferStore, StatementStore, Protocol):
    """All the state of one sandbox."""

    def reset(self, client_id: str | None = None) -> None:
        """Forget tokens, transactions, holds, reservations, cards, subscriptions, links, bills,
        outbox messages and transfers of one merchant (or all, with the journal); merchants and
        secrets stay."""
