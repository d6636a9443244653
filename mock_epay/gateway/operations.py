"""Operations on a transaction (charge / cancel / refund, spec 7): the decision, the store call, the callback.

The handler parses the request into an `OperationRequest` and calls `run_operation`: the
scenario engine may force an answer (server error, decline), after its delay; otherwise the
store checks and applies the operation in one synchronous step (so concurrent refunds cannot
overdraw and charge/cancel race cleanly), and the callback sink hears about it.
"""

from __future__ import annotations

import asyncio

import msgspec

from mock_epay.gateway.lifecycle import Balances, Operation, full_amount, not_found_error
from mock_epay.gateway.models import OperationAttempt, Transaction
from mock_epay.gateway.outcomes import ApiAnswer, entry_for
from mock_epay.gateway.service import Gateway


class OperationRequest(msgspec.Struct, frozen=True):
    """A validated charge / cancel / refund request."""

    operation: Operation
    transaction_id: str
    amount: float | None  # None: the full amount
    external_id: str


class OperationResult(msgspec.Struct, frozen=True):
    """A forced answer (the operation did not happen), or the transaction after it and the amount moved."""

    forced: ApiAnswer | None
    transaction: Transaction | None = None
    amount: float = 0.0


def operation_attempt(tx: Transaction, request: OperationRequest, scenario: str | None) -> OperationAttempt:
    """The attempt the scenario engine sees for `request` on `tx` (no amount: the full one)."""
    amount = request.amount
    if amount is None:
        amount = full_amount(request.operation, Balances.of(tx))
    return OperationAttempt(
        client_id=tx.client_id,
        operation=request.operation.value,
        transaction_id=tx.id,
        invoice_id=tx.invoice_id,
        amount=amount,
        currency=tx.currency,
        terminal_id=tx.terminal_id,
        account_id=tx.account_id,
        card_pan=tx.card.pan if tx.card else None,
        card_id=tx.card_id,
        scenario=scenario,
    )


async def run_operation(
    gateway: Gateway, client_id: str, request: OperationRequest, scenario: str | None = None
) -> OperationResult:
    """Decide and apply one operation; raises the bank's 400 (code 102 unknown, 100 refused)."""
    store = gateway.store
    tx = store.transaction(client_id, request.transaction_id)
    if tx is None:
        raise not_found_error()
    outcome = gateway.engine.decide_operation(operation_attempt(tx, request, scenario))
    if outcome is not None:
        if outcome.delay_ms:
            await asyncio.sleep(outcome.delay_ms / 1000)
        answer_for = entry_for(outcome.kind).operation_api
        forced = answer_for(outcome) if answer_for is not None else None
        if forced is not None:
            return OperationResult(forced)
    # Check and apply in one synchronous step: nothing can interleave from here on.
    result = store.apply_operation(
        client_id, request.transaction_id, request.operation, request.amount, request.external_id
    )
    gateway.callbacks.operation_finished(result.transaction, request.operation.value, result.amount)
    return OperationResult(None, result.transaction, result.amount)
