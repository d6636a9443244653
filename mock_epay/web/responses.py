"""API answers the outcome table describes (gateway/outcomes.py `ApiAnswer`) as HTTP responses.

The bank's error body (or a scenario's raw body), a dropped connection, and the answer of a
server-to-server payment (cards/auth, cryptopay): the payment body, with `secure3D` when a
3-D Secure step is needed.
"""

from __future__ import annotations

import base64

from aiohttp import web

from mock_epay.gateway.models import Token, Transaction
from mock_epay.gateway.outcomes import ApiAnswer, ApiShape, entry_for
from mock_epay.gateway.payments import PaymentResult
from mock_epay.settings import Settings
from mock_epay.web.client import RULE_HEADER, drop_connection, public_base_for
from mock_epay.web.errors import error_response
from mock_epay.wire.bank_answers import CardPaymentResponse, Secure3D
from mock_epay.wire.render import card_payment_body, json_response


def answer_response(answer: ApiAnswer, request: web.BaseRequest) -> web.Response:
    """An error-shaped or dropped answer as HTTP."""
    if answer.shape is ApiShape.DROPPED:
        drop_connection(request)
        return web.Response(status=answer.status)
    if answer.raw_body is not None:
        return web.Response(status=answer.status, text=answer.raw_body)
    return error_response(answer.status, answer.code, answer.message)


def secure3d_payment_body(base: str, tx: Transaction, token: Token) -> CardPaymentResponse:
    """The 200 answer when 3-D Secure is needed: `secure3D` says where to send the buyer (spec 2.4);
    `base`: the mock's base URL as browsers see it (`public_base`)."""
    return card_payment_body(tx, Secure3D(
        action=f"{base}/_mock/acs",
        md=tx.id,
        paReq=base64.b64encode(f"mock-epay:{tx.id}".encode()).decode(),
        termURL=f"{base}/payments/cards/confirmPayment?Access={token.access_token}",
    ))


def card_payment_response(result: PaymentResult, request: web.BaseRequest, token: Token,
                          settings: Settings) -> web.StreamResponse:
    """The cards/auth answer the outcome table gives for the result's outcome."""
    outcome, tx = result.outcome, result.transaction
    answer = entry_for(outcome.kind).api(outcome)
    if answer.shape is ApiShape.SECURE3D and tx is not None:
        return json_response(secure3d_payment_body(public_base_for(settings, request), tx, token))
    if answer.shape is ApiShape.PAYMENT and tx is not None:
        response: web.StreamResponse = json_response(card_payment_body(tx))
    else:
        response = answer_response(answer, request)
    if outcome.rule:
        response.headers[RULE_HEADER] = outcome.rule
    return response
