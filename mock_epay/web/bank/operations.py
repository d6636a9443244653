"""Operations on a transaction: `POST /operation/{id}/charge|cancel|refund`, and the legacy
`GET /operation/{invoiceId}` status call (spec 6.5 and 7).

The handler decodes the query and the optional body through their declaration
(`OperationAmountRequest`, one normalisation step for the spellings) and calls the operation service
(gateway/operations.py), which decides, applies and queues the callback; a forced answer
is rendered as the outcome table describes it.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from mock_epay.gateway.codes import OPERATION_ERROR
from mock_epay.gateway.errors import EpayError, bad_request
from mock_epay.gateway.lifecycle import Operation, cents, not_found_error, show
from mock_epay.gateway.models import TokenKind
from mock_epay.gateway.operations import OperationRequest, run_operation
from mock_epay.gateway.payments import readable_transaction
from mock_epay.web.app_keys import GATEWAY
from mock_epay.web.client import bearer, scenario_of
from mock_epay.web.optional_body import read_optional_body
from mock_epay.web.readers import optional_str, parse_amount
from mock_epay.web.responses import answer_response
from mock_epay.wire.bank_requests import (
    OPERATION_TYPE_MESSAGES,
    OperationAmountRequest,
    given,
    normalise_operation,
)
from mock_epay.wire.decode import decode
from mock_epay.wire.render import json_response, legacy_operation_body
from mock_epay.wire.route_docs import BANK_DOCS, lazy_doc

MAX_ID_LENGTH = 128
_NOTHING_GIVEN = OperationAmountRequest()  # no amount, no externalID: the full amount (never changed)


def _amount(value: Any, where: str) -> float:
    """`parse_amount`, but answered with the operations' error code 100."""
    try:
        return parse_amount(value, "amount")
    except EpayError as exc:
        raise _in_operations(exc, where) from exc


def _in_operations(exc: EpayError, where: str) -> EpayError:
    """An amount's error as the operations word it: code 100, naming where the amount came from."""
    return EpayError(exc.status, OPERATION_ERROR, exc.message.replace("field 'amount'", where))


def _decoded(folded: dict[str, Any], where: str) -> OperationAmountRequest:
    """A folded body or query (wire/bank_requests.py `normalise_operation`) decoded into its declaration."""
    if not folded:
        return _NOTHING_GIVEN
    try:
        return decode(OperationAmountRequest, folded, OPERATION_TYPE_MESSAGES, {})
    except EpayError as exc:
        raise (_in_operations(exc, where) if "field 'amount'" in exc.message else exc) from exc


def _optional_amount(value: Any, where: str) -> float | None:
    return None if value is None else _amount(value, where)


def agreed_amount(from_query: float | None, from_body: float | None) -> float | None:
    """`?amount=` and/or `{"amount": ...}`: either, or both when they agree; none means full."""
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
    raw = await read_optional_body(request)
    query = _decoded(normalise_operation(request.query), "query parameter 'amount'")
    from_query = _optional_amount(given(query.amount), "query parameter 'amount'")
    external = given(query.externalID)
    folded = normalise_operation(raw)
    if external is not None:
        folded.pop("externalID", None)  # the query's externalID wins; the body's is not read
    body = _decoded(folded, "body field 'amount'")
    from_body = _optional_amount(given(body.amount), "body field 'amount'")
    return OperationRequest(
        operation=operation,
        transaction_id=transaction_id,
        amount=agreed_amount(from_query, from_body),
        external_id=optional_str(given(body.externalID) if external is None else external, "externalID",
                                 max_length=128),
    )


def make_handler(operation: Operation) -> Any:
    async def handle(request: web.Request) -> web.StreamResponse:
        app = request.app
        token = bearer(request, TokenKind.SERVICE)
        parsed = await parse_operation_request(request, operation)
        result = await run_operation(app[GATEWAY], token.client_id, parsed, scenario_of(request))
        if result.forced is not None:
            return answer_response(result.forced, request)
        return web.Response(status=200)

    handle.__name__ = f"{operation.value}_transaction"
    return handle


async def legacy_operation_status(request: web.Request) -> web.Response:
    """`GET /operation/{invoiceId}`: the old status call, a flat postLink-like object (spec 6.5)."""
    token = bearer(request)
    invoice_id = request.match_info["invoice_id"]
    tx = readable_transaction(request.app[GATEWAY], token, invoice_id)
    if tx is None:
        raise EpayError(400, OPERATION_ERROR, f"invoice {invoice_id[:64]!r} not found")
    return json_response(legacy_operation_body(tx))


def setup(app: web.Application, add_route: Any) -> None:
    for prefix in ("", "/api"):
        for operation in Operation:
            add_route("POST", f"{prefix}/operation/{{transaction_id}}/{operation.value}",
                      make_handler(operation),
                      doc=lazy_doc(BANK_DOCS, f"{operation.value}_transaction", prefix))
        add_route("GET", prefix + "/operation/{invoice_id}", legacy_operation_status,
                  doc=lazy_doc(BANK_DOCS, "legacy_operation_status", prefix))
