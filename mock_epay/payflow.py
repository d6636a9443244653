"""One payment attempt, end to end: reserve the invoice, ask the engine, record, queue the callback.

Both the server-to-server payment (`cards/auth`) and the hosted payment page call
`run_payment`; the handlers only turn the returned `PaymentResult` into HTTP.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from aiohttp import web

from mock_epay.app_keys import DISPATCHER, ENGINE, STORE
from mock_epay.models import Card, Outcome, OutcomeKind, PaymentAttempt, Transaction

# Outcomes that produce a transaction record and a callback.
RECORDED_KINDS = frozenset(
    {OutcomeKind.APPROVE, OutcomeKind.DECLINE, OutcomeKind.DUPLICATE, OutcomeKind.SECURE3D}
)


@dataclass(frozen=True, slots=True)
class PaymentResult:
    outcome: Outcome
    transaction: Transaction | None


async def run_payment(
    app: web.Application,
    attempt: PaymentAttempt,
    card: Card | None,
    card_id: str | None = None,
) -> PaymentResult:
    """Decide and record one attempt; raises the duplicate error when the invoice is taken."""
    store = app[STORE]
    reservation = store.reserve_invoice(attempt.client_id, attempt.invoice_id)
    try:
        outcome = app[ENGINE].decide(attempt)
        if outcome.delay_ms:
            await asyncio.sleep(outcome.delay_ms / 1000)
        if outcome.kind not in RECORDED_KINDS:
            return PaymentResult(outcome, None)
        tx = store.record_payment(reservation, attempt, outcome, card, card_id)
        if outcome.kind is not OutcomeKind.SECURE3D:
            app[DISPATCHER].payment_finished(tx, outcome.callback)
        return PaymentResult(outcome, tx)
    finally:
        store.release_invoice(reservation)
