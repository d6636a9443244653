"""Transfer routes: `POST /p2p/transfer` (P2P), `/chdebit/transfer` (AFT), `/chpayment/transfer` (OCT),
`GET /check-status/p2p/transaction/{order}`, each with and without `/api`; and `GET /_mock/transfers`.

Handlers parse the SDK's `{order, card: {sender, receiver}}` body into a `TransferRequest`
(shapes, Luhn for TYPEPAN, phone and IIN for TYPEPHONE) and answer what
`mock_epay.gateway.transfers.run_transfer` decided.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec
from aiohttp import web

from mock_epay.core.pan import luhn_valid
from mock_epay.gateway.errors import bad_request
from mock_epay.gateway.outcomes import ApiShape, entry_for
from mock_epay.gateway.transfer_records import TransferKind, TransferType
from mock_epay.gateway.transfers import (
    PartyRequest,
    TransferOrder,
    TransferRequest,
    TransferResult,
    readable_transfer,
    run_transfer,
)
from mock_epay.web.app_keys import GATEWAY, STORE
from mock_epay.web.client import RULE_HEADER, bearer, client_gone, scenario_of
from mock_epay.web.readers import (
    optional_str,
    parse_amount,
    parse_bool,
    parse_currency,
    parse_description,
    parse_str,
    parse_url,
    read_json_object,
    require,
)
from mock_epay.web.responses import answer_response
from mock_epay.wire.decode import error_path, is_missing
from mock_epay.wire.render import json_response
from mock_epay.wire.route_docs import deferred_doc
from mock_epay.wire.transfers import TransferRequest as TransferRequestShape
from mock_epay.wire.transfers import (
    normalise_transfer,
    p2p_status_body,
    transfer_body,
    transfer_field_problem,
    transfer_listing,
)

_ORDER_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_PHONE_RE = re.compile(r"^\+?\d{10,15}$")
_IIN_RE = re.compile(r"^\d{12}$")
_TWO_DIGITS = re.compile(r"^\d{2}$")
_CVC_RE = re.compile(r"^\d{3,4}$")
_CARD_ID_RE = re.compile(r"^[A-Za-z0-9-]{1,64}$")


def _object(value: Any, field: str, *, required: bool = True) -> dict[str, Any] | None:
    if value is None and not required:
        return None
    if not isinstance(require(value, field), dict):
        raise bad_request(f"field '{field}' must be an object")
    return value  # type: ignore[no-any-return]


def parse_order(raw: dict[str, Any]) -> TransferOrder:
    order_id = parse_str(require(raw.get("id"), "order.id"), "order.id", max_length=64)
    if not _ORDER_ID_RE.match(order_id):
        raise bad_request(f"field 'order.id' must be 1-64 letters, digits, '-' or '_', got {order_id[:40]!r}")
    terminal = raw.get("terminalId", raw.get("terminal"))
    return TransferOrder(
        order_id=order_id,
        amount=parse_amount(raw.get("amount"), "order.amount"),
        currency=parse_currency(raw.get("currency"), "order.currency"),
        description=parse_description(raw.get("description"), "order.description", required=False),
        terminal_id=parse_str(require(terminal, "order.terminalId"), "order.terminalId", max_length=64),
        sender_email=optional_str(raw.get("senderEmail"), "order.senderEmail", max_length=256),
        post_link=parse_url(raw.get("postLink"), "order.postLink"),
        failure_post_link=parse_url(raw.get("failurePostLink"), "order.failurePostLink"),
    )


def _card_number(value: Any, field: str) -> str:
    text = parse_str(require(value, field), field, max_length=32).replace(" ", "")
    if not (text.isdecimal() and text.isascii() and 12 <= len(text) <= 19):
        raise bad_request(f"field '{field}' must be a card number of 12-19 digits")
    if not luhn_valid(text):
        raise bad_request(f"field '{field}' is not a valid card number (Luhn check failed)")
    return text


def _expiry(value: Any, field: str) -> str:
    expire = _object(value, field)
    assert expire is not None
    month, year = expire.get("month"), expire.get("year")
    if not (isinstance(month, str) and _TWO_DIGITS.match(month) and 1 <= int(month) <= 12):
        raise bad_request(f"field '{field}.month' must be two digits 01-12")
    if not (isinstance(year, str) and _TWO_DIGITS.match(year)):
        raise bad_request(f"field '{field}.year' must be two digits (YY)")
    return f"{month}/{year}"


def parse_party(raw: dict[str, Any], role: str, kind: TransferKind) -> PartyRequest:
    """One card part, validated by its `transferType` (and who may use which type)."""
    where = f"card.{role}"
    type_text = parse_str(require(raw.get("transferType"), f"{where}.transferType"), f"{where}.transferType")
    try:
        transfer_type = TransferType(type_text)
    except ValueError:
        raise bad_request(
            f"field '{where}.transferType' must be TYPEPAN, TYPECARDID or TYPEPHONE, got {type_text[:40]!r}"
        ) from None
    name = optional_str(raw.get("name"), f"{where}.name", max_length=128)
    save = parse_bool(raw.get("save"), f"{where}.save")
    if transfer_type is TransferType.PHONE:
        if role != "receiver" or kind is not TransferKind.OCT:
            raise bad_request(
                f"field '{where}.transferType': TYPEPHONE is only for the receiver of a "
                f"payout (POST /chpayment/transfer)"
            )
        phone = parse_str(require(raw.get("phone"), f"{where}.phone"), f"{where}.phone", max_length=16)
        iin = parse_str(require(raw.get("iin"), f"{where}.iin"), f"{where}.iin", max_length=12)
        if not _PHONE_RE.match(phone):
            raise bad_request(f"field '{where}.phone' must be 10-15 digits (77001234567)")
        if not _IIN_RE.match(iin):
            raise bad_request(f"field '{where}.iin' must be the 12-digit IIN")
        return PartyRequest(transfer_type, phone=phone.lstrip("+"), iin=iin, name=name)
    if transfer_type is TransferType.CARD_ID:
        card_id = parse_str(require(raw.get("cardCred"), f"{where}.cardCred"), f"{where}.cardCred")
        if not _CARD_ID_RE.match(card_id):
            raise bad_request(f"field '{where}.cardCred' must be a saved card id")
        return PartyRequest(transfer_type, card_cred=card_id, name=name)
    pan = _card_number(raw.get("cardCred"), f"{where}.cardCred")
    if role == "receiver":
        return PartyRequest(transfer_type, card_cred=pan, name=name, save=save)
    cvc = parse_str(require(raw.get("cvc"), f"{where}.cvc"), f"{where}.cvc", max_length=4)
    if not _CVC_RE.match(cvc):
        raise bad_request(f"field '{where}.cvc' must be 3 or 4 digits")
    return PartyRequest(
        transfer_type,
        card_cred=pan,
        expiry=_expiry(raw.get("expire"), f"{where}.expire"),
        cvc=cvc,
        name=name,
        save=save,
    )


def decode_transfer(body: dict[str, Any]) -> dict[str, Any]:
    """The body checked against its declaration (`wire.transfers.TransferRequest`): every field of its
    declared JSON type, as plain data for the value checks below; a field that is not is a 400."""
    folded = normalise_transfer(body)
    try:
        decoded = msgspec.convert(folded, TransferRequestShape)
    except msgspec.ValidationError as exc:
        path = error_path(str(exc))
        raise bad_request(f"field {path!r} {transfer_field_problem(path, is_missing(str(exc)))}") from exc
    plain: dict[str, Any] = msgspec.to_builtins(decoded)
    return plain


def parse_transfer(body: dict[str, Any], kind: TransferKind) -> TransferRequest:
    body = decode_transfer(body)
    order = parse_order(_object(body.get("order"), "order") or {})
    cards = _object(body.get("card"), "card") or {}
    sender_raw = _object(cards.get("sender"), "card.sender", required=kind.needs_sender)
    receiver_raw = _object(cards.get("receiver"), "card.receiver", required=kind.needs_receiver)
    sender = parse_party(sender_raw, "sender", kind) if sender_raw and kind.needs_sender else None
    receiver = parse_party(receiver_raw, "receiver", kind) if receiver_raw and kind.needs_receiver else None
    return TransferRequest(kind, order, sender, receiver)


def transfer_response(result: TransferResult, request: web.Request) -> web.StreamResponse:
    outcome, transfer = result.outcome, result.transfer
    answer = entry_for(outcome.kind).api(outcome)
    if answer.shape in (ApiShape.PAYMENT, ApiShape.SECURE3D) and transfer is not None:
        response: web.StreamResponse = json_response(transfer_body(transfer))
    else:
        response = answer_response(answer, request)
    if outcome.rule:
        response.headers[RULE_HEADER] = outcome.rule
    return response


def make_transfer_handler(kind: TransferKind) -> Any:
    async def handle(request: web.Request) -> web.StreamResponse:
        app = request.app
        token = bearer(request)
        transfer = parse_transfer(await read_json_object(request), kind)
        result = await run_transfer(
            app[GATEWAY],
            transfer,
            token,
            scenario=scenario_of(request),
            ip=request.remote or "",
            client_gone=client_gone(request),
        )
        return transfer_response(result, request)

    handle.__name__ = f"{kind.value}_transfer"
    return handle


async def p2p_status(request: web.Request) -> web.Response:
    app = request.app
    token = bearer(request)
    transfer = readable_transfer(app[GATEWAY], token, request.match_info["order"])
    return json_response(p2p_status_body(transfer))


async def list_transfers(request: web.Request) -> web.Response:
    """Admin: every merchant's transfers, newest first (`?client_id=` for one merchant's)."""
    client_id = request.query.get("client_id") or None
    return json_response(transfer_listing(request.app[STORE].transfers(client_id)))


DOCS = "mock_epay.wire.docs_transfers"  # imported only when /_mock/openapi.json is first built


def setup(app: web.Application, add_route: Any) -> None:
    for prefix in ("", "/api"):
        for kind in TransferKind:
            add_route("POST", prefix + kind.path, make_transfer_handler(kind),
                      doc=deferred_doc(DOCS, "transfer_doc", kind, prefix))
        add_route("GET", prefix + "/check-status/p2p/transaction/{order}", p2p_status,
                  doc=deferred_doc(DOCS, "status_doc", prefix))
    add_route("GET", "/_mock/transfers", list_transfers, doc=deferred_doc(DOCS, "list_doc"))
