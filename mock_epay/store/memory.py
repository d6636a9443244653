"""The store: the only owner of state (merchants, tokens, transactions, saved cards, request journal).

It keeps the invariants: one invoice succeeds at most once per merchant (also by its
last six digits), concurrent payments for one invoice cannot both go through, one
merchant never reads another merchant's data. State is in memory and bounded:
expired tokens are swept and the oldest finished transactions are dropped past
`max_transactions`.

Everything here is synchronous: asyncio runs one handler step at a time, so a
check-and-set without an `await` in between is atomic.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from mock_epay.core.clock import Clock
from mock_epay.core.fakedata import FakeData, card_type
from mock_epay.core.pan import mask_pan
from mock_epay.gateway.codes import DUPLICATE_MESSAGE, GENERIC, THREE_D_SECURE_CODES, reason_message
from mock_epay.gateway.errors import EpayError
from mock_epay.gateway.lifecycle import Balances, Operation, auth_expired, not_found_error, plan_operation
from mock_epay.gateway.models import (
    CallbackPlan,
    Card,
    HistoryEntry,
    Merchant,
    Outcome,
    OutcomeKind,
    PaymentAttempt,
    SavedCard,
    Status,
    Terminal,
    Token,
    Transaction,
)
from mock_epay.settings import ConfigError

MAX_TOKENS = 20_000


def invoice_suffix(invoice_id: str) -> str:
    """The last six characters: the bank requires them unique among a merchant's orders."""
    return invoice_id[-6:]


def duplicate_error() -> EpayError:
    return EpayError(400, GENERIC, DUPLICATE_MESSAGE)


@dataclass(frozen=True, slots=True)
class OperationResult:
    """A charge, cancel or refund the store applied: the transaction after it and the amount moved."""

    transaction: Transaction
    operation: Operation
    amount: float


@dataclass(frozen=True, slots=True)
class InvoiceReservation:
    """Proof that a payment for this invoice is in flight; released when it finishes."""

    client_id: str
    invoice_id: str


@dataclass(slots=True)
class PendingSecure3D:
    """A payment waiting for its 3-D Secure step; its invoice stays reserved meanwhile."""

    transaction_id: str
    client_id: str
    otp: str
    callback: CallbackPlan
    attempt: PaymentAttempt
    reservation: InvoiceReservation
    expires_at: float  # on the clock's monotonic scale
    context: dict[str, Any]  # what the page needs to finish (links, widget mode, ...)


class Store:
    """In-memory state of the mock gateway."""

    def __init__(
        self,
        merchants: Iterable[Merchant],
        clock: Clock,
        fake: FakeData,
        max_transactions: int = 20_000,
        journal_size: int = 500,
        max_tokens: int = MAX_TOKENS,
    ) -> None:
        self.clock = clock
        self.fake = fake
        self._max_transactions = max_transactions
        self._max_tokens = max_tokens
        self._merchants: dict[str, Merchant] = {}
        self._terminal_owner: dict[str, str] = {}
        self._tokens: OrderedDict[str, Token] = OrderedDict()
        self._transactions: OrderedDict[str, Transaction] = OrderedDict()
        self._latest_by_invoice: dict[tuple[str, str], str] = {}
        self._succeeded_suffixes: dict[tuple[str, str], str] = {}
        self._in_flight: set[tuple[str, str]] = set()
        self._cards: dict[str, SavedCard] = {}
        self._secure3d: dict[str, PendingSecure3D] = {}
        self._journal: deque[tuple[Any, ...]] = deque(maxlen=journal_size)
        merchants = list(merchants)
        # Ids the config declares: a generated id never takes one, whatever the seeding order.
        self._declared_card_ids = {c.id for m in merchants for c in m.saved_cards if c.id}
        for merchant in merchants:
            self.add_merchant(merchant)

    # -- merchants ---------------------------------------------------------------

    def add_merchant(self, merchant: Merchant) -> None:
        self._declared_card_ids.update(c.id for c in merchant.saved_cards if c.id)
        self._merchants[merchant.client_id] = merchant
        for terminal in merchant.terminals:
            self._terminal_owner[terminal.id] = merchant.client_id
        self._seed_cards(merchant)

    def _seed_cards(self, merchant: Merchant) -> None:
        """Save the cards the config declares (a generated cardholder name when none is given)."""
        for seed in merchant.saved_cards:
            card = self.make_card(seed.card_number, seed.payer_name or self.fake.payer_name(), seed.expiry)
            self.save_card(merchant.client_id, seed.account_id, card, card_id=seed.id)

    def merchants(self) -> list[Merchant]:
        return list(self._merchants.values())

    def merchant(self, client_id: str) -> Merchant | None:
        return self._merchants.get(client_id)

    def authenticate_client(self, client_id: str, client_secret: str) -> Merchant | None:
        merchant = self._merchants.get(client_id)
        if merchant is None or merchant.client_secret != client_secret:
            return None
        return merchant

    def terminal_of(self, client_id: str, terminal_id: str) -> Terminal | None:
        merchant = self._merchants.get(client_id)
        return merchant.terminal(terminal_id) if merchant else None

    # -- tokens ------------------------------------------------------------------

    def add_token(self, token: Token) -> None:
        self._sweep_tokens()
        self._tokens[token.access_token] = token
        while len(self._tokens) > self._max_tokens:
            self._tokens.popitem(last=False)

    def token(self, access_token: str) -> Token | None:
        return self._tokens.get(access_token)

    def token_count(self) -> int:
        return len(self._tokens)

    def _sweep_tokens(self) -> None:
        """Drop expired tokens from the oldest end (tokens are kept in issue order)."""
        now = self.clock.monotonic()
        tokens = self._tokens
        for _ in range(64):
            if not tokens:
                return
            oldest = next(iter(tokens.values()))
            if oldest.expires_at > now:
                return
            tokens.popitem(last=False)

    # -- invoices ----------------------------------------------------------------

    def reserve_invoice(self, client_id: str, invoice_id: str) -> InvoiceReservation:
        """Claim an invoice for one payment attempt, or refuse it as a duplicate.

        A duplicate is an invoice (or last six digits) that already succeeded for this
        merchant, or one with another payment in flight right now.
        """
        suffix_key = (client_id, "~" + invoice_suffix(invoice_id))
        invoice_key = (client_id, invoice_id)
        self._expire_secure3d()
        if (client_id, invoice_suffix(invoice_id)) in self._succeeded_suffixes:
            raise duplicate_error()
        if invoice_key in self._in_flight or suffix_key in self._in_flight:
            raise duplicate_error()
        self._in_flight.add(invoice_key)
        self._in_flight.add(suffix_key)
        return InvoiceReservation(client_id, invoice_id)

    def release_invoice(self, reservation: InvoiceReservation) -> None:
        self._in_flight.discard((reservation.client_id, reservation.invoice_id))
        self._in_flight.discard(
            (reservation.client_id, "~" + invoice_suffix(reservation.invoice_id))
        )

    def invoice_succeeded(self, client_id: str, invoice_id: str) -> bool:
        return (client_id, invoice_suffix(invoice_id)) in self._succeeded_suffixes

    # -- transactions ------------------------------------------------------------

    def make_card(self, pan: str, payer_name: str = "", expiry: str = "") -> Card:
        return Card(
            pan=pan,
            mask=mask_pan(pan),
            card_type=card_type(pan),
            payer_name=payer_name,
            expiry=expiry,
        )

    def record_payment(
        self,
        reservation: InvoiceReservation,
        attempt: PaymentAttempt,
        outcome: Outcome,
        card: Card | None,
        card_id: str | None = None,
    ) -> Transaction:
        """Record the result of one payment attempt and release its invoice.

        Approvals become AUTH on a two-stage terminal and CHARGE on a one-stage one;
        declines become REJECT (3D for a failed 3-D Secure check).
        """
        terminal = self.terminal_of(attempt.client_id, attempt.terminal_id)
        status = self._status_for(outcome, terminal, attempt)
        approved = status.is_success
        now = self.clock.now()
        tx = Transaction(
            id=self.fake.uuid(),
            client_id=attempt.client_id,
            invoice_id=attempt.invoice_id,
            amount=attempt.amount,
            org_amount=attempt.amount,
            currency=attempt.currency,
            terminal_id=attempt.terminal_id,
            terminal_number=terminal.number if terminal else "",
            status=status,
            created_at=now,
            card=card,
            card_id=card_id,
            invoice_id_alt=attempt.invoice_id_alt,
            account_id=attempt.account_id,
            description=attempt.description,
            language=attempt.language,
            name=attempt.name or (card.payer_name if card else ""),
            email=attempt.email,
            phone=attempt.phone,
            data=attempt.data,
            ip=attempt.ip,
            reference=self.fake.reference(),
            int_reference=self.fake.int_reference(),
            approval_code=self.fake.approval_code() if approved else "",
            reason=outcome.message if not approved else "success",
            reason_code=0 if approved else outcome.reason_code,
            secure=outcome.kind is OutcomeKind.SECURE3D,
            charged_amount=attempt.amount if status is Status.CHARGE else 0.0,
            post_link=attempt.post_link,
            failure_post_link=attempt.failure_post_link,
            secret_hash=attempt.secret_hash,
            source=attempt.source,
        )
        tx.history.append(HistoryEntry(at=now, status=status, amount=attempt.amount,
                                       note=outcome.rule or outcome.kind.value))
        self._insert_transaction(tx)
        if approved:
            self._succeeded_suffixes[(attempt.client_id, invoice_suffix(attempt.invoice_id))] = tx.id
        self.release_invoice(reservation)
        return tx

    @staticmethod
    def _status_for(outcome: Outcome, terminal: Terminal | None, attempt: PaymentAttempt) -> Status:
        if outcome.kind is OutcomeKind.APPROVE:
            if attempt.amount == 0:
                return Status.VERIFIED
            return Status.AUTH if terminal and terminal.two_stage else Status.CHARGE
        if outcome.kind is OutcomeKind.SECURE3D:
            return Status.NEW
        if outcome.reason_code in THREE_D_SECURE_CODES:
            return Status.THREE_D
        return Status.REJECT

    def _insert_transaction(self, tx: Transaction) -> None:
        self._transactions[tx.id] = tx
        self._latest_by_invoice[(tx.client_id, tx.invoice_id)] = tx.id
        while len(self._transactions) > self._max_transactions:
            _, old = self._transactions.popitem(last=False)
            key = (old.client_id, old.invoice_id)
            if self._latest_by_invoice.get(key) == old.id:
                del self._latest_by_invoice[key]
            suffix_key = (old.client_id, invoice_suffix(old.invoice_id))
            if self._succeeded_suffixes.get(suffix_key) == old.id:
                del self._succeeded_suffixes[suffix_key]

    def transaction(self, client_id: str, transaction_id: str) -> Transaction | None:
        """A transaction by UUID, only if it belongs to this merchant."""
        tx = self._transactions.get(transaction_id)
        if tx is None or tx.client_id != client_id:
            return None
        return self._expire_auth(tx)

    def transaction_for_invoice(self, client_id: str, invoice_id: str) -> Transaction | None:
        tx_id = self._latest_by_invoice.get((client_id, invoice_id))
        tx = self._transactions.get(tx_id) if tx_id else None
        return self._expire_auth(tx) if tx else None

    def find_transaction(self, transaction_id: str) -> Transaction | None:
        """A transaction by UUID, whichever merchant it belongs to (admin API only)."""
        tx = self._transactions.get(transaction_id)
        return self._expire_auth(tx) if tx else None

    def transactions(self, client_id: str | None = None) -> Iterator[Transaction]:
        for tx in reversed(self._transactions.values()):
            if client_id is None or tx.client_id == client_id:
                yield self._expire_auth(tx)

    # -- operations (charge / cancel / refund) -----------------------------------

    def apply_operation(
        self,
        client_id: str,
        transaction_id: str,
        operation: Operation,
        amount: float | None = None,
        external_id: str = "",
    ) -> OperationResult:
        """Check and apply one operation atomically (no await inside), or raise the bank's 400.

        Unknown or another merchant's transaction: code 102. Wrong status or amount: code 100
        (the rules live in `mock_epay.gateway.lifecycle`).
        """
        tx = self.transaction(client_id, transaction_id)
        if tx is None:
            raise not_found_error()
        transition = plan_operation(operation, Balances.of(tx), amount, tx.id)
        new = transition.balances
        tx.status = new.status
        tx.amount = new.amount
        tx.charged_amount = new.charged_amount
        tx.refunded_amount = new.refunded_amount
        note = operation.value + (f" externalID={external_id}" if external_id else "")
        tx.history.append(
            HistoryEntry(at=self.clock.now(), status=new.status, amount=transition.amount, note=note)
        )
        return OperationResult(tx, operation, transition.amount)

    def _expire_auth(self, tx: Transaction) -> Transaction:
        """Release an AUTH older than its terminal's `auto_cancel_seconds` (status CANCEL_OLD)."""
        if tx.status is not Status.AUTH:
            return tx
        terminal = self.terminal_of(tx.client_id, tx.terminal_id)
        limit = terminal.auto_cancel_seconds if terminal else None
        if limit is None:
            return tx
        authorised_at = next(
            (h.at for h in reversed(tx.history) if h.status is Status.AUTH), tx.created_at
        )
        age = (self.clock.now() - authorised_at).total_seconds()
        if auth_expired(tx.status, age, limit):
            tx.status = Status.CANCEL_OLD
            tx.history.append(
                HistoryEntry(at=self.clock.now(), status=Status.CANCEL_OLD, amount=tx.org_amount,
                             note=f"auto-cancel after {limit:g} s")
            )
        return tx

    # -- saved cards -------------------------------------------------------------

    def save_card(
        self,
        client_id: str,
        account_id: str,
        card: Card,
        card_id: str | None = None,
        transaction: Transaction | None = None,
    ) -> SavedCard:
        """Keep a saved card under `card_id`, or under a fresh id unique across all merchants.

        A `card_id` another merchant already has is refused (ConfigError): card ids are
        global, and taking it over would hand that merchant's card to this one.
        """
        if card_id is not None:
            existing = self._cards.get(card_id)
            if existing is not None and existing.client_id != client_id:
                raise ConfigError(f"saved card {card_id!r} belongs to two merchants, "
                                 f"{existing.client_id!r} and {client_id!r}")
        else:
            card_id = self.fake.uuid()
            while card_id in self._cards or card_id in self._declared_card_ids:
                card_id = self.fake.uuid()
        saved = SavedCard(
            id=card_id,
            client_id=client_id,
            account_id=account_id,
            card=card,
            created_at=self.clock.now(),
            terminal_id=transaction.terminal_id if transaction else "",
            transaction_id=transaction.id if transaction else "",
            reference=transaction.reference if transaction else self.fake.reference(),
            int_reference=transaction.int_reference if transaction else self.fake.int_reference(),
            token=self.fake.uuid().replace("-", "").upper(),
        )
        self._cards[saved.id] = saved
        return saved

    def card(self, client_id: str, card_id: str) -> SavedCard | None:
        """A saved card by id, only if it belongs to this merchant."""
        saved = self._cards.get(card_id)
        if saved is None or saved.client_id != client_id:
            return None
        return saved

    def cards_for_account(self, client_id: str, account_id: str) -> list[SavedCard]:
        return [
            c for c in self._cards.values()
            if c.client_id == client_id and c.account_id == account_id and c.active
        ]

    def deactivate_card(self, client_id: str, card_id: str) -> SavedCard:
        """Deactivate this merchant's saved card; 400 when unknown, another's, or already inactive."""
        saved = self.card(client_id, card_id)
        if saved is None:
            raise EpayError(400, GENERIC, f"card {card_id[:64]!r} not found")
        if not saved.active:
            raise EpayError(400, GENERIC, f"card {saved.id} is already deactivated")
        saved.active = False
        return saved

    def attach_saved_card(self, tx: Transaction, card: Card) -> SavedCard:
        """Save the card of a successful payment under its accountId, empty or not (`cardSave: true`)."""
        saved = self.save_card(tx.client_id, tx.account_id, card, transaction=tx)
        tx.card_id = saved.id
        return saved

    # -- 3-D Secure step ---------------------------------------------------------

    def hold_for_secure3d(
        self,
        tx: Transaction,
        attempt: PaymentAttempt,
        otp: str,
        callback: CallbackPlan,
        ttl: float,
        context: dict[str, Any] | None = None,
    ) -> PendingSecure3D:
        """Keep the invoice of a NEW (3-D Secure) transaction reserved until the step ends.

        Call it right after `record_payment`, with no `await` in between.
        """
        reservation = self.reserve_invoice(tx.client_id, tx.invoice_id)
        pending = PendingSecure3D(
            transaction_id=tx.id,
            client_id=tx.client_id,
            otp=otp,
            callback=callback,
            attempt=attempt,
            reservation=reservation,
            expires_at=self.clock.monotonic() + ttl,
            context=dict(context or {}),
        )
        self._secure3d[tx.id] = pending
        return pending

    def pending_secure3d(self, transaction_id: str) -> PendingSecure3D | None:
        self._expire_secure3d()
        return self._secure3d.get(transaction_id)

    def finish_secure3d(self, transaction_id: str, approved: bool, reason_code: int = 473) -> Transaction:
        """End a 3-D Secure step: the NEW transaction succeeds or fails with `reason_code` (status 3D)."""
        pending = self._secure3d.pop(transaction_id)
        tx = self._transactions[transaction_id]
        terminal = self.terminal_of(tx.client_id, tx.terminal_id)
        if approved:
            if tx.org_amount == 0:
                tx.status = Status.VERIFIED
            else:
                tx.status = Status.AUTH if terminal and terminal.two_stage else Status.CHARGE
            tx.approval_code = self.fake.approval_code()
            tx.reason, tx.reason_code = "success", 0
            tx.charged_amount = tx.amount if tx.status is Status.CHARGE else 0.0
            self._succeeded_suffixes[(tx.client_id, invoice_suffix(tx.invoice_id))] = tx.id
        else:
            tx.status = Status.THREE_D
            tx.reason, tx.reason_code = reason_message(reason_code), reason_code
        tx.secure = True
        tx.history.append(HistoryEntry(at=self.clock.now(), status=tx.status, amount=tx.amount,
                                       note="3-D Secure passed" if approved else "3-D Secure failed"))
        self.release_invoice(pending.reservation)
        return tx

    def _expire_secure3d(self) -> None:
        """Abandoned 3-D Secure steps end as failed (499, code not entered) and free the invoice."""
        now = self.clock.monotonic()
        for tx_id in [k for k, p in self._secure3d.items() if p.expires_at <= now]:
            if tx_id in self._transactions:
                self.finish_secure3d(tx_id, approved=False, reason_code=499)
            else:
                self.release_invoice(self._secure3d.pop(tx_id).reservation)

    # -- request journal ---------------------------------------------------------

    def journal_request(self, entry: tuple[Any, ...]) -> None:
        """(epoch seconds, method, path, status, ms, request body, answer body) of one request."""
        self._journal.append(entry)

    def journal(self, limit: int | None = None) -> list[tuple[Any, ...]]:
        entries = list(self._journal)
        return entries[-limit:] if limit else entries

    # -- reset -------------------------------------------------------------------

    def reset(self, client_id: str | None = None) -> None:
        """Forget tokens, transactions and cards (of one merchant, or all); re-seed config cards."""
        def keep(owner: str) -> bool:
            return client_id is not None and owner != client_id

        self._tokens = OrderedDict((k, t) for k, t in self._tokens.items() if keep(t.client_id))
        self._transactions = OrderedDict(
            (k, t) for k, t in self._transactions.items() if keep(t.client_id)
        )
        self._latest_by_invoice = {k: v for k, v in self._latest_by_invoice.items() if keep(k[0])}
        self._succeeded_suffixes = {
            k: v for k, v in self._succeeded_suffixes.items() if keep(k[0])
        }
        self._in_flight = {k for k in self._in_flight if keep(k[0])}
        self._secure3d = {k: p for k, p in self._secure3d.items() if keep(p.client_id)}
        self._cards = {k: c for k, c in self._cards.items() if keep(c.client_id)}
        if client_id is None:
            self._journal.clear()
        for merchant in self._merchants.values():
            if not keep(merchant.client_id):
                self._seed_cards(merchant)
