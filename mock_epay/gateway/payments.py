"""One payment attempt, end to end: reserve the invoice, ask the engine, record, queue the callback.

Both the server-to-server payment (`cards/auth`) and the hosted payment page call
`run_payment`; the handlers only turn the returned `PaymentResult` into HTTP.
"""

from __future__ import annotations

import asyncio
import hmac
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from mock_epay.gateway.models import Card, Outcome, OutcomeKind, PaymentAttempt, Transaction
from mock_epay.web.app_keys import DISPATCHER, ENGINE, SETTINGS, STORE
from mock_epay.web.errors import GENERIC, EpayError

# Outcomes that produce a transaction record and a callback.
RECORDED_KINDS = frozenset(
    {OutcomeKind.APPROVE, OutcomeKind.DECLINE, OutcomeKind.DUPLICATE, OutcomeKind.SECURE3D}
)


@dataclass(frozen=True, slots=True)
class PaymentResult:
    outcome: Outcome
    transaction: Transaction | None


async def wait_for_disconnect(request: web.Request | None, limit: float) -> bool:
    """Hold the answer until the client goes away (True) or `limit` seconds pass (False)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while (left := deadline - loop.time()) > 0:
        if request is not None and (request.transport is None or request.transport.is_closing()):
            return True
        await asyncio.sleep(min(0.05, left))
    return False


async def run_payment(
    app: web.Application,
    attempt: PaymentAttempt,
    card: Card | None,
    card_id: str | None = None,
    secure3d_context: dict[str, Any] | None = None,
    request: web.Request | None = None,
) -> PaymentResult:
    """Decide and record one attempt; raises the duplicate error when the invoice is taken.

    A successful attempt with `card_save` saves the card first (under its `account_id`, an
    empty one when none was sent), so the callback carries `cardId`. A 3-D Secure outcome
    leaves the transaction NEW with its invoice reserved (remembering `secure3d_context`)
    until `finish_secure3d`.
    `request` lets a `hang` outcome notice when the client gives up; without it a hang
    lasts the full `scenario_hang_seconds`.
    """
    store = app[STORE]
    settings = app[SETTINGS]
    reservation = store.reserve_invoice(attempt.client_id, attempt.invoice_id)
    held_for_secure3d = False
    try:
        outcome = app[ENGINE].decide(attempt)
        if outcome.delay_ms:
            await asyncio.sleep(outcome.delay_ms / 1000)  # already scaled by the engine
        if outcome.kind not in RECORDED_KINDS:
            tx = None
            if outcome.records_approval:
                approved = Outcome(rule=outcome.rule, callback=outcome.callback)
                tx = store.record_payment(reservation, attempt, approved, card, card_id)
                tx = _save_card_if_asked(app, tx, attempt, card, card_id)
                app[DISPATCHER].payment_finished(tx, outcome.callback)
            if outcome.kind is OutcomeKind.HANG:
                await wait_for_disconnect(request, settings.scenario_hang_seconds)
            return PaymentResult(outcome, tx)
        tx = store.record_payment(reservation, attempt, outcome, card, card_id)
        if outcome.kind is OutcomeKind.SECURE3D:
            store.hold_for_secure3d(tx, attempt, outcome.otp, outcome.callback,
                                    ttl=app[SETTINGS].payment_token_ttl, context=secure3d_context)
            held_for_secure3d = True
            return PaymentResult(outcome, tx)
        tx = _save_card_if_asked(app, tx, attempt, card, card_id)
        app[DISPATCHER].payment_finished(tx, outcome.callback)
        return PaymentResult(outcome, tx)
    finally:
        if not held_for_secure3d:  # the hold owns the invoice now
            store.release_invoice(reservation)


def _save_card_if_asked(
    app: web.Application, tx: Transaction, attempt: PaymentAttempt, card: Card | None, card_id: str | None
) -> Transaction:
    """The transaction after saving its card when asked (it then carries `card_id`)."""
    if tx.status.is_success and attempt.card_save and card and not card_id:
        app[STORE].attach_saved_card(tx, card)
        return app[STORE].transaction(tx.client_id, tx.id) or tx
    return tx


def finish_secure3d(
    app: web.Application, transaction_id: str, code: str = "", passed: bool | None = None
) -> Transaction:
    """Finish a pending 3-D Secure step, record the result, queue the callback.

    The step passes when `code` is the one-time code (or, from the mock ACS, when
    `passed` says so); otherwise it declines with 473 (status 3D). 400 when none is pending.
    """
    store = app[STORE]
    pending = store.pending_secure3d(transaction_id)
    if pending is None:
        raise EpayError(400, GENERIC, "no 3-D Secure step is pending for this transaction")
    approved = passed if passed is not None else hmac.compare_digest(code.strip().encode(),
                                                                      pending.otp.encode())
    tx = store.finish_secure3d(transaction_id, approved, reason_code=473)
    tx = _save_card_if_asked(app, tx, pending.attempt, tx.card, tx.card_id)
    app[DISPATCHER].payment_finished(tx, pending.callback)
    return tx
