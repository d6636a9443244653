"""The OAuth token endpoint: `POST /oauth2/token` (also under `/epay2`).

It answers CORS preflights and sets `Access-Control-Allow-Origin: *` (also on errors),
because widget integrations sometimes fetch the payment token from the browser.
"""

from __future__ import annotations

from typing import Any

import msgspec
from aiohttp import web

from mock_epay.gateway.errors import EpayError, bad_request, unauthorized
from mock_epay.gateway.tokens import TokenRequest
from mock_epay.web.app_keys import FAST_LANE, SETTINGS, STORE, TOKENS
from mock_epay.web.errors import render_error
from mock_epay.web.form_body import form_fields, max_form_fields
from mock_epay.web.journal import note_client
from mock_epay.web.readers import (
    CURRENCY_RE,
    FORM_TYPE,
    INVOICE_ID_RE,
    is_plain_amount,
    is_plain_text,
    json_body,
    parse_amount,
    parse_currency,
    parse_invoice_id,
    parse_str,
    parse_url,
    read_form_or_json,
    require,
)
from mock_epay.wire.bank_answers import TokenResponse
from mock_epay.wire.bank_requests import (
    TOKEN_TYPE_MESSAGES,
    given,
    in_declared_token_spellings,
    normalise_token_request,
)
from mock_epay.wire.bank_requests import TokenRequest as TokenRequestShape
from mock_epay.wire.decode import decode
from mock_epay.wire.render import json_response
from mock_epay.wire.route_docs import BANK_DOCS, lazy_doc
from mock_epay.wire.shape import UNSET
from mock_epay.wire.token_grants import PasswordTokenRequest, RefreshTokenRequest, normalise_grant

CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "POST, OPTIONS",
    "Access-Control-Allow-Headers": "Content-Type, Authorization",
    "Access-Control-Max-Age": "600",
}


def parse_token_request(raw: dict[str, Any], strict_invoice_id: bool) -> TokenRequest:
    """The usual form checked in one pass (`_plain_token_request` on the body as it came, when it
    needs no folding); any other, or one that pass does not take, folded (wire/bank_requests.py),
    decoded into its declaration, then each value checked (`parse_folded_token_request`)."""
    if in_declared_token_spellings(raw):
        plain = _plain_token_request(raw, strict_invoice_id)
        if plain is not None:
            return plain
    return parse_folded_token_request(raw, strict_invoice_id)


def parse_folded_token_request(raw: dict[str, Any], strict_invoice_id: bool,
                               one_pass: bool = True) -> TokenRequest:
    """`parse_token_request` the long way: the checks that name what is wrong with a field (after
    the one-pass check on the folded form unless `one_pass` is False: the tests compare both)."""
    form = normalise_token_request(raw)
    decoded = decode(TokenRequestShape, form, TOKEN_TYPE_MESSAGES, form.spelled)
    if one_pass:
        plain = _plain_token_request(msgspec.structs.asdict(decoded), strict_invoice_id)
        if plain is not None:
            return plain
    scope = parse_str(require(decoded.scope, "scope"), "scope", max_length=512)
    client_id = parse_str(require(decoded.client_id, "client_id"), "client_id")
    client_secret = parse_str(require(decoded.client_secret, "client_secret"), "client_secret")
    terminal = parse_str(given(decoded.terminal) or "", "terminal")
    invoice_value = given(decoded.invoiceID)
    common: dict[str, Any] = {
        "client_id": client_id,
        "client_secret": client_secret,
        "scope": " ".join(scope.split()),
        "terminal_id": terminal or None,
        "post_link": parse_url(given(decoded.postLink), "postLink"),
        "failure_post_link": parse_url(given(decoded.failurePostLink), "failurePostLink"),
        "secret_hash": _optional_text(given(decoded.secret_hash), "secret_hash"),
    }
    if invoice_value in (None, ""):
        return TokenRequest(**common)
    if not terminal:
        raise bad_request("field 'terminal' is required for a payment token")
    return TokenRequest(
        **common,
        invoice_id=parse_invoice_id(invoice_value, form.spelling("invoiceID"), strict=strict_invoice_id),
        amount=parse_amount(given(decoded.amount), "amount", allow_zero=True),
        currency=parse_currency(given(decoded.currency), form.spelling("currency")),
    )


def _plain(value: Any, max_length: int = 1024) -> bool:
    """A value every check of `parse_str` passes unchanged: ASCII text, trimmed, not blank, short."""
    return is_plain_text(value, max_length) and value != ""


def _plain_token_request(fields: dict[str, Any], strict_invoice_id: bool) -> TokenRequest | None:
    """The usual token form in one pass: the same `TokenRequest` the field-by-field checks of
    `parse_folded_token_request` give, or None when any field needs them (they then name the problem).

    `fields`: a body in its declared spellings (absent or UNSET: not given). Taken only with
    `grant_type=client_credentials`, every present field plain ASCII text needing no trimming, no links
    and no secret_hash, the invoiceID (if any) of digits, a plain amount and a 3-letter upper-case currency.
    """
    scope: Any = fields.get("scope")  # str once `_plain` passes
    client_id: Any = fields.get("client_id")
    client_secret: Any = fields.get("client_secret")
    terminal = _given(fields, "terminal")
    if not (fields.get("grant_type") == "client_credentials" and _plain(scope, 512) and _plain(client_id)
            and _plain(client_secret) and (terminal is None or terminal == "" or _plain(terminal))):
        return None
    if not (_given(fields, "postLink") is None and _given(fields, "failurePostLink") is None
            and _given(fields, "secret_hash") is None):
        return None
    invoice_value = _given(fields, "invoiceID")
    currency, amount = _given(fields, "currency"), _given(fields, "amount")
    if invoice_value in (None, ""):
        if currency is not None or amount is not None:  # checked field by field even without an invoice
            return None
        return TokenRequest(client_id, client_secret, " ".join(scope.split()), terminal or None)
    if not (terminal and _plain_invoice_id(invoice_value, strict_invoice_id)
            and _plain(currency, 8) and CURRENCY_RE.match(currency) and is_plain_amount(amount)):
        return None
    return TokenRequest(client_id, client_secret, " ".join(scope.split()), terminal, invoice_value,
                        parse_amount(amount, "amount", allow_zero=True), currency)


def _given(fields: dict[str, Any], name: str) -> Any:
    """A field's value, None when absent (a form), UNSET (a decoded declaration) or JSON null."""
    value = fields.get(name)
    return None if value is UNSET else value


def _plain_invoice_id(value: Any, strict: bool) -> bool:
    return _plain(value, 64) and (not strict or INVOICE_ID_RE.match(value) is not None)


def _optional_text(value: Any, field: str) -> str | None:
    if value is None:
        return None
    return parse_str(value, field, max_length=512)


def password_grant(tokens: Any, form: dict[str, Any]) -> dict[str, object]:
    """`grant_type=password` (the merchant's cabinet login) and `grant_type=refresh_token`, each decoded
    through its declaration (wire/token_grants.py)."""
    folded = normalise_grant(form)
    if form.get("grant_type") == "refresh_token":
        refresh = decode(RefreshTokenRequest, folded, TOKEN_TYPE_MESSAGES, {})
        value = parse_str(require(refresh.refresh_token, "refresh_token"), "refresh_token")
        return dict(tokens.response_body(tokens.refresh(value)))
    login = decode(PasswordTokenRequest, folded, TOKEN_TYPE_MESSAGES, {})
    username = parse_str(require(login.username, "username"), "username")
    password = parse_str(require(login.password, "password"), "password")
    merchant = tokens.merchant_by_login(username, password)
    if merchant is None:
        raise unauthorized("invalid username or password")
    scope = " ".join(parse_str(login.scope, "scope", max_length=512).split())
    token = tokens.issue_password(merchant, scope, _optional_text(given(login.secret_hash), "secret_hash"))
    return dict(tokens.response_body(token))


def token_answer(app: web.Application, request: web.BaseRequest, form: dict[str, Any]) -> web.Response:
    """The token endpoint's answer to a read body: a token, or the bank's error (both with CORS)."""
    try:
        response = _issue_token(app, request, form)
    except EpayError as exc:
        return token_error(exc)
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


def _issue_token(app: web.Application, request: web.BaseRequest, form: dict[str, Any]) -> web.Response:
    """A token for the read form (any grant), or the EpayError that refuses it."""
    if form.get("grant_type") in ("password", "refresh_token"):
        grant: dict[str, Any] = password_grant(app[TOKENS], form)
        return json_response(TokenResponse(**grant))
    token_request = parse_token_request(form, app[SETTINGS].strict_invoice_id)
    merchant = app[STORE].authenticate_client(token_request.client_id, token_request.client_secret)
    if merchant is None:
        raise unauthorized("invalid client_id or client_secret")
    note_client(request, merchant.client_id)
    if token_request.terminal_id and merchant.terminal(token_request.terminal_id) is None:
        raise bad_request(
            f"field 'terminal': unknown terminal {token_request.terminal_id[:64]!r} "
            f"for client {merchant.client_id!r}"
        )
    tokens = app[TOKENS]
    token = tokens.issue(merchant, token_request)
    body: dict[str, Any] = tokens.response_body(token)
    return json_response(TokenResponse(**body))


async def issue_token_cors(request: web.Request) -> web.Response:
    try:
        form = await read_form_or_json(request)
    except EpayError as exc:
        return token_error(exc)
    return token_answer(request.app, request, form)


def token_error(exc: EpayError) -> web.Response:
    """An error of the token endpoint in the bank's format, with CORS (a body that could not be read,
    a field that fails its check, an unknown client)."""
    response = render_error(exc)
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


def fast_token_answer(app: web.Application, request: web.BaseRequest, body: bytes,
                      content_type: str) -> web.Response:
    """The token endpoint on the fast lane (web/fast_lane.py): the same body readers, then `token_answer`."""
    try:
        if content_type == FORM_TYPE:
            form = form_fields(body, "utf-8", max_form_fields(request))
        else:
            form = json_body(body)
    except EpayError as exc:
        return token_error(exc)
    return token_answer(app, request, form)


async def token_preflight(request: web.Request) -> web.Response:
    return web.Response(status=204, headers=CORS_HEADERS)


def setup(app: web.Application, add_route: Any) -> None:
    for prefix in ("", "/epay2"):
        path = prefix + "/oauth2/token"
        app[FAST_LANE].add((path, path + "/"), fast_token_answer, (FORM_TYPE, "application/json"))
        add_route("POST", path, issue_token_cors, doc=lazy_doc(BANK_DOCS, "issue_token", prefix))
        add_route("OPTIONS", path, token_preflight,
                  doc=lazy_doc(BANK_DOCS, "token_preflight", prefix))
