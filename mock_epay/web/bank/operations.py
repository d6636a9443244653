"""Operations on a transaction: `POST /operation/{id}/charge|cancel|refund`, and the legacy
`GET /operation/{invoiceId}` status call (spec 6.5 and 7).

The handler parses the amount and externalID, asks the scenario engine whether it
forces an outcome, then lets the store check and apply the operation in one
synchronous step (so concurrent refunds cannot overdraw and charge/cancel race cleanly).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from mock_epay.gateway.codes import GENERIC, OPERATION_ERROR
from mock_epay.gateway.errors import EpayError, bad_request
from mock_epay.gateway.lifecycle import Balances, Operation, cents, full_amount, not_found_error, show
from mock_epay.gateway.models import OperationAttempt, Outcome, OutcomeKind, TokenKind, Transaction
from mock_epay.web.app_keys import DISPATCHER, ENGINE, STORE, TOKENS
from mock_epay.web.bank.payments import SCENARIO_HEADER, invoice_transaction
from mock_epay.web.errors import error_response
from mock_epay.web.readers import (
    json_object,
    optional_str,
    parse_amount,
    read_form_or_json,
    read_json_object,
)
from mock_epay.wire.render import json_response, legacy_operation_body

MAX_ID_LENGTH = 128
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


@dataclass(frozen=True, slots=True)
class OperationRequest:
    """A validated charge / cancel / refund request."""

    operation: Operation
    transaction_id: str
    amount: float | None  # None: the full amount
    external_id: str


async def read_optional_body(request: web.Request) -> dict[str, Any]:
    """The body as a dict: empty when there is none (the bank requires no body)."""
    if not request.can_read_body:
        return {}
    if request.content_type == "multipart/form-data":
        return await read_form_or_json(request)  # reads the stream itself
    raw = await request.read()
    if not raw.strip():
        return {}
    if request.content_type in _FORM_TYPES and not raw.lstrip().startswith(b"{"):
        return await read_form_or_json(request)
    if request.content_type in _FORM_TYPES:
        return json_object(raw)  # `curl -d '{"amount": 10}'` labels JSON as a form
    return await read_json_object(request)


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _first_given(sources: tuple[Any, ...], names: tuple[str, ...]) -> Any:
    for source in sources:
        for name in names:
            if not _blank(source.get(name)):
                return source.get(name)
    return None


def _amount(value: Any, where: str) -> float:
    """`parse_amount`, but answered with the operations' error code 100."""
    try:
        return parse_amount(value, "amount")
    except EpayError as exc:
        raise EpayError(exc.status, OPERATION_ERROR, exc.message.replace("field 'amount'", where)) from exc


def parse_requested_amount(query_value: Any, body_value: Any) -> float | None:
    """`?amount=` and/or `{"amount": ...}`: either, or both when they agree; none means full."""
    from_query = None if _blank(query_value) else _amount(query_value, "query parameter 'amount'")
    from_body = None if _blank(body_value) else _amount(body_value, "body field 'amount'")
    if from_query is not None and from_body is not None and cents(from_query) != cents(from_body):
        raise bad_request(
            f"query parameter 'amount' ({show(from_query)}) and body field 'amount' "
            f"({show(from_body)}) differ; give one, or the same value in both",
            OPERATION_ERROR,
        )
    return from_query if from_query is not None else from_body


async def parse_operation_request(request: web.Request, operation: Operation) -> OperationRequest:
    transaction_id = request.match_info["transaction_id"].strip()
    if not transaction_id or len(transaction_id) > MAX_ID_LENGTH:
        raise not_found_error()
    body = await read_optional_body(request)
    amount = parse_requested_amount(request.query.get("amount"), body.get("amount"))
    external = _first_given((request.query, body), ("externalID", "externalId", "externalid"))
    return OperationRequest(
        operation=operation,
        transaction_id=transaction_id,
        amount=amount,
        external_id=optional_str(external, "externalID", max_length=128),
    )


def operation_attempt(tx: Transaction, parsed: OperationRequest, scenario: str | None) -> OperationAttempt:
    amount = parsed.amount
    if amount is None:
        amount = full_amount(parsed.operation, Balances.of(tx))
    return OperationAttempt(
        client_id=tx.client_id,
        operation=parsed.operation.value,
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


def forced_response(outcome: Outcome) -> web.Response | None:
    """The answer a scenario forces (server error or decline), or None to proceed."""
    if outcome.kind is OutcomeKind.SERVER_ERROR:
        if outcome.body is None:
            return error_response(outcome.http_status, GENERIC, outcome.message)
        return web.Response(status=outcome.http_status, text=outcome.body)
    if outcome.kind is OutcomeKind.DECLINE:
        status = outcome.http_status if outcome.http_status >= 400 else 400
        return error_response(status, outcome.reason_code, outcome.message)
    return None


def make_handler(operation: Operation) -> Any:
    async def handle(request: web.Request) -> web.StreamResponse:
        app = request.app
        token = app[TOKENS].authenticate(request.headers, TokenKind.SERVICE)
        parsed = await parse_operation_request(request, operation)
        store = app[STORE]
        tx = store.transaction(token.client_id, parsed.transaction_id)
        if tx is None:
            raise not_found_error()
        attempt = operation_attempt(tx, parsed, request.headers.get(SCENARIO_HEADER))
        outcome = app[ENGINE].decide_operation(attempt)
        if outcome is not None:
            if outcome.delay_ms:
                await asyncio.sleep(outcome.delay_ms / 1000)
            forced = forced_response(outcome)
            if forced is not None:
                return forced
        # Check and apply in one synchronous step: nothing can interleave from here on.
        result = store.apply_operation(
            token.client_id, parsed.transaction_id, operation, parsed.amount, parsed.external_id
        )
        app[DISPATCHER].operation_finished(result.transaction, operation.value, result.amount)
        return web.Response(status=200)

    handle.__name__ = f"{operation.value}_transaction"
    return handle


async def legacy_operation_status(request: web.Request) -> web.Response:
    """`GET /operation/{invoiceId}`: the old status call, a flat postLink-like object (spec 6.5)."""
    invoice_id, tx = invoice_transaction(request)
    if tx is None:
        raise EpayError(400, OPERATION_ERROR, f"invoice {invoice_id[:64]!r} not found")
    return json_response(legacy_operation_body(tx))


def setup(app: web.Application, add_route: Any) -> None:
    for prefix in ("", "/api"):
        for operation in Operation:
            add_route(
                "POST", f"{prefix}/operation/{{transaction_id}}/{operation.value}",
                make_handler(operation),
            )
        add_route("GET", prefix + "/operation/{invoice_id}", legacy_operation_status)
