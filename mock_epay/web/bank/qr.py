"""QR by API (spec §4): `POST /payment/qr/generate` and `GET /qr`, with and without `/api`.

Handlers parse and answer; `mock_epay.gateway.qr` keeps the bills and their statuses.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from mock_epay.gateway import qr
from mock_epay.gateway.errors import EpayError, bad_request
from mock_epay.gateway.models import TokenKind
from mock_epay.gateway.qr import QrRequest
from mock_epay.web.app_keys import GATEWAY
from mock_epay.web.client import bearer, public_base
from mock_epay.web.optional_body import read_optional_body
from mock_epay.web.readers import optional_str, parse_url
from mock_epay.wire.decode import decode_refusing
from mock_epay.wire.invoice_links import inline, under
from mock_epay.wire.openapi_parts import (
    ANY_TOKEN,
    PAYMENT_TOKEN,
    STR,
    UNAUTHORIZED,
    error,
    operation,
    param,
    request_body,
    response,
)
from mock_epay.wire.qr import QR_URL_FIELDS, QrGenerated, QrGenerateRequest, QrStatus, normalise_qr_request
from mock_epay.wire.render import json_response


def not_a_url(name: str) -> EpayError:
    """The bank's wording for a postLink / failurePostLink it refuses (spec 4.2)."""
    return bad_request(f"{name} is not a valid URL", 100)


def _refusal(path: str) -> EpayError | None:
    return not_a_url(path) if path in QR_URL_FIELDS else None


def parse_qr_request(body: dict[str, Any]) -> QrRequest:
    """The body folded and decoded into its declaration (wire/qr.py), then each value checked."""
    shape = decode_refusing(QrGenerateRequest, normalise_qr_request(body), _refusal)
    return QrRequest(
        post_link=_url(shape.postLink, "postLink"),
        failure_post_link=_url(shape.failurePostLink, "failurePostLink"),
        description=_text(shape.description, "description", 1024),
        language=_text(shape.language, "language", 8) or "RU",
        account_id=_text(shape.accountId, "accountId", 128),
        email=_text(shape.payerEmail, "payerEmail", 256),
        phone=_text(shape.payerPhone, "payerPhone", 32),
    )


def _url(value: Any, name: str) -> str | None:
    try:
        return parse_url(value, name)
    except EpayError as exc:
        raise not_a_url(name) from exc


def _text(value: Any, name: str, max_length: int) -> str:
    return optional_str(value, name, max_length=max_length) if value != "" else ""


async def generate(request: web.Request) -> web.Response:
    token = bearer(request, TokenKind.PAYMENT)
    body = await read_optional_body(request)
    bill = qr.generate(request.app[GATEWAY], token, parse_qr_request(body))
    return json_response(QrGenerated(**qr.generate_json(public_base(request), bill)))


async def status(request: web.Request) -> web.Response:
    token = bearer(request)
    number = request.query.get("billNumber", "").strip()[:32] or None
    bill = qr.for_token(request.app[GATEWAY], token, number)
    return json_response(QrStatus(**qr.status_json(public_base(request), bill)))


def _generate_doc() -> dict[str, Any]:
    example = {"postLink": "https://shop.example/epay/ok", "failurePostLink": "https://shop.example/epay/fail",
               "description": "Consultation", "language": "ru", "accountId": "42"}
    return operation(
        "generateQr", "Make a QR bill for the payment token's invoice", ["QR"], {
            "200": response("The bill; `qrcode` opens the Homebank-app simulator", inline(QrGenerated)),
            "400": error("A postLink that is not a URL",
                         {"code": 100, "message": "postLink is not a valid URL"}),
            "401": UNAUTHORIZED,
        }, body=request_body(QrGenerateRequest, example, required=False),
        security=PAYMENT_TOKEN)


def _status_doc() -> dict[str, Any]:
    return operation(
        "qrStatus", "Poll a QR bill (by billNumber, or the payment token's invoice)", ["QR"], {
            "200": response("The SDK's status object", inline(QrStatus)),
            "404": error("Unknown bill", {"code": 102, "message": "qr not found"}), "401": UNAUTHORIZED,
        }, parameters=[param("billNumber", "query", STR, "the bill's number", "100000000001",
                                      required=False)],
        security=ANY_TOKEN)


def setup(app: web.Application, add_route: Any) -> None:
    add_route("POST", "/payment/qr/generate", generate, doc=_generate_doc)
    add_route("POST", "/api/payment/qr/generate", generate, doc=under("/api", _generate_doc))
    add_route("GET", "/qr", status, doc=_status_doc)
    add_route("GET", "/api/qr", status, doc=under("/api", _status_doc))
