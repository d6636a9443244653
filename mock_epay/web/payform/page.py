"""The widget script and the hosted payment page: `/payform/payment-api.js`, `/payform/?params=`, its posts.

Served under `/payform/` and `/redesign-payform/`. The page decodes the payment
object (params.py), checks its token, shows a card form, and on submit runs the
payment through `gateway.payments.run_payment` (with `&isTransfer=true`, `&isAFT=true` or
`&isOCT=true` it is the transfer page of transfer_page.py instead); what it shows next is the outcome table's
`page_shape` (a 3-D Secure outcome shows a one-time-code step first). Afterwards it
redirects to backLink / failureBackLink (full page) or
posts `JSON.stringify({success})` to the merchant's page (widget mode, isShortForm=true).
"""

from __future__ import annotations

import json
from typing import Any

import msgspec
from aiohttp import web

from mock_epay.core.pan import mask_pan
from mock_epay.core.resources import data_dir
from mock_epay.gateway import sandbox_cards
from mock_epay.gateway.codes import GENERIC
from mock_epay.gateway.errors import EpayError
from mock_epay.gateway.models import Card, Merchant, SavedCard, Token
from mock_epay.gateway.outcomes import PageShape, entry_for
from mock_epay.gateway.payments import finish_secure3d, payment_attempt, run_payment
from mock_epay.web.app_keys import CLOCK, GATEWAY, SETTINGS, STORE, TOKENS
from mock_epay.web.client import client_gone, public_base
from mock_epay.web.pages import static_file_response
from mock_epay.web.payform import transfer_page
from mock_epay.web.payform.params import (
    CardForm,
    PageError,
    PaymentObject,
    check_token,
    decode_params,
    read_payment_object,
    validate_card_form,
)
from mock_epay.web.payform.rendering import (
    PREFIXES,
    common,
    finish,
    format_amount,
    gateway_failure,
    is_true,
    posted_form,
    prefix_of,
    render,
    render_error,
    see_other,
)
from mock_epay.wire.route_docs import ADMIN_DOCS, BANK_DOCS, lazy_doc

PASSED_ON = ("mockAutoPay", "mockAutoPayMs", "mockScenario")  # page-URL options kept through the form post
STATIC_FILES = {
    "payform.css": "text/css",
    "payform.js": "application/javascript",
    "transfer.js": "application/javascript",
}


# -- the script and static files ----------------------------------------------------


async def payment_api_js(request: web.Request) -> web.Response:
    source = (data_dir("static") / "payment-api.js").read_text(encoding="utf-8")
    source = source.replace("__MOCK_EPAY_BASE__", _js_string_body(public_base(request)))
    source = source.replace("__MOCK_EPAY_PAGE_PATH__", _js_string_body(prefix_of(request)))
    return web.Response(
        text=source,
        content_type="application/javascript",
        headers={"Cache-Control": "no-cache", "Access-Control-Allow-Origin": "*"},
    )


def _js_string_body(value: str) -> str:
    return json.dumps(value)[1:-1].replace("</", "<\\/")


async def static_file(request: web.Request) -> web.Response:
    return static_file_response(request.match_info["name"], STATIC_FILES)


# -- opening a payment ----------------------------------------------------------------


class OpenPayment(msgspec.Struct, frozen=True):
    """A decoded, checked payment object with what the page shows about it."""

    raw_params: str
    query: dict[str, str]
    payment: PaymentObject
    token: Token
    merchant: Merchant
    saved_card: SavedCard | None
    short: bool


def open_payment(request: web.Request, raw_params: str, query: dict[str, str], short: bool) -> OpenPayment:
    app = request.app
    fields = decode_params(raw_params)
    payment = read_payment_object(fields, query, strict_invoice_id=app[SETTINGS].strict_invoice_id)
    try:
        token = app[TOKENS].resolve(payment.access_token)
    except EpayError as exc:
        raise PageError(
            f"The payment token in 'auth' is not accepted: {exc.message}. Request a new token "
            "for this order and open the page again.", status=401, title="The payment session is not valid",
        ) from exc
    check_token(payment, token)
    store = app[STORE]
    merchant = store.merchant(token.client_id)
    if merchant is None or merchant.terminal(payment.terminal_id) is None:
        raise PageError(f"unknown terminal {payment.terminal_id[:64]!r} for this merchant")
    if store.invoice_succeeded(token.client_id, payment.invoice_id):
        raise PageError(f"Order {payment.invoice_id} has already been paid.", status=409,
                        title="This order is already paid")
    saved = None
    if payment.payment_type == "cardId":
        saved = store.card(token.client_id, payment.card_id)
        if saved is None or not saved.active:
            raise PageError(f"saved card {payment.card_id[:64]!r} is not found or is deactivated")
        if payment.account_id and saved.account_id != payment.account_id:
            raise PageError(f"saved card {saved.id} does not belong to accountId {payment.account_id!r}")
    passed_on = {k: query[k] for k in PASSED_ON if query.get(k)}
    return OpenPayment(raw_params, passed_on, payment, token, merchant, saved, short)


# -- rendering ----------------------------------------------------------------------------


def render_form(
    request: web.Request, opened: OpenPayment, *, errors: dict[str, str] | None = None,
    typed: CardForm | None = None, status: int = 200,
) -> web.Response:
    payment = opened.payment
    today = request.app[CLOCK].now().date()
    auto = payment.auto_pay
    auto_config = None
    if auto is not None:
        known = sandbox_cards.find(auto.card)
        auto_config = {
            "card": auto.card,
            "afterMs": auto.after_ms,
            "expiry": auto.expiry or (known.expiry if known else "12/30"),
            "cvc": auto.cvc or (known.cvc if known else ("1234" if auto.card[:2] in ("34", "37") else "123")),
        }
    cards = [
        {"pan": c.pan, "brand": c.brand, "expiry": c.expiry, "cvc": c.cvc, "effect": c.effect,
         "source": c.source, "note": c.note}
        for c in sandbox_cards.TEST_CARDS
    ]
    return render(
        "payform.html",
        status=status,
        merchant=opened.merchant.name,
        payment=payment,
        amount=format_amount(payment.amount, payment.currency),
        params=opened.raw_params,
        passed_on=opened.query,
        saved_card=opened.saved_card,
        errors=errors or {},
        typed=typed,
        test_cards=cards,
        cancel_link=payment.failure_back_link or payment.back_link,
        **common(request, opened.short, {
            "autoPay": auto_config,
            "testCards": [c.pan for c in sandbox_cards.TEST_CARDS],
            "today": [today.year, today.month],
            "savedCard": opened.saved_card is not None,
        }),
    )


# -- handlers ------------------------------------------------------------------------------


async def payment_page(request: web.Request) -> web.Response:
    query = dict(request.query)
    kind = transfer_page.kind_of(query)
    if kind is not None:  # halyk.p2p / aft / oct
        return await transfer_page.transfer_page(request, query, kind)
    short = is_true(query.get("isShortForm"))
    try:
        opened = open_payment(request, query.get("params", ""), query, short)
    except PageError as exc:
        return render_error(request, exc, short)
    return render_form(request, opened)


async def submit_payment(request: web.Request) -> web.Response:
    app = request.app
    form = await posted_form(request)
    short = is_true(form.get("isShortForm"))
    query = {k: form[k] for k in PASSED_ON if form.get(k)}
    try:
        opened = open_payment(request, form.get("params", ""), query, short)
    except PageError as exc:
        return render_error(request, exc, short)
    payment = opened.payment
    if opened.saved_card is not None:
        card: Card = opened.saved_card.card
        typed = None
    else:
        typed, errors = validate_card_form(form, app[CLOCK].now().date())
        if errors:
            return render_form(request, opened, errors=errors, typed=typed, status=400)
        card = app[STORE].make_card(typed.pan, typed.holder or payment.name.upper(), typed.expiry)
    attempt = payment_attempt(
        payment, opened.token, source="payform", card_pan=card.pan,
        card_id=opened.saved_card.id if opened.saved_card else None,
        name=typed.holder if typed else "", email=typed.email if typed else "",
        phone=typed.phone if typed else "", card_expiry=typed.expiry if typed else "",
        card_cvc=typed.cvc if typed else "", card_save=payment.saves_card and opened.saved_card is None,
        scenario=payment.scenario, ip=request.remote or "",
    )
    links: dict[str, Any] = {"back_link": payment.back_link, "failure_back_link": payment.failure_back_link}
    auto_otp = None
    if payment.auto_pay is not None:
        auto_otp = {"otp": payment.auto_pay.otp, "afterMs": payment.auto_pay.after_ms}
    try:
        result = await run_payment(app[GATEWAY], attempt, card, attempt.card_id,
                                   secure3d_context={"short": short, "auto": auto_otp, **links},
                                   client_gone=client_gone(request))
    except EpayError as exc:  # the invoice is paid or being paid
        return finish(request, success=False, message=exc.message, short=short, **links)
    outcome, tx = result.outcome, result.transaction
    shape = entry_for(outcome.kind).page_shape
    if shape in (PageShape.UNAVAILABLE, PageShape.DROPPED):
        return gateway_failure(request, outcome, short)
    if shape is PageShape.SECURE3D and tx is not None:
        return render_secure3d(request, tx.id, tx.card, short, auto_otp, outcome.otp)
    success = tx is not None and tx.status.is_success  # a declined attempt is recorded REJECT / 3D
    message = "Payment successful" if success else f"Payment declined: {outcome.message}"
    if success and payment.is_verification:
        message = "Card verified and saved" if tx and tx.card_id else "Card verified"
    return finish(request, success=success, message=message, short=short,
                  tx_reference=tx.reference if tx else "", **links)


def render_secure3d(request: web.Request, tx_id: str, card: Card | None, short: bool,
                    auto: dict[str, Any] | None, otp: str, error: str = "") -> web.Response:
    auto_config = None
    if auto is not None:
        auto_config = {"otp": auto.get("otp") or otp, "afterMs": auto.get("afterMs", 300)}
    return render("payform_3ds.html", transaction_id=tx_id, card_mask=card.mask if card else "",
                  error=error, **common(request, short, {"autoOtp": auto_config}))


async def submit_secure3d(request: web.Request) -> web.Response:
    form = await posted_form(request)
    tx_id = form.get("transaction", "")
    pending = request.app[STORE].pending_secure3d(tx_id)
    if pending is None:
        error = PageError("This 3-D Secure step has already ended or expired.",
                          title="The 3-D Secure step is over")
        return render_error(request, error, is_true(form.get("isShortForm")))
    context = pending.context
    tx = finish_secure3d(request.app[GATEWAY], tx_id, form.get("code", ""))
    success = tx.status.is_success
    message = "Payment successful" if success else f"Payment declined: {tx.reason}"
    return finish(request, success=success, message=message, short=bool(context.get("short")),
                  back_link=context.get("back_link"), failure_back_link=context.get("failure_back_link"),
                  tx_reference=tx.reference)


# -- 3-D Secure for cards/auth (spec 2.4): the mock ACS and the TermUrl ---------------------


async def _form_or_query(request: web.Request) -> dict[str, str]:
    values = dict(request.query)
    if request.method == "POST" and request.content_type in ("application/x-www-form-urlencoded",
                                                             "multipart/form-data"):
        values.update(await posted_form(request))
    return values


async def mock_acs(request: web.Request) -> web.Response:
    """The issuer's 3-D Secure page, mocked: the buyer approves or fails the check."""
    form = await _form_or_query(request)
    md, term_url = form.get("MD", ""), form.get("TermUrl", "")
    if not md or not term_url.startswith(("http://", "https://")):
        error = PageError("The ACS needs MD, PaReq and TermUrl (an http(s) URL), posted as a form.",
                          title="3-D Secure request incomplete")
        return render_error(request, error, False)
    pending = request.app[STORE].pending_secure3d(md)
    card = pending.attempt.card_pan if pending else ""
    return render("acs.html", md=md, pa_req=form.get("PaReq", ""), term_url=term_url,
                  card_mask=mask_pan(card) if card else "", **common(request, False))


def _with_query(url: str, key: str, value: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}{key}={value}"


async def confirm_payment(request: web.Request) -> web.Response:
    """TermUrl: the ACS posts MD and PaRes here; the payment ends and the browser is redirected."""
    app = request.app
    token = app[TOKENS].resolve(request.query.get("Access", ""))
    form = await _form_or_query(request)
    md = form.get("MD", "")
    pending = app[STORE].pending_secure3d(md)
    if pending is None or pending.client_id != token.client_id:
        raise EpayError(400, GENERIC, "no 3-D Secure step is pending for this MD")
    context = pending.context
    tx = finish_secure3d(app[GATEWAY], md, passed=form.get("PaRes", "").upper() in ("Y", "APPROVED", "OK"))
    result_page = public_base(request) + "/_mock/acs/result"
    if tx.status.is_success:
        target = _with_query(context.get("back_link") or result_page, "reference", tx.reference)
    else:
        back = context.get("failure_back_link") or context.get("back_link") or result_page
        target = _with_query(back, "errorCode", str(tx.reason_code))
    raise see_other(target)


async def acs_result(request: web.Request) -> web.Response:
    success = "reference" in request.query
    message = "Payment successful" if success else f"Payment declined ({request.query.get('errorCode', '')})"
    return render("payform_result.html", success=success, message=message,
                  reference=request.query.get("reference", ""), back_link=None,
                  **common(request, False, {"result": {"success": success}}))


def setup(app: web.Application, add_route: Any) -> None:
    add_route("GET", "/_mock/acs", mock_acs, doc=lazy_doc(ADMIN_DOCS, "mock_acs"))
    add_route("POST", "/_mock/acs", mock_acs, doc=lazy_doc(ADMIN_DOCS, "mock_acs_form"))
    add_route("GET", "/_mock/acs/result", acs_result, doc=lazy_doc(ADMIN_DOCS, "mock_acs_result"))
    for prefix in ("", "/api"):
        add_route("POST", prefix + "/payments/cards/confirmPayment", confirm_payment,
                  doc=lazy_doc(BANK_DOCS, "confirm_payment", prefix))
    for prefix in PREFIXES:
        add_route("GET", prefix + "payment-api.js", payment_api_js,
                  doc=lazy_doc(BANK_DOCS, "payment_api_js", prefix))
        add_route("GET", prefix + "static/{name}", static_file,
                  doc=lazy_doc(BANK_DOCS, "payment_page_static", prefix))
        add_route("GET", prefix.rstrip("/"), payment_page, doc=lazy_doc(BANK_DOCS, "payment_page", prefix))
        add_route("POST", prefix + "pay", submit_payment,
                  doc=lazy_doc(BANK_DOCS, "submit_payment_page", prefix))
        add_route("POST", prefix + "3ds", submit_secure3d,
                  doc=lazy_doc(BANK_DOCS, "submit_secure3d_page", prefix))
    transfer_page.setup(app, add_route)
