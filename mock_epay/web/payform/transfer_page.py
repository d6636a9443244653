"""The transfer page of `halyk.p2p`, `halyk.aft` and `halyk.oct`: card fields per kind, then the transfer.

`payment-api.js` opens the payform with the payment object and `&isTransfer=true` (P2P),
`&isAFT=true` or `&isOCT=true` (spec core 4.1, products 5.3). This page reads that object
as an SDK `order` (invoiceId -> `order.id`, amount, currency, terminal, description,
postLink, failurePostLink; email -> `order.senderEmail`), checks its token with the gateway
(scope `transfer`, bound order), and shows the card parts of products 5.1: the sender's
card and the receiver's card (P2P), the sender's card only (AFT: the money goes to the
merchant), the receiver's card or phone + IIN only (OCT payouts). What the buyer types is
turned into the SDK's `card.sender` / `card.receiver` and validated by the API's own parser
(`web/bank/transfers.py`: Luhn, expiry, CVC, phone, IIN), then `gateway.transfers.run_transfer`
decides (scenario rules, test cards, fees) and records it and queues its callback. As the API
and the SDK, transfers have no 3-D Secure step. The result page shows the fee and the masked
cards, then goes back to backLink / failureBackLink like a payment.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec
from aiohttp import web

from mock_epay.gateway import sandbox_cards
from mock_epay.gateway.errors import EpayError
from mock_epay.gateway.models import Merchant, Token
from mock_epay.gateway.outcomes import PageShape, entry_for
from mock_epay.gateway.transfer_records import Transfer, TransferKind
from mock_epay.gateway.transfers import (
    TransferOrder,
    TransferRequest,
    check_token,
    run_transfer,
    transfer_fee,
)
from mock_epay.web.app_keys import GATEWAY, STORE, TOKENS
from mock_epay.web.bank.transfers import parse_order, parse_party
from mock_epay.web.client import client_gone
from mock_epay.web.payform.params import PageError, access_token_of, decode_params, normalise_expiry
from mock_epay.web.payform.rendering import (
    PREFIXES,
    common,
    finish,
    format_amount,
    gateway_failure,
    is_true,
    posted_form,
    render,
    render_error,
)
from mock_epay.web.readers import first_present, parse_back_link
from mock_epay.wire.route_docs import BANK_DOCS, lazy_doc

# The page-URL flag each widget function appends, and the kind it opens.
FLAGS = (("isTransfer", TransferKind.P2P), ("isAFT", TransferKind.AFT), ("isOCT", TransferKind.OCT))
TITLES = {TransferKind.P2P: "Card to card transfer", TransferKind.AFT: "Pay from your card",
          TransferKind.OCT: "Payout to your card"}
PASSED_ON = ("mockScenario",)
# The API's field path (in its error message) -> the page's input that holds it.
FIELD_OF = (("card.sender.cardCred", "senderCard"), ("card.sender.expire", "senderExpiry"),
            ("card.sender.cvc", "senderCvc"), ("card.sender.name", "senderName"),
            ("card.receiver.cardCred", "receiverCard"), ("card.receiver.phone", "receiverPhone"),
            ("card.receiver.iin", "receiverIin"), ("card.receiver.name", "receiverName"))
TYPED = tuple(name for _, name in FIELD_OF) + ("receiverType",)
_FIELD_RE = re.compile(r"^field '([^']+)'")


def kind_of(query: dict[str, str]) -> TransferKind | None:
    """The transfer kind the page URL asks for, or None for an ordinary payment."""
    for flag, kind in FLAGS:
        if is_true(query.get(flag)):
            return kind
    return None


class OpenTransfer(msgspec.Struct, frozen=True):
    """A decoded payment object read as a transfer order, with its checked token."""

    raw_params: str
    kind: TransferKind
    order: TransferOrder
    token: Token
    merchant: Merchant
    back_link: str | None
    failure_back_link: str | None
    scenario: str | None
    passed_on: dict[str, str]
    short: bool


def _order_of(fields: dict[str, Any]) -> TransferOrder:
    """The payment object as the SDK's `order` object, parsed by the API's own rules."""
    _, invoice = first_present(fields, "invoiceId", "invoiceID", "orderId")
    _, terminal = first_present(fields, "terminal", "terminalId")
    raw = {"id": invoice, "amount": fields.get("amount"), "currency": fields.get("currency") or "KZT",
           "description": fields.get("description") or None, "terminalId": terminal,
           "senderEmail": fields.get("email") or None, "postLink": fields.get("postLink") or None,
           "failurePostLink": fields.get("failurePostLink") or None}
    return parse_order(raw)


def open_transfer(request: web.Request, raw_params: str, kind: TransferKind,
                  query: dict[str, str], short: bool) -> OpenTransfer:
    fields = decode_params(raw_params)
    try:
        _, auth = first_present(fields, "auth", "token")
        if auth is None:
            raise PageError("field 'auth' is required (the token response object)")
        order = _order_of(fields)
        back_link = parse_back_link(fields.get("backLink"), "backLink")
        failure_back_link = parse_back_link(fields.get("failureBackLink"), "failureBackLink")
    except EpayError as exc:
        raise PageError(exc.message.replace("order.id", "invoiceId").replace("order.", "")) from exc
    token = _checked_token(request, access_token_of(auth), TransferRequest(kind, order, None, None))
    store = request.app[STORE]
    merchant = store.merchant(token.client_id)
    if merchant is None or store.terminal_of(token.client_id, order.terminal_id) is None:
        raise PageError(f"unknown terminal {order.terminal_id[:64]!r} for this merchant")
    if store.transfer_succeeded(token.client_id, order.order_id):
        raise PageError(f"Order {order.order_id} has already been transferred.", status=409,
                        title="This order is already paid")
    scenario = fields.get("mockScenario") or query.get("mockScenario")
    passed_on = {k: query[k] for k in PASSED_ON if query.get(k)}
    return OpenTransfer(raw_params, kind, order, token, merchant, back_link, failure_back_link,
                        str(scenario) if scenario else None, passed_on, short)


def _checked_token(request: web.Request, access_token: str, transfer: TransferRequest) -> Token:
    """The token in `auth`, checked by the gateway's transfer rules (scope `transfer`, its order)."""
    try:
        token = request.app[TOKENS].resolve(access_token)
        check_token(token, transfer)
    except EpayError as exc:
        raise PageError(f"The token in 'auth' is not accepted for this transfer: {exc.message}",
                        status=exc.status if exc.status in (400, 401) else 400,
                        title="The transfer session is not valid") from exc
    return token


# -- what the buyer typed, as the SDK's card parts --------------------------------------------


def _digits(text: str) -> str:
    return re.sub(r"[\s-]", "", text)


def sender_part(form: dict[str, str]) -> dict[str, Any]:
    expiry = normalise_expiry(form.get("senderExpiry", ""))
    month, _, year = expiry.partition("/")
    return {"transferType": "TYPEPAN", "cardCred": _digits(form.get("senderCard", "")),
            "expire": {"month": month, "year": year}, "cvc": form.get("senderCvc", "").strip(),
            "name": " ".join(form.get("senderName", "").split()).upper(), "save": False}


def receiver_part(form: dict[str, str], kind: TransferKind) -> dict[str, Any]:
    if kind is TransferKind.OCT and form.get("receiverType") == "phone":
        return {"transferType": "TYPEPHONE", "phone": re.sub(r"[\s()-]", "", form.get("receiverPhone", "")),
                "iin": form.get("receiverIin", "").strip(),
                "name": " ".join(form.get("receiverName", "").split()).upper()}
    return {"transferType": "TYPEPAN", "cardCred": _digits(form.get("receiverCard", "")), "save": False}


def read_parts(form: dict[str, str], opened: OpenTransfer) -> TransferRequest:
    """The typed card parts, validated by the API's parser; an EpayError names the first bad field."""
    kind = opened.kind
    sender = parse_party(sender_part(form), "sender", kind) if kind.needs_sender else None
    receiver = parse_party(receiver_part(form, kind), "receiver", kind) if kind.needs_receiver else None
    return TransferRequest(kind, opened.order, sender, receiver)


def field_error(exc: EpayError) -> dict[str, str]:
    """The API's complaint placed next to the input it is about (else above the form)."""
    match = _FIELD_RE.match(exc.message)
    path = match.group(1) if match else ""
    for prefix, name in FIELD_OF:
        if path.startswith(prefix):
            return {name: exc.message}
    return {"form": exc.message}


# -- rendering ----------------------------------------------------------------------------------


def render_transfer_form(request: web.Request, opened: OpenTransfer, *, typed: dict[str, str] | None = None,
                         errors: dict[str, str] | None = None, status: int = 200) -> web.Response:
    order = opened.order
    fee = transfer_fee(request.app[GATEWAY], order.amount)
    cards = [{"pan": c.pan, "brand": c.brand, "expiry": c.expiry, "cvc": c.cvc,
              "effect": "approved (transfers have no 3-D Secure step)" if c.secure3d else c.effect}
             for c in sandbox_cards.TEST_CARDS]
    return render(
        "payform_transfer.html", status=status, kind=opened.kind.value, title=TITLES[opened.kind],
        merchant=opened.merchant.name, order=order, amount=format_amount(order.amount, order.currency),
        fee=format_amount(fee, order.currency), total=format_amount(order.amount + fee, order.currency),
        has_fee=fee > 0, needs_sender=opened.kind.needs_sender, needs_receiver=opened.kind.needs_receiver,
        by_phone=opened.kind is TransferKind.OCT, params=opened.raw_params, passed_on=opened.passed_on,
        typed={k: (typed or {}).get(k, "") for k in TYPED if k not in ("senderCvc",)},
        errors=errors or {}, test_cards=cards, cancel_link=opened.failure_back_link or opened.back_link,
        **common(request, opened.short, {"transfer": opened.kind.value}),
    )


def result_details(transfer: Transfer) -> tuple[tuple[str, str], ...]:
    """What the result page lists about a recorded transfer (masked cards only)."""
    currency = transfer.transaction.currency
    lines = [("Amount", format_amount(transfer.transaction.org_amount, currency)),
             ("Fee", format_amount(transfer.fee, currency))]
    if transfer.sender is not None:
        lines.append(("From", transfer.sender.mask))
    if transfer.receiver is not None:
        lines.append(("To", transfer.receiver.mask or transfer.receiver.phone))
    return tuple(lines)


# -- handlers ---------------------------------------------------------------------------------


async def transfer_page(request: web.Request, query: dict[str, str], kind: TransferKind) -> web.Response:
    """`GET /payform/?params=...&isTransfer=true` (or isAFT, isOCT): the transfer form."""
    short = is_true(query.get("isShortForm"))
    try:
        opened = open_transfer(request, query.get("params", ""), kind, query, short)
    except PageError as exc:
        return render_error(request, exc, short)
    return render_transfer_form(request, opened)


async def submit_transfer(request: web.Request) -> web.Response:
    """`POST /payform/transfer`: validate the typed cards, run the transfer, show its result."""
    form = await posted_form(request)
    short = is_true(form.get("isShortForm"))
    kind = next((k for k in TransferKind if k.value == form.get("kind")), None)
    if kind is None:
        return render_error(request, PageError("the form names no transfer kind (p2p, aft or oct)"), short)
    query = {k: form[k] for k in PASSED_ON if form.get(k)}
    try:
        opened = open_transfer(request, form.get("params", ""), kind, query, short)
    except PageError as exc:
        return render_error(request, exc, short)
    try:
        transfer = read_parts(form, opened)
    except EpayError as exc:
        return render_transfer_form(request, opened, typed=form, errors=field_error(exc), status=400)
    try:
        result = await run_transfer(request.app[GATEWAY], transfer, opened.token, scenario=opened.scenario,
                                    ip=request.remote or "", client_gone=client_gone(request))
    except EpayError as exc:  # a saved card gone, the order paid meanwhile
        return finish(request, success=False, message=exc.message, short=short,
                      back_link=opened.back_link, failure_back_link=opened.failure_back_link)
    outcome, recorded = result.outcome, result.transfer
    if entry_for(outcome.kind).page_shape in (PageShape.UNAVAILABLE, PageShape.DROPPED):
        return gateway_failure(request, outcome, short)
    success = recorded is not None and recorded.transaction.status.is_success
    message = "Transfer successful" if success else f"Transfer declined: {outcome.message}"
    return finish(request, success=success, message=message, short=short,
                  tx_reference=recorded.transaction.reference if recorded else "",
                  details=result_details(recorded) if recorded else (),
                  back_link=opened.back_link, failure_back_link=opened.failure_back_link)


def setup(app: web.Application, add_route: Any) -> None:
    """The form's post under each payform prefix (the GET is the payform's own, by its flag)."""
    for prefix in PREFIXES:
        add_route("POST", prefix + "transfer", submit_transfer,
                  doc=lazy_doc(BANK_DOCS, "submit_transfer_page", prefix))

