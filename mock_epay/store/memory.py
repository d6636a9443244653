"""The in-memory store: the contract of `mock_epay.store.base` kept in dicts, bounded in size.

Fresh on every start (what CI wants). Each contract call runs under one lock, so every
invariant is an atomic check-and-set even when calls come from threads; from asyncio a
call never awaits, so it cannot interleave either. Expired tokens are swept (on the
mock's clock) and the oldest transactions are dropped past `max_transactions`. Invoice
links, QR bills, the outbox, subscriptions and transfers are `mock_epay.store.memory_products`.

`MemoryStore` adds the calls composed from the contract (`mock_epay.store.compose`);
`Store` is its old name.
"""

from __future__ import annotations

import hmac
import threading
from collections import OrderedDict, deque
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING

from mock_epay.core.clock import Clock
from mock_epay.core.fakedata import FakeData
from mock_epay.gateway.codes import GENERIC
from mock_epay.gateway.errors import EpayError
from mock_epay.gateway.lifecycle import not_found_error
from mock_epay.gateway.models import (
    Merchant,
    SavedCard,
    Terminal,
    Token,
    Transaction,
    evolve,
)
from mock_epay.store.base import (
    CardIdTaken,
    HoldNotFound,
    InvoiceReservation,
    JournalEntry,
    MerchantTaken,
    Secure3DHold,
    VersionConflict,
    duplicate_error,
    invoice_suffix,
)
from mock_epay.store.compose import ComposedCalls
from mock_epay.store.memory_products import MemoryProducts

if TYPE_CHECKING:  # checked against the contract, without the Protocol machinery at run time
    from mock_epay.store.base import Store as _Contract
else:
    _Contract = object

MAX_TOKENS = 20_000
SWEEP_BATCH = 64  # expired tokens dropped per `add_token`, oldest first


class MemoryBackend(MemoryProducts, _Contract):
    """The contract, in memory. Keeps no domain rules: it stores what it is given."""

    def __init__(self, clock: Clock, max_transactions: int = 20_000, journal_size: int = 500,
                 max_tokens: int = MAX_TOKENS) -> None:
        self.clock = clock
        self._lock = threading.RLock()
        self._max_transactions = max_transactions
        self._max_tokens = max_tokens
        self._merchants: dict[str, Merchant] = {}
        self._tokens: OrderedDict[str, Token] = OrderedDict()
        self._sweep_due = 0.0  # on the clock's monotonic scale: when the oldest token kept expires
        self._transactions: OrderedDict[str, Transaction] = OrderedDict()
        self._latest_by_invoice: dict[tuple[str, str], str] = {}
        self._succeeded_suffixes: dict[tuple[str, str], str] = {}
        self._in_flight: dict[tuple[str, str], int] = {}  # invoice or "~suffix" -> reservation number
        self._cards: dict[str, SavedCard] = {}
        self._secure3d: dict[str, Secure3DHold] = {}
        self._journal: deque[JournalEntry] = deque(maxlen=journal_size)
        self._secrets: dict[str, str] = {}
        self._init_products()

    # -- merchants ---------------------------------------------------------------

    def add_merchant(self, merchant: Merchant) -> None:
        with self._lock:
            self._merchants[merchant.client_id] = merchant

    def insert_merchant(self, merchant: Merchant) -> None:
        with self._lock:
            if merchant.client_id in self._merchants:
                raise MerchantTaken(f"client id {merchant.client_id!r} is taken")
            own = {t.id for t in merchant.terminals}
            for other in self._merchants.values():
                shared = own & {t.id for t in other.terminals}
                if shared:
                    raise MerchantTaken(f"terminal {min(shared)!r} belongs to merchant {other.client_id!r}")
            self._merchants[merchant.client_id] = merchant

    def remove_merchant(self, client_id: str) -> Merchant | None:
        with self._lock:
            merchant = self._merchants.pop(client_id, None)
            if merchant is None:
                return None
            self._forget(client_id)
            kept = [e for e in self._journal if len(e) < 8 or e[7] != client_id]
            self._journal = deque(kept, maxlen=self._journal.maxlen)
            return merchant

    def merchants(self) -> list[Merchant]:
        return list(self._merchants.values())

    def merchant(self, client_id: str) -> Merchant | None:
        return self._merchants.get(client_id)

    def authenticate_client(self, client_id: str, client_secret: str) -> Merchant | None:
        merchant = self._merchants.get(client_id)
        if merchant is None or not hmac.compare_digest(merchant.client_secret.encode(),
                                                        client_secret.encode()):
            return None
        return merchant

    def terminal_of(self, client_id: str, terminal_id: str) -> Terminal | None:
        merchant = self._merchants.get(client_id)
        return merchant.terminal(terminal_id) if merchant else None

    # -- tokens ------------------------------------------------------------------

    def add_token(self, token: Token) -> None:
        with self._lock:
            if self.clock.monotonic() >= self._sweep_due:
                self._sweep_tokens()
            self._tokens[token.access_token] = token
            while len(self._tokens) > self._max_tokens:
                self._tokens.popitem(last=False)

    def all_tokens(self) -> list[Token]:
        """Every token kept, oldest first (for `mock-epay export`)."""
        return list(self._tokens.values())

    def all_saved_cards(self) -> list[SavedCard]:
        """Every saved card, deactivated ones too, oldest first (for `mock-epay export`)."""
        return list(self._cards.values())

    def token(self, access_token: str) -> Token | None:
        return self._tokens.get(access_token)

    def _sweep_tokens(self) -> None:
        """Drop expired tokens from the oldest end (tokens are kept in issue order), `SWEEP_BATCH` at
        most, and note when the oldest one left expires: `add_token` sweeps again only then."""
        tokens = self._tokens
        now = self.clock.now()
        for _ in range(SWEEP_BATCH):
            if not tokens:
                self._sweep_due = 0.0
                return
            oldest = next(iter(tokens.values()))
            if oldest.expires_at > now:
                self._sweep_due = self.clock.monotonic() + (oldest.expires_at - now).total_seconds()
                return
            tokens.popitem(last=False)
        self._sweep_due = 0.0  # more may have expired: the next token sweeps on

    # -- invoices ----------------------------------------------------------------

    def reserve_invoice(self, client_id: str, invoice_id: str) -> InvoiceReservation:
        suffix = invoice_suffix(invoice_id)
        keys = ((client_id, invoice_id), (client_id, "~" + suffix))
        with self._lock:
            if (client_id, suffix) in self._succeeded_suffixes:
                raise duplicate_error()
            if keys[0] in self._in_flight or keys[1] in self._in_flight:
                raise duplicate_error()
            reservation = InvoiceReservation(client_id, invoice_id)
            for key in keys:
                self._in_flight[key] = reservation.number
            return reservation

    def release_invoice(self, reservation: InvoiceReservation) -> None:
        with self._lock:
            for key in self._reservation_keys(reservation):
                if self._in_flight.get(key) == reservation.number:
                    del self._in_flight[key]

    @staticmethod
    def _reservation_keys(reservation: InvoiceReservation) -> tuple[tuple[str, str], ...]:
        return ((reservation.client_id, reservation.invoice_id),
                (reservation.client_id, "~" + invoice_suffix(reservation.invoice_id)))

    def invoice_succeeded(self, client_id: str, invoice_id: str) -> bool:
        return (client_id, invoice_suffix(invoice_id)) in self._succeeded_suffixes

    # -- transactions ------------------------------------------------------------

    def insert_payment(self, reservation: InvoiceReservation, transaction: Transaction,
                       hold: Secure3DHold | None = None) -> Transaction:
        tx = evolve(transaction, version=0) if transaction.version else transaction
        with self._lock:
            if tx.id in self._transactions:
                raise ValueError(f"transaction {tx.id} is recorded already")
            self._insert_transaction(tx)
            if tx.status.is_success:
                self._succeeded_suffixes[(tx.client_id, invoice_suffix(tx.invoice_id))] = tx.id
            if hold is None:
                self.release_invoice(reservation)
            else:
                self._hand_over(reservation, hold)
            return tx

    def _hand_over(self, reservation: InvoiceReservation, hold: Secure3DHold) -> None:
        """The invoice stays reserved, now under the hold's reservation."""
        for key in self._reservation_keys(reservation):
            if self._in_flight.get(key) == reservation.number:
                del self._in_flight[key]
        for key in self._reservation_keys(hold.reservation):
            self._in_flight[key] = hold.reservation.number
        self._secure3d[hold.transaction_id] = hold

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
        tx = self._transactions.get(transaction_id)
        return tx if tx is not None and tx.client_id == client_id else None

    def transaction_for_invoice(self, client_id: str, invoice_id: str) -> Transaction | None:
        tx_id = self._latest_by_invoice.get((client_id, invoice_id))
        return self._transactions.get(tx_id) if tx_id else None

    def find_transaction(self, transaction_id: str) -> Transaction | None:
        return self._transactions.get(transaction_id)

    def transactions(self, client_id: str | None = None) -> list[Transaction]:
        with self._lock:
            found = reversed(self._transactions.values())
            return [tx for tx in found if client_id is None or tx.client_id == client_id]

    def replace_transaction(self, transaction: Transaction, expected_version: int) -> Transaction:
        with self._lock:
            current = self._transactions.get(transaction.id)
            if current is None or current.client_id != transaction.client_id:
                raise not_found_error()
            if current.version != expected_version:
                raise VersionConflict(transaction.id, expected_version, current.version)
            written = _versioned(transaction, expected_version + 1)
            self._transactions[written.id] = written
            if written.status.is_success:
                self._succeeded_suffixes[(written.client_id, invoice_suffix(written.invoice_id))] = written.id
            return written

    # -- 3-D Secure holds --------------------------------------------------------

    def add_secure3d_hold(self, hold: Secure3DHold) -> Secure3DHold:
        with self._lock:
            if hold.transaction_id not in self._transactions:
                raise not_found_error()
            taken = self.reserve_invoice(hold.client_id, hold.reservation.invoice_id)
            self._hand_over(taken, hold)
            return hold

    def secure3d_hold(self, transaction_id: str) -> Secure3DHold | None:
        return self._secure3d.get(transaction_id)

    def expired_secure3d(self, now: datetime) -> list[Secure3DHold]:
        if not self._secure3d:  # the common case, on every reservation: no lock needed
            return []
        with self._lock:
            return [hold for hold in self._secure3d.values() if hold.expires_at <= now]

    def end_secure3d(self, transaction_id: str, result: Transaction | None,
                     expected_version: int = 0) -> Secure3DHold:
        with self._lock:
            current = self._transactions.get(transaction_id)
            if transaction_id not in self._secure3d:
                raise HoldNotFound(transaction_id)
            if result is not None and current is not None and current.version != expected_version:
                raise VersionConflict(transaction_id, expected_version, current.version)
            hold = self._secure3d.pop(transaction_id)
            if result is not None and current is not None:
                written = _versioned(result, expected_version + 1)
                self._transactions[transaction_id] = written
                if written.status.is_success:
                    self._succeeded_suffixes[(written.client_id, invoice_suffix(written.invoice_id))] = \
                        written.id
            self.release_invoice(hold.reservation)
            return hold

    # -- saved cards -------------------------------------------------------------

    def insert_card(self, saved: SavedCard, *, replace: bool = False,
                    for_transaction: str | None = None) -> SavedCard:
        with self._lock:
            existing = self._cards.get(saved.id)
            if existing is not None and not (replace and existing.client_id == saved.client_id):
                raise CardIdTaken(saved.id, existing.client_id)
            if for_transaction is not None:
                tx = self.transaction(saved.client_id, for_transaction)
                if tx is None:
                    raise not_found_error()
                self._transactions[tx.id] = _with_card(tx, saved.id)
            self._cards[saved.id] = saved
            return saved

    def card(self, client_id: str, card_id: str) -> SavedCard | None:
        saved = self._cards.get(card_id)
        return saved if saved is not None and saved.client_id == client_id else None

    def card_id_taken(self, card_id: str) -> bool:
        return card_id in self._cards

    def cards_for_account(self, client_id: str, account_id: str) -> list[SavedCard]:
        return [c for c in list(self._cards.values())
                if c.client_id == client_id and c.account_id == account_id and c.active]

    def deactivate_card(self, client_id: str, card_id: str) -> SavedCard:
        with self._lock:
            saved = self.card(client_id, card_id)
            if saved is None:
                raise EpayError(400, GENERIC, f"card {card_id[:64]!r} not found")
            if not saved.active:
                raise EpayError(400, GENERIC, f"card {saved.id} is already deactivated")
            saved = self._cards[card_id] = evolve(saved, active=False)
            return saved

    # -- request journal ---------------------------------------------------------

    def journal_request(self, entry: JournalEntry) -> None:
        self._journal.append(entry)

    def journal(self, limit: int | None = None) -> list[JournalEntry]:
        entries = list(self._journal)
        return entries[-limit:] if limit else entries

    # -- secrets -----------------------------------------------------------------

    def get_secret(self, name: str) -> str | None:
        return self._secrets.get(name)

    def put_secret(self, name: str, value: str) -> str:
        with self._lock:
            return self._secrets.setdefault(name, value)

    # -- reset -------------------------------------------------------------------

    def reset(self, client_id: str | None = None) -> None:
        with self._lock:
            self._forget(client_id)
            if client_id is None:
                self._journal.clear()

    def _forget(self, client_id: str | None) -> None:
        """Drop the state of one merchant (or everyone's); the caller holds the lock."""
        def keep(owner: str) -> bool:
            return client_id is not None and owner != client_id

        self._tokens = OrderedDict((k, t) for k, t in self._tokens.items() if keep(t.client_id))
        self._transactions = OrderedDict(
            (k, t) for k, t in self._transactions.items() if keep(t.client_id)
        )
        self._latest_by_invoice = {k: v for k, v in self._latest_by_invoice.items() if keep(k[0])}
        self._succeeded_suffixes = {k: v for k, v in self._succeeded_suffixes.items() if keep(k[0])}
        self._in_flight = {k: v for k, v in self._in_flight.items() if keep(k[0])}
        self._secure3d = {k: h for k, h in self._secure3d.items() if keep(h.client_id)}
        self._cards = {k: c for k, c in self._cards.items() if keep(c.client_id)}
        self._forget_products(client_id)


def _with_card(tx: Transaction, card_id: str) -> Transaction:
    return evolve(tx, card_id=card_id, version=tx.version + 1)


def _versioned(tx: Transaction, version: int) -> Transaction:
    return tx if tx.version == version else evolve(tx, version=version)


class MemoryStore(ComposedCalls, MemoryBackend):
    """The default store: the in-memory contract plus the calls composed from it."""

    def __init__(
        self,
        merchants: Iterable[Merchant],
        clock: Clock,
        fake: FakeData,
        max_transactions: int = 20_000,
        journal_size: int = 500,
        max_tokens: int = MAX_TOKENS,
    ) -> None:
        MemoryBackend.__init__(self, clock, max_transactions, journal_size, max_tokens)
        ComposedCalls.__init__(self, merchants, fake)


Store = MemoryStore
