"""One payment attempt, end to end: reserve the invoice, ask the engine, record, queue the callback.

Both the server-to-server payment (`cards/auth`) and the hosted payment page build their
attempt with `payment_attempt` and call `run_payment` (or, where the answer is made without
awaiting, `begin_payment`: the fast lane's `cards/auth`); the handlers only turn the returned
`PaymentResult` into HTTP. Which outcomes record a transaction is the outcome table's call
(gateway/outcomes.py). A hang waits on `client_gone`, a plain callable the handler passes in.
"""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

import msgspec

from mock_epay.gateway.codes import GENERIC, SECURE3D_FAILED
from mock_epay.gateway.errors import EpayError
from mock_epay.gateway.models import Card, Outcome, OutcomeKind, PaymentAttempt, Token, Transaction
from mock_epay.gateway.outcomes import entry_for
from mock_epay.gateway.service import Gateway
from mock_epay.gateway.tokens import may_read_invoice

if TYPE_CHECKING:
    from mock_epay.store.base import InvoiceReservation

ClientGone = Callable[[], bool]  # True once the client has closed its connection
_POLL_SECONDS = 0.05


class PaymentResult(msgspec.Struct, frozen=True):
    outcome: Outcome
    transaction: Transaction | None


class OrderFields(Protocol):
    """What a payment request says about the order (a cards/auth body or a payment-page object)."""

    @property
    def invoice_id(self) -> str: ...

    @property
    def amount(self) -> float: ...

    @property
    def currency(self) -> str: ...

    @property
    def terminal_id(self) -> str: ...

    @property
    def description(self) -> str: ...

    @property
    def account_id(self) -> str: ...

    @property
    def invoice_id_alt(self) -> str: ...

    @property
    def name(self) -> str: ...

    @property
    def email(self) -> str: ...

    @property
    def phone(self) -> str: ...

    @property
    def language(self) -> str: ...

    @property
    def data(self) -> str: ...

    @property
    def post_link(self) -> str | None: ...

    @property
    def failure_post_link(self) -> str | None: ...


def payment_attempt(
    order: OrderFields,
    token: Token,
    *,
    source: str,
    card_pan: str | None,
    card_id: str | None = None,
    scenario: str | None = None,
    ip: str = "",
    account_id: str = "",
    name: str = "",
    email: str = "",
    phone: str = "",
    card_expiry: str = "",
    card_cvc: str = "",
    card_save: bool = False,
) -> PaymentAttempt:
    """The attempt for `order` paid under `token`: the token's links are the fallback for the
    order's, and `account_id` / `name` / `email` / `phone`, when given, win over the order's."""
    return PaymentAttempt(
        client_id=token.client_id,
        invoice_id=order.invoice_id,
        amount=order.amount,
        currency=order.currency,
        terminal_id=order.terminal_id,
        description=order.description,
        account_id=account_id or order.account_id,
        invoice_id_alt=order.invoice_id_alt,
        name=name or order.name,
        email=email or order.email,
        phone=phone or order.phone,
        language=order.language,
        data=order.data,
        card_pan=card_pan,
        card_id=card_id,
        card_expiry=card_expiry,
        card_cvc=card_cvc,
        card_save=card_save,
        scenario=scenario,
        source=token.source or source,  # a token made for a product (invoice-link) names it
        post_link=order.post_link or token.post_link,
        failure_post_link=order.failure_post_link or token.failure_post_link,
        secret_hash=token.secret_hash,
        ip=ip,
    )


async def hold_until_gone(client_gone: ClientGone | None, limit: float) -> bool:
    """Hold the answer until the client goes away (True) or `limit` seconds pass (False)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while (left := deadline - loop.time()) > 0:
        if client_gone is not None and client_gone():
            return True
        await asyncio.sleep(min(_POLL_SECONDS, left))
    return False


async def run_payment(
    gateway: Gateway,
    attempt: PaymentAttempt,
    card: Card | None,
    card_id: str | None = None,
    secure3d_context: dict[str, Any] | None = None,
    client_gone: ClientGone | None = None,
) -> PaymentResult:
    """Decide and record one attempt; raises the duplicate error when the invoice is taken.

    `begin_payment`, and when the outcome waits (a delay, a hang) its `WaitingPayment.finish`.
    """
    begun = begin_payment(gateway, attempt, card, card_id, secure3d_context)
    if isinstance(begun, WaitingPayment):
        return await begun.finish(client_gone)
    return begun


def begin_payment(
    gateway: Gateway,
    attempt: PaymentAttempt,
    card: Card | None,
    card_id: str | None = None,
    secure3d_context: dict[str, Any] | None = None,
) -> PaymentResult | WaitingPayment:
    """Decide one attempt and, unless its outcome waits, record it (synchronous: no loop turn between
    the reservation, the record and its callback); raises the duplicate error when the invoice is taken.

    A successful attempt with `card_save` saves the card first (under its `account_id`, an
    empty one when none was sent), so the callback carries `cardId`. A 3-D Secure outcome
    leaves the transaction NEW with its invoice reserved (remembering `secure3d_context`)
    until `finish_secure3d`. An outcome that waits keeps the invoice reserved and is recorded by
    the returned `WaitingPayment.finish`, which the caller must await.
    """
    store = gateway.store
    with store.atomic():  # nothing to wait for: the reservation, the record and its callback commit once
        reservation = store.reserve_invoice(attempt.client_id, attempt.invoice_id)
        try:
            outcome = gateway.engine.decide(attempt)
            if _waits(outcome):
                return WaitingPayment(gateway, reservation, attempt, outcome, card, card_id, secure3d_context)
            result = _settle(gateway, reservation, attempt, outcome, card, card_id, secure3d_context)
        except BaseException:
            store.release_invoice(reservation)
            raise
        if not _held(result):
            store.release_invoice(reservation)
        return result


class WaitingPayment(msgspec.Struct):
    """A decided attempt whose outcome waits (a delay, a hang) before it is recorded; its invoice
    stays reserved until `finish` ends."""

    gateway: Gateway
    reservation: InvoiceReservation
    attempt: PaymentAttempt
    outcome: Outcome
    card: Card | None
    card_id: str | None
    secure3d_context: dict[str, Any] | None

    async def finish(self, client_gone: ClientGone | None = None) -> PaymentResult:
        """Wait as the outcome says, then record it. `client_gone` lets a `hang` outcome notice when
        the client gives up; without it a hang lasts the full `scenario_hang_seconds`."""
        gateway, outcome, store = self.gateway, self.outcome, self.gateway.store
        result = None
        try:
            if outcome.delay_ms:
                await asyncio.sleep(outcome.delay_ms / 1000)  # already scaled by the engine
            with store.atomic():
                result = _settle(gateway, self.reservation, self.attempt, outcome, self.card, self.card_id,
                                 self.secure3d_context)
            if outcome.kind is OutcomeKind.HANG:
                await hold_until_gone(client_gone, gateway.settings.scenario_hang_seconds)
            return result
        finally:
            if not _held(result):
                store.release_invoice(self.reservation)


def _waits(outcome: Outcome) -> bool:
    """Whether the attempt awaits something (a delay, a hang) between its reservation and its answer."""
    return bool(outcome.delay_ms) or outcome.kind is OutcomeKind.HANG


def _held(result: PaymentResult | None) -> bool:
    """Whether a 3-D Secure hold owns the invoice now (it is then not released here)."""
    return result is not None and result.outcome.kind is OutcomeKind.SECURE3D


def _settle(
    gateway: Gateway,
    reservation: InvoiceReservation,
    attempt: PaymentAttempt,
    outcome: Outcome,
    card: Card | None,
    card_id: str | None,
    secure3d_context: dict[str, Any] | None,
) -> PaymentResult:
    """Record the decided attempt and queue its callback (synchronous: it runs inside `atomic()`)."""
    store = gateway.store
    if not entry_for(outcome.kind).records:
        tx = None
        if outcome.records_approval:
            approved = Outcome(rule=outcome.rule, callback=outcome.callback)
            tx = store.record_payment(reservation, attempt, approved, card, card_id)
            tx = _save_card_if_asked(gateway, tx, attempt, card, card_id)
            gateway.callbacks.payment_finished(tx, outcome.callback)
        return PaymentResult(outcome, tx)
    tx = store.record_payment(reservation, attempt, outcome, card, card_id)
    if outcome.kind is OutcomeKind.SECURE3D:
        store.hold_for_secure3d(tx, attempt, outcome.otp, outcome.callback,
                                ttl=gateway.settings.payment_token_ttl, context=secure3d_context)
        return PaymentResult(outcome, tx)
    tx = _save_card_if_asked(gateway, tx, attempt, card, card_id)
    gateway.callbacks.payment_finished(tx, outcome.callback)
    return PaymentResult(outcome, tx)


def _save_card_if_asked(
    gateway: Gateway, tx: Transaction, attempt: PaymentAttempt, card: Card | None, card_id: str | None
) -> Transaction:
    """The transaction after saving its card when asked (it then carries `card_id`)."""
    if tx.status.is_success and attempt.card_save and card and not card_id:
        gateway.store.attach_saved_card(tx, card)
        return gateway.store.transaction(tx.client_id, tx.id) or tx
    return tx


def finish_secure3d(
    gateway: Gateway, transaction_id: str, code: str = "", passed: bool | None = None
) -> Transaction:
    """Finish a pending 3-D Secure step, record the result, queue the callback.

    The step passes when `code` is the one-time code (or, from the mock ACS, when
    `passed` says so); otherwise it declines with 473 (status 3D). 400 when none is pending.
    """
    store = gateway.store
    pending = store.pending_secure3d(transaction_id)
    if pending is None:
        raise EpayError(400, GENERIC, "no 3-D Secure step is pending for this transaction")
    approved = passed if passed is not None else hmac.compare_digest(code.strip().encode(),
                                                                      pending.otp.encode())
    tx = store.finish_secure3d(transaction_id, approved, reason_code=SECURE3D_FAILED)
    tx = _save_card_if_asked(gateway, tx, pending.attempt, tx.card, tx.card_id)
    gateway.callbacks.payment_finished(tx, pending.callback)
    return tx


def readable_transaction(gateway: Gateway, token: Token, invoice_id: str) -> Transaction | None:
    """The invoice's latest transaction, when `token` may read it (else None, as if unknown)."""
    if not may_read_invoice(token, invoice_id):
        return None
    return gateway.store.transaction_for_invoice(token.client_id, invoice_id)
