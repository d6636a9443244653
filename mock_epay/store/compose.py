"""The store's composed calls: the old, convenient API built from contract calls and lifecycle rules.

Written once for every backend (mixed into `MemoryStore` today, the SQL stores next):
each method makes its records with `mock_epay.gateway.lifecycle` (statuses, cards,
ids from the injected `FakeData`, auto-cancel and 3-D Secure expiry on the mock's
clock) and writes them with ONE atomic contract call, re-reading and re-deciding when
a write finds the transaction changed (`VersionConflict`).

Ids are made here, not in the backends: one seeded `FakeData` gives the same ids
whichever backend keeps them, and a backend only has to refuse a taken id.
"""

# mypy: disable-error-code="safe-super"
# (each `super()` call reaches the backend mixed in after ComposedCalls, not the Protocol's body)
from __future__ import annotations

import contextlib
from collections.abc import Iterable
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from mock_epay.core.fakedata import FakeData
from mock_epay.gateway import lifecycle
from mock_epay.gateway.lifecycle import Balances, Operation, not_found_error, plan_operation
from mock_epay.gateway.models import (
    CallbackPlan,
    Card,
    Merchant,
    Outcome,
    PaymentAttempt,
    SavedCard,
    Status,
    Transaction,
)
from mock_epay.settings import ConfigError
from mock_epay.store.base import (
    CardIdTaken,
    HoldNotFound,
    InvoiceReservation,
    OperationResult,
    Secure3DHold,
    VersionConflict,
)

if TYPE_CHECKING:
    from mock_epay.store.base import Store as _Contract

    _Base = _Contract
else:
    _Base = object

MAX_WRITE_ATTEMPTS = 50  # re-reads after a VersionConflict before giving up
ABANDONED_SECURE3D = 499  # reason code of a 3-D Secure step nobody finished in time
HOLD_CHECK_SECONDS = 1.0  # how often, at most, reservations look for expired holds of other processes


class ComposedCalls(_Base):
    """Calls made of lifecycle rules plus one contract call each; mixed into every backend."""

    def __init__(self, merchants: Iterable[Merchant], fake: FakeData) -> None:
        self.fake = fake
        self._next_hold_check: datetime | None = None  # None: look at the next reservation
        merchants = list(merchants)
        # Ids the config declares: a generated id never takes one, whatever the seeding order.
        self._declared_card_ids = {c.id for m in merchants for c in m.saved_cards if c.id}
        for merchant in merchants:
            self.add_merchant(merchant)

    def atomic(self) -> AbstractContextManager[Any]:
        """A plain block here: the memory backend commits nothing (the SQL stores override this)."""
        return contextlib.nullcontext()

    def _now(self) -> datetime:
        return self.clock.now()  # type: ignore[attr-defined, no-any-return]

    # -- merchants ---------------------------------------------------------------

    def add_merchant(self, merchant: Merchant) -> None:
        """Add (or change) a merchant and save the cards its config declares."""
        self._declared_card_ids.update(c.id for c in merchant.saved_cards if c.id)
        super().add_merchant(merchant)
        self._seed_cards(merchant)

    def insert_merchant(self, merchant: Merchant) -> None:
        """Add a new merchant (`MerchantTaken` when its client id or a terminal id is taken) and save
        its cards; when a card id turns out to be another merchant's, nothing stays (ConfigError)."""
        super().insert_merchant(merchant)
        try:
            self._seed_cards(merchant)
        except BaseException:
            super().remove_merchant(merchant.client_id)
            raise
        self._declared_card_ids.update(c.id for c in merchant.saved_cards if c.id)

    def remove_merchant(self, client_id: str) -> Merchant | None:
        """Forget a merchant with all its data; its card ids become free for others."""
        removed = super().remove_merchant(client_id)
        if removed is not None:
            self._declared_card_ids.difference_update(c.id for c in removed.saved_cards if c.id)
        return removed

    def _seed_cards(self, merchant: Merchant) -> None:
        """Save the cards the config declares (a generated cardholder name when none is given)."""
        for seed in merchant.saved_cards:
            card = self.make_card(seed.card_number, seed.payer_name or self.fake.payer_name(), seed.expiry)
            self.save_card(merchant.client_id, seed.account_id, card, card_id=seed.id)

    # -- payments ------------------------------------------------------------------

    def make_card(self, pan: str, payer_name: str = "", expiry: str = "") -> Card:
        return lifecycle.make_card(pan, payer_name, expiry)

    def reserve_invoice(self, client_id: str, invoice_id: str) -> InvoiceReservation:
        """Claim an invoice (abandoned 3-D Secure steps end first and free theirs)."""
        self._expire_secure3d()
        return super().reserve_invoice(client_id, invoice_id)

    def record_payment(
        self,
        reservation: InvoiceReservation,
        attempt: PaymentAttempt,
        outcome: Outcome,
        card: Card | None,
        card_id: str | None = None,
    ) -> Transaction:
        """Record the result of one payment attempt and release its invoice."""
        terminal = self.terminal_of(attempt.client_id, attempt.terminal_id)
        tx = lifecycle.new_transaction(attempt, outcome, terminal, card, card_id, self._now(), self.fake)
        return self.insert_payment(reservation, tx)

    # -- reads (an expired AUTH is auto-cancelled as it is read) --------------------

    def transaction(self, client_id: str, transaction_id: str) -> Transaction | None:
        """A transaction by UUID, only if it belongs to this merchant."""
        return self._current(super().transaction(client_id, transaction_id))

    def transaction_for_invoice(self, client_id: str, invoice_id: str) -> Transaction | None:
        return self._current(super().transaction_for_invoice(client_id, invoice_id))

    def find_transaction(self, transaction_id: str) -> Transaction | None:
        """A transaction by UUID, whichever merchant it belongs to (admin API only)."""
        return self._current(super().find_transaction(transaction_id))

    def transactions(self, client_id: str | None = None) -> list[Transaction]:
        return [self._current(tx) or tx for tx in super().transactions(client_id)]

    def _current(self, tx: Transaction | None) -> Transaction | None:
        """`tx`, or its CANCEL_OLD successor when its terminal's auto-cancel is due."""
        while tx is not None and tx.status is Status.AUTH:
            terminal = self.terminal_of(tx.client_id, tx.terminal_id)
            cancelled = lifecycle.auto_cancelled(tx, terminal, self._now())
            if cancelled is None:
                return tx
            try:
                return self.replace_transaction(cancelled, tx.version)
            except VersionConflict:
                tx = super().find_transaction(tx.id)
        return tx

    # -- operations (charge / cancel / refund) -----------------------------------

    def apply_operation(
        self,
        client_id: str,
        transaction_id: str,
        operation: Operation,
        amount: float | None = None,
        external_id: str = "",
    ) -> OperationResult:
        """Check and apply one operation, or raise the bank's 400.

        Unknown or another merchant's transaction: code 102. Wrong status or amount: code 100
        (the rules live in `mock_epay.gateway.lifecycle`). The write is conditional on the
        version read, so two concurrent operations can never both pass one check.
        """
        conflict: VersionConflict | None = None
        for _ in range(MAX_WRITE_ATTEMPTS):
            tx = self.transaction(client_id, transaction_id)
            if tx is None:
                raise not_found_error()
            transition = plan_operation(operation, Balances.of(tx), amount, tx.id)
            changed = lifecycle.after_operation(tx, operation, transition, external_id, self._now())
            try:
                written = self.replace_transaction(changed, tx.version)
            except VersionConflict as exc:
                conflict = exc
                continue
            return OperationResult(written, operation, transition.amount)
        assert conflict is not None
        raise conflict

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
        while True:
            saved = self._new_saved_card(client_id, account_id, card, card_id, transaction)
            try:
                return self.insert_card(saved, replace=card_id is not None,
                                        for_transaction=transaction.id if transaction else None)
            except CardIdTaken as taken:
                if card_id is not None:
                    raise ConfigError(f"saved card {card_id!r} belongs to two merchants, "
                                      f"{taken.owner!r} and {client_id!r}") from None

    def _new_saved_card(self, client_id: str, account_id: str, card: Card, card_id: str | None,
                        transaction: Transaction | None) -> SavedCard:
        if card_id is None:
            card_id = self.fake.uuid()
            while self.card_id_taken(card_id) or card_id in self._declared_card_ids:
                card_id = self.fake.uuid()
        return SavedCard(
            id=card_id,
            client_id=client_id,
            account_id=account_id,
            card=card,
            created_at=self._now(),
            terminal_id=transaction.terminal_id if transaction else "",
            transaction_id=transaction.id if transaction else "",
            reference=transaction.reference if transaction else self.fake.reference(),
            int_reference=transaction.int_reference if transaction else self.fake.int_reference(),
            token=self.fake.uuid().replace("-", "").upper(),
        )

    def attach_saved_card(self, tx: Transaction, card: Card) -> SavedCard:
        """Save the card of a successful payment under its accountId, empty or not (`cardSave: true`);
        the stored transaction gets its `card_id` in the same step (read it again to see it)."""
        return self.save_card(tx.client_id, tx.account_id, card, transaction=tx)

    # -- 3-D Secure step ---------------------------------------------------------

    def hold_for_secure3d(
        self,
        tx: Transaction,
        attempt: PaymentAttempt,
        otp: str,
        callback: CallbackPlan,
        ttl: float,
        context: dict[str, Any] | None = None,
    ) -> Secure3DHold:
        """Keep the invoice of a NEW (3-D Secure) transaction reserved until the step ends.

        Call it right after `record_payment`, with no `await` in between.
        """
        hold = Secure3DHold(
            transaction_id=tx.id,
            client_id=tx.client_id,
            otp=otp,
            callback=callback,
            attempt=attempt,
            reservation=InvoiceReservation(tx.client_id, tx.invoice_id),
            expires_at=lifecycle.expires_at(self._now(), ttl),
            context=MappingProxyType(dict(context or {})),
        )
        return self.add_secure3d_hold(hold)

    def add_secure3d_hold(self, hold: Secure3DHold) -> Secure3DHold:
        """Hold a NEW transaction (see the contract); its expiry is the next time holds are looked at."""
        kept = super().add_secure3d_hold(hold)
        if self._next_hold_check is not None:
            self._next_hold_check = min(self._next_hold_check, hold.expires_at)
        return kept

    def pending_secure3d(self, transaction_id: str) -> Secure3DHold | None:
        self._expire_secure3d()
        return self.secure3d_hold(transaction_id)

    def finish_secure3d(self, transaction_id: str, approved: bool, reason_code: int = 473) -> Transaction:
        """End a 3-D Secure step: the NEW transaction succeeds or fails with `reason_code` (status 3D).

        `HoldNotFound` when no step is pending (or another caller ended it first).
        """
        tx = super().find_transaction(transaction_id)
        if tx is None:
            self.end_secure3d(transaction_id, None)
            raise HoldNotFound(transaction_id)
        terminal = self.terminal_of(tx.client_id, tx.terminal_id)
        done = lifecycle.after_secure3d(tx, approved, reason_code, terminal, self._now(), self.fake)
        self.end_secure3d(transaction_id, done, tx.version)
        written = super().find_transaction(transaction_id)
        return written if written is not None else done

    def _expire_secure3d(self) -> None:
        """Abandoned 3-D Secure steps end as failed (499, code not entered) and free the invoice.

        Looked for when the earliest expiry of a hold this process made has come, and at least
        every HOLD_CHECK_SECONDS (on the mock's clock) for holds other processes made, rather than
        with a query on every reservation.
        """
        now = self._now()
        if self._next_hold_check is not None and now < self._next_hold_check:
            return
        self._next_hold_check = now + timedelta(seconds=HOLD_CHECK_SECONDS)
        for hold in self.expired_secure3d(now):
            with contextlib.suppress(HoldNotFound):  # someone else may have ended it meanwhile
                self.finish_secure3d(hold.transaction_id, approved=False, reason_code=ABANDONED_SECURE3D)

    # -- reset -------------------------------------------------------------------

    def reset(self, client_id: str | None = None) -> None:
        """Forget tokens, transactions and cards (of one merchant, or all); re-seed config cards."""
        super().reset(client_id)
        for merchant in self.merchants():
            if client_id is None or merchant.client_id == client_id:
                self._seed_cards(merchant)
