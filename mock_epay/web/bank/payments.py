"""Server-to-server payments: `POST /payments/cards/auth` and the transaction status."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

from aiohttp import web

from mock_epay.gateway.errors import bad_request
from mock_epay.gateway.models import Token, TokenKind
from mock_epay.gateway.payments import WaitingPayment, begin_payment, payment_attempt, readable_transaction
from mock_epay.gateway.tokens import token_mismatches
from mock_epay.settings import Settings
from mock_epay.web.app_keys import FAST_LANE, GATEWAY, SETTINGS, STORE
from mock_epay.web.bank.order_body import OrderBody, order_extras
from mock_epay.web.client import bearer, bearer_for, client_gone, scenario_of
from mock_epay.web.readers import (
    FAST_JSON_TYPES,
    json_body,
    parse_amount,
    parse_back_link,
    parse_bool,
    parse_card_id,
    parse_currency,
    parse_description,
    parse_invoice_id,
    parse_str,
    read_json_object,
    require,
)
from mock_epay.web.responses import card_payment_response
from mock_epay.wire.bank_requests import (
    CARD_PAYMENT_TYPE_MESSAGES,
    CardId,
    CardPaymentRequest,
    given,
    normalise_card_payment,
)
from mock_epay.wire.decode import decode
from mock_epay.wire.render import (
    json_response,
    status_body,
    unknown_invoice_body,
)
from mock_epay.wire.route_docs import BANK_DOCS, lazy_doc


class CardPayment(OrderBody, frozen=True):
    """A validated `cards/auth` body."""

    card_id: str
    recurrent: bool


def parse_card_payment(raw: dict[str, Any], strict_invoice_id: bool) -> CardPayment:
    """The body folded (wire/bank_requests.py), decoded into its declaration, then each value checked."""
    body = normalise_card_payment(raw)
    decoded = decode(CardPaymentRequest, body, CARD_PAYMENT_TYPE_MESSAGES, body.spelled)
    terminal_field, card_field = body.spelling("terminalId"), body.spelling("cardId")
    card = decoded.cardId if not isinstance(decoded.cardId, CardId) else {"id": decoded.cardId.id}
    return CardPayment(
        amount=parse_amount(decoded.amount),
        currency=parse_currency(decoded.currency),
        terminal_id=parse_str(require(decoded.terminalId, terminal_field), terminal_field),
        invoice_id=parse_invoice_id(decoded.invoiceId, "invoiceId", strict=strict_invoice_id),
        description=parse_description(decoded.description),
        card_id=parse_card_id(card, card_field),
        recurrent=parse_bool(given(decoded.recurrent), "recurrent"),
        **order_extras(decoded, strict_invoice_id),
    )


def check_matches_token(payment: CardPayment, token: Token) -> None:
    """A payment token is bound to invoice, amount, currency and terminal: the first mismatch is a 400."""
    mismatches = token_mismatches(token, invoice_id=payment.invoice_id, amount=payment.amount,
                                  currency=payment.currency, terminal_id=payment.terminal_id)
    if mismatches:
        first = mismatches[0]
        raise bad_request(f"field '{first.field}' ({first.given}) does not match the payment "
                          f"token's {first.token_name} ({first.bound})")


async def pay_with_saved_card(request: web.Request) -> web.StreamResponse:
    answer = card_payment_answer(request.app, request, await read_json_object(request))
    return answer if isinstance(answer, web.StreamResponse) else await answer


def fast_card_payment(app: web.Application, request: web.BaseRequest, body: bytes,
                      content_type: str) -> web.StreamResponse | Awaitable[web.StreamResponse]:
    """`cards/auth` on the fast lane (web/fast_lane.py): the body read as the routed handler reads it,
    then `card_payment_answer` (an awaitable only when the outcome waits: a delay, a hang)."""
    return card_payment_answer(app, request, json_body(body))


def card_payment_answer(app: web.Application, request: web.BaseRequest,
                        body: dict[str, Any]) -> web.StreamResponse | Awaitable[web.StreamResponse]:
    """The answer to a read `cards/auth` body, made without awaiting unless the outcome waits; raises
    the EpayError that refuses it (the caller renders it in the bank's format)."""
    settings = app[SETTINGS]
    token = bearer_for(app, request, TokenKind.PAYMENT)
    payment = parse_card_payment(body, settings.strict_invoice_id)
    check_matches_token(payment, token)
    saved = app[STORE].card(token.client_id, payment.card_id)
    if saved is None:
        raise bad_request(f"card {payment.card_id[:64]!r} not found")
    if not saved.active:
        raise bad_request(f"card {saved.id} is deactivated and cannot be used for payments")
    if payment.account_id and payment.account_id != saved.account_id:
        raise bad_request(
            f"card {saved.id} does not belong to accountId {payment.account_id[:64]!r}"
        )
    attempt = payment_attempt(payment, token, source="cards/auth", card_pan=saved.card.pan,
                              card_id=saved.id, account_id=payment.account_id or saved.account_id,
                              scenario=scenario_of(request), ip=request.remote or "")
    links = {"back_link": parse_back_link(body.get("backLink"), "backLink"),
             "failure_back_link": parse_back_link(body.get("failureBackLink"), "failureBackLink")}
    begun = begin_payment(app[GATEWAY], attempt, saved.card, saved.id, secure3d_context=links)
    if isinstance(begun, WaitingPayment):
        return _answer_when_recorded(begun, request, token, settings)
    return card_payment_response(begun, request, token, settings)


async def _answer_when_recorded(waiting: WaitingPayment, request: web.BaseRequest, token: Token,
                                settings: Settings) -> web.StreamResponse:
    result = await waiting.finish(client_gone(request))
    return card_payment_response(result, request, token, settings)


async def transaction_status(request: web.Request) -> web.Response:
    app = request.app
    token = bearer(request)
    tx = readable_transaction(app[GATEWAY], token, request.match_info["invoice_id"])
    if tx is None:
        settings = app[SETTINGS]
        return json_response(unknown_invoice_body(settings.status_unknown_transaction_null),
                             status=settings.status_unknown_http)
    return json_response(status_body(tx))


def setup(app: web.Application, add_route: Any) -> None:
    for prefix in ("", "/api"):
        app[FAST_LANE].add((prefix + "/payments/cards/auth",), fast_card_payment, FAST_JSON_TYPES)
        add_route("POST", prefix + "/payments/cards/auth", pay_with_saved_card,
                  doc=lazy_doc(BANK_DOCS, "pay_with_saved_card", prefix))
        add_route("GET", prefix + "/check-status/payment/transaction/{invoice_id}", transaction_status,
                  doc=lazy_doc(BANK_DOCS, "transaction_status", prefix))


