"""Payment by cryptogram: `GET /public.rsa` (the key) and `POST /payment/cryptopay` (spec 2.2, 2.3).

The handler reads the body, opens and checks the cryptogram (gateway/cryptogram.py), and runs
the same payment service as cards/auth and the payment page, so scenario rules, the bank's
test cards, duplicates, 3-D Secure (answered with `secure3D`, finished at the TermUrl),
`cardSave` and callbacks behave alike. An amount of 0 verifies the card (status VERIFIED).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from mock_epay.core.rsa_keys import KeyFileError, KeyRing
from mock_epay.gateway import cryptogram
from mock_epay.gateway.errors import EpayError, bad_request
from mock_epay.gateway.models import Token, TokenKind, evolve
from mock_epay.gateway.payments import payment_attempt, run_payment
from mock_epay.gateway.tokens import token_mismatches
from mock_epay.web.app_keys import CLOCK, GATEWAY, KEYRING, SETTINGS, STORE
from mock_epay.web.bank.order_body import OrderBody, order_extras
from mock_epay.web.client import bearer, client_gone, scenario_of
from mock_epay.web.readers import (
    optional_str,
    parse_amount,
    parse_back_link,
    parse_bool,
    parse_currency,
    parse_description,
    parse_invoice_id,
    parse_str,
    read_json_object,
    require,
)
from mock_epay.web.responses import card_payment_response
from mock_epay.wire.bank_requests import given
from mock_epay.wire.cryptopay import CRYPTOPAY_TYPE_MESSAGES, CryptopayRequest, normalise_cryptopay
from mock_epay.wire.decode import decode
from mock_epay.wire.route_docs import deferred_doc

MAX_CRYPTOGRAM_CHARS = 8192
PEM_TYPE = "application/x-pem-file"


class CryptoPayment(OrderBody, frozen=True):
    """A validated `payment/cryptopay` body (the card still inside its cryptogram)."""

    cryptogram: str
    card_save: bool


def parse_cryptopay(raw: dict[str, Any], strict_invoice_id: bool) -> CryptoPayment:
    """The body folded (the Cyrillic `сryptogram`, `cardsave`, `terminal`), decoded into its declaration,
    then each value checked; the terminal may come from the cryptogram or the token instead."""
    body = normalise_cryptopay(raw)
    decoded = decode(CryptopayRequest, body, CRYPTOPAY_TYPE_MESSAGES, body.spelled)
    crypt_field = body.spelling("cryptogram")
    return CryptoPayment(
        amount=parse_amount(decoded.amount, allow_zero=True),
        currency=parse_currency(decoded.currency),
        cryptogram=parse_str(require(decoded.cryptogram, crypt_field), crypt_field,
                             max_length=MAX_CRYPTOGRAM_CHARS),
        invoice_id=parse_invoice_id(decoded.invoiceId, "invoiceId", strict=strict_invoice_id),
        description=parse_description(decoded.description),
        terminal_id=optional_str(given(decoded.terminalId), body.spelling("terminalId"), max_length=64),
        card_save=parse_bool(given(decoded.cardSave), body.spelling("cardSave")),
        **order_extras(decoded, strict_invoice_id),
    )


def keyring(app: web.Application) -> KeyRing:
    return app[KEYRING]


def _private_key_or_error(app: web.Application) -> KeyRing:
    ring = keyring(app)
    try:
        ring.private_key()
    except KeyFileError as exc:
        raise EpayError(503, -1, f"the mock has no usable RSA key: {exc}") from exc
    return ring


async def public_key(request: web.Request) -> web.Response:
    pem = _private_key_or_error(request.app).public_pem()
    return web.Response(text=pem, content_type=PEM_TYPE)


def _terminal_for(payment: CryptoPayment, card: cryptogram.CardData, token: Token,
                  app: web.Application) -> str:
    """The terminal paid on: the cryptogram's, the body's, the token's, else the merchant's first."""
    chosen = card.terminal_id or payment.terminal_id or token.terminal_id
    merchant = app[STORE].merchant(token.client_id)
    if not chosen:
        return merchant.terminals[0].id if merchant and merchant.terminals else ""
    if merchant is not None and merchant.terminal(chosen) is None:
        raise bad_request(f"terminal {chosen[:64]!r} is not one of merchant {token.client_id!r}'s terminals")
    return chosen


def _check_token(payment: CryptoPayment, token: Token, terminal_id: str) -> None:
    mismatches = token_mismatches(token, invoice_id=payment.invoice_id, amount=payment.amount,
                                  currency=payment.currency, terminal_id=terminal_id)
    if mismatches:
        first = mismatches[0]
        raise bad_request(f"field '{first.field}' ({first.given}) does not match the payment "
                          f"token's {first.token_name} ({first.bound})")


async def pay_by_cryptogram(request: web.Request) -> web.StreamResponse:
    app = request.app
    token = bearer(request, TokenKind.PAYMENT)
    body = await read_json_object(request)
    payment = parse_cryptopay(body, app[SETTINGS].strict_invoice_id)
    ring = _private_key_or_error(app) if not payment.cryptogram.lstrip().startswith("{") else keyring(app)
    card_data = cryptogram.card_data(cryptogram.open_cryptogram(payment.cryptogram, ring.decrypt))
    store = app[STORE]
    card = store.make_card(card_data.hpan, payment.name.upper(), card_data.expiry)
    cryptogram.validate(card_data, app[CLOCK].now(), token.terminal_id, card.card_type)
    terminal_id = _terminal_for(payment, card_data, token, app)
    _check_token(payment, token, terminal_id)
    attempt = payment_attempt(evolve(payment, terminal_id=terminal_id), token, source="cryptopay",
                              card_pan=card.pan, ip=request.remote or "",
                              card_expiry=card_data.expiry, card_cvc=card_data.cvc,
                              card_save=payment.card_save, scenario=scenario_of(request))
    links = {"back_link": parse_back_link(body.get("backLink"), "backLink"),
             "failure_back_link": parse_back_link(body.get("failureBackLink"), "failureBackLink")}
    result = await run_payment(app[GATEWAY], attempt, card, None, secure3d_context=links,
                               client_gone=client_gone(request))
    return card_payment_response(result, request, token, app[SETTINGS])


DOCS = "mock_epay.wire.cryptopay_docs"  # imported only when /_mock/openapi.json is first built


def setup(app: web.Application, add_route: Any) -> None:
    settings = app[SETTINGS]
    app[KEYRING] = KeyRing(app[STORE], settings.seed, settings.rsa_key_file)
    for prefix in ("", "/api"):
        add_route("GET", prefix + "/public.rsa", public_key, doc=deferred_doc(DOCS, "public_key", prefix))
        add_route("POST", prefix + "/payment/cryptopay", pay_by_cryptogram,
                  doc=deferred_doc(DOCS, "cryptopay", prefix))
