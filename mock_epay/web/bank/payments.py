"""Server-to-server payments: `POST /payments/cards/auth` and the transaction status."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from mock_epay.gateway.models import OutcomeKind, PaymentAttempt, Token, TokenKind, Transaction
from mock_epay.gateway.payments import PaymentResult, run_payment
from mock_epay.gateway.tokens import may_read_invoice
from mock_epay.web.app_keys import SETTINGS, STORE, TOKENS
from mock_epay.web.errors import GENERIC, bad_request, error_response
from mock_epay.web.readers import (
    optional_str,
    parse_amount,
    parse_back_link,
    parse_bool,
    parse_card_id,
    parse_currency,
    parse_description,
    parse_invoice_id,
    parse_language,
    parse_str,
    parse_url,
    read_json_object,
    require,
)
from mock_epay.wire.bank_answers import CardPaymentResponse, Secure3D
from mock_epay.wire.bank_requests import normalise_card_payment
from mock_epay.wire.render import (
    amount_json,
    card_payment_body,
    json_response,
    status_body,
    unknown_invoice_body,
)

SCENARIO_HEADER = "X-Mock-Scenario"


@dataclass(frozen=True, slots=True)
class CardPayment:
    """A validated `cards/auth` body."""

    amount: float
    currency: str
    terminal_id: str
    invoice_id: str
    description: str
    card_id: str
    account_id: str
    invoice_id_alt: str
    name: str
    email: str
    phone: str
    language: str
    post_link: str | None
    failure_post_link: str | None
    recurrent: bool
    data: str


def parse_card_payment(raw: dict[str, Any], strict_invoice_id: bool) -> CardPayment:
    body = normalise_card_payment(raw)
    payment_type = body.get("paymentType")
    if payment_type is not None and payment_type != "cardId":
        raise bad_request(f"field 'paymentType' must be 'cardId', got {str(payment_type)[:40]!r}")
    terminal_field, terminal = body.spelling("terminalId"), body.get("terminalId")
    card_field, card = body.spelling("cardId"), body.get("cardId")
    alt = body.get("invoiceIdAlt")
    data = body.get("data")
    return CardPayment(
        amount=parse_amount(body.get("amount")),
        currency=parse_currency(body.get("currency")),
        terminal_id=parse_str(require(terminal, terminal_field), terminal_field),
        invoice_id=parse_invoice_id(body.get("invoiceId"), "invoiceId", strict=strict_invoice_id),
        description=parse_description(body.get("description")),
        card_id=parse_card_id(card, card_field),
        account_id=optional_str(body.get("accountId"), "accountId", max_length=128),
        invoice_id_alt=(
            parse_invoice_id(alt, "invoiceIdAlt", strict=strict_invoice_id) if alt else ""
        ),
        name=optional_str(body.get("name"), "name", max_length=128),
        email=optional_str(body.get("email"), "email", max_length=256),
        phone=optional_str(body.get("phone"), "phone", max_length=32),
        language=parse_language(body.get("language")),
        post_link=parse_url(body.get("postLink"), "postLink"),
        failure_post_link=parse_url(body.get("failurePostLink"), "failurePostLink"),
        recurrent=parse_bool(body.get("recurrent"), "recurrent"),
        data=data if isinstance(data, str) else (json.dumps(data) if data is not None else ""),
    )


def check_matches_token(payment: CardPayment, token: Token) -> None:
    """A payment token is bound to invoice, amount, currency and terminal."""
    if payment.invoice_id != token.invoice_id:
        raise bad_request(
            f"field 'invoiceId' ({payment.invoice_id}) does not match the payment token's "
            f"invoiceID ({token.invoice_id})"
        )
    if token.amount is not None and payment.amount != token.amount:
        raise bad_request(
            f"field 'amount' ({amount_json(payment.amount)}) does not match the payment "
            f"token's amount ({amount_json(token.amount)})"
        )
    if token.currency and payment.currency != token.currency:
        raise bad_request(
            f"field 'currency' ({payment.currency}) does not match the payment token's "
            f"currency ({token.currency})"
        )
    if token.terminal_id and payment.terminal_id != token.terminal_id:
        raise bad_request(
            f"field 'terminalId' ({payment.terminal_id[:64]}) does not match the payment "
            f"token's terminal ({token.terminal_id})"
        )


async def pay_with_saved_card(request: web.Request) -> web.StreamResponse:
    app = request.app
    token = app[TOKENS].authenticate(request.headers, TokenKind.PAYMENT)
    body = await read_json_object(request)
    payment = parse_card_payment(body, app[SETTINGS].strict_invoice_id)
    check_matches_token(payment, token)
    store = app[STORE]
    saved = store.card(token.client_id, payment.card_id)
    if saved is None:
        raise bad_request(f"card {payment.card_id[:64]!r} not found")
    if not saved.active:
        raise bad_request(f"card {saved.id} is deactivated and cannot be used for payments")
    if payment.account_id and payment.account_id != saved.account_id:
        raise bad_request(
            f"card {saved.id} does not belong to accountId {payment.account_id[:64]!r}"
        )
    attempt = PaymentAttempt(
        client_id=token.client_id,
        invoice_id=payment.invoice_id,
        amount=payment.amount,
        currency=payment.currency,
        terminal_id=payment.terminal_id,
        description=payment.description,
        account_id=payment.account_id or saved.account_id,
        invoice_id_alt=payment.invoice_id_alt,
        name=payment.name,
        email=payment.email,
        phone=payment.phone,
        language=payment.language,
        data=payment.data,
        card_pan=saved.card.pan,
        card_id=saved.id,
        recurrent=payment.recurrent,
        scenario=request.headers.get(SCENARIO_HEADER),
        source="cards/auth",
        post_link=payment.post_link or token.post_link,
        failure_post_link=payment.failure_post_link or token.failure_post_link,
        secret_hash=token.secret_hash,
        ip=request.remote or "",
    )
    links = {"back_link": parse_back_link(body.get("backLink"), "backLink"),
             "failure_back_link": parse_back_link(body.get("failureBackLink"), "failureBackLink")}
    result = await run_payment(app, attempt, saved.card, saved.id, secure3d_context=links,
                               request=request)
    if result.outcome.kind is OutcomeKind.SECURE3D and result.transaction is not None:
        return json_response(secure3d_payment_body(request, result.transaction, token))
    return card_payment_response(result, request)


def secure3d_payment_body(request: web.Request, tx: Any, token: Token) -> CardPaymentResponse:
    """The 200 answer when 3-D Secure is needed: `secure3D` says where to send the buyer (spec 2.4)."""
    settings = request.app[SETTINGS]
    base = settings.base_url if settings.public_url else str(request.url.origin()).rstrip("/")
    return card_payment_body(tx, Secure3D(
        action=f"{base}/_mock/acs",
        md=tx.id,
        paReq=base64.b64encode(f"mock-epay:{tx.id}".encode()).decode(),
        termURL=f"{base}/payments/cards/confirmPayment?Access={token.access_token}",
    ))


RULE_HEADER = "X-Mock-Rule"  # names the scenario rule that decided (absent when none did)
DROPPED_STATUS = 444  # journal-only status of a dropped connection (nothing is sent)


def card_payment_response(
    result: PaymentResult, request: web.Request | None = None
) -> web.StreamResponse:
    response = _outcome_response(result, request)
    if result.outcome.rule:
        response.headers[RULE_HEADER] = result.outcome.rule
    return response


def _outcome_response(result: PaymentResult, request: web.Request | None) -> web.StreamResponse:
    outcome = result.outcome
    if outcome.kind is OutcomeKind.APPROVE and result.transaction is not None:
        return json_response(card_payment_body(result.transaction))
    if outcome.kind is OutcomeKind.SERVER_ERROR:
        if outcome.body is None:
            return error_response(outcome.http_status, GENERIC, outcome.message)
        return web.Response(status=outcome.http_status, text=outcome.body)
    if outcome.kind is OutcomeKind.DROP:
        if request is not None and request.transport is not None:
            request.transport.close()  # aiohttp then skips writing the answer, quietly
        return web.Response(status=DROPPED_STATUS)
    if outcome.kind is OutcomeKind.HANG:
        # Reached only when the client is gone (nothing is written) or the hang limit passed.
        return error_response(504, GENERIC, "the gateway did not answer in time (scenario hang)")
    code = GENERIC if outcome.kind is OutcomeKind.DUPLICATE else outcome.reason_code
    return error_response(outcome.http_status or 400, code, outcome.message)


def invoice_transaction(request: web.Request) -> tuple[str, Transaction | None]:
    """The path's invoice and its latest transaction, when the request's token may read it."""
    app = request.app
    token = app[TOKENS].authenticate(request.headers)
    invoice_id = request.match_info["invoice_id"]
    if not may_read_invoice(token, invoice_id):
        return invoice_id, None
    return invoice_id, app[STORE].transaction_for_invoice(token.client_id, invoice_id)


async def transaction_status(request: web.Request) -> web.Response:
    app = request.app
    _, tx = invoice_transaction(request)
    if tx is None:
        settings = app[SETTINGS]
        return json_response(unknown_invoice_body(settings.status_unknown_transaction_null),
                             status=settings.status_unknown_http)
    return json_response(status_body(tx))


def setup(app: web.Application, add_route: Any) -> None:
    for prefix in ("", "/api"):
        add_route("POST", prefix + "/payments/cards/auth", pay_with_saved_card)
        add_route(
            "GET",
            prefix + "/check-status/payment/transaction/{invoice_id}",
            transaction_status,
        )


