"""The Homebank-app simulator: the page a bill's `qrcode` opens, with Scan, Pay and Reject buttons.

`GET /homebank/qr/{billNumber}` shows the bill; its buttons post to
`/homebank/qr/{billNumber}/scan|approve|reject` and land back on the page. The same actions
are on the admin API (`POST /_mock/qr/{billNumber}/...`, web/admin/outbox.py).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from mock_epay.gateway import qr
from mock_epay.gateway.errors import EpayError
from mock_epay.gateway.models import QrBill, QrStatus
from mock_epay.web.app_keys import GATEWAY
from mock_epay.web.client import public_base, scenario_of
from mock_epay.web.payform.simple_page import format_amount, render_page
from mock_epay.wire.openapi_parts import PUBLIC, STR, html, operation, param

ACTIONS = {
    QrStatus.NEW: (("scan", "Scan"), ("reject", "Reject")),
    QrStatus.SCANNED: (("approve", "Pay"), ("reject", "Reject")),
    QrStatus.BLOCKED: (("reject", "Reject"),),
}


def _page(request: web.Request, bill: QrBill, error: str = "", status: int = 200) -> web.Response:
    base = public_base(request)
    return render_page(request, "homebank_qr.html", status=status, bill=bill, error=error, base=base,
                       amount=format_amount(bill.amount, bill.currency), actions=ACTIONS.get(bill.status, ()))


async def app_page(request: web.Request) -> web.Response:
    try:
        bill = qr.find(request.app[GATEWAY], request.match_info["bill"][:32])
    except EpayError as exc:
        return render_page(request, "payform_error.html", status=404, title="Unknown QR bill",
                           message=exc.message)
    return _page(request, bill)


async def app_action(request: web.Request) -> web.Response:
    gateway = request.app[GATEWAY]
    try:
        bill = qr.find(gateway, request.match_info["bill"][:32])
    except EpayError as exc:
        return render_page(request, "payform_error.html", status=404, title="Unknown QR bill",
                           message=exc.message)
    try:
        bill = await qr.act(gateway, bill, request.match_info["action"], scenario_of(request))
    except EpayError as exc:
        return _page(request, qr.find(gateway, bill.bill_number), exc.message, status=exc.status)
    return _page(request, bill)


def _doc() -> dict[str, Any]:
    return operation("homebankQrPage", "The Homebank-app simulator for a QR bill", ["QR"],
                     {"200": html("The bill with Scan / Pay / Reject buttons"), "404": html("Unknown bill")},
                     parameters=[param("bill", "path", STR, "billNumber", "100000000001")], security=PUBLIC)


def _action_doc() -> dict[str, Any]:
    return operation("homebankQrAction", "A button of the Homebank-app simulator", ["QR"],
                     {"200": html("The bill after the action"), "400": html("Not allowed in this status"),
                      "404": html("Unknown bill")},
                     parameters=[param("bill", "path", STR, "billNumber", "100000000001"),
                                 param("action", "path", {"enum": ["scan", "approve", "reject"]},
                                       "the button", "scan")],
                     security=PUBLIC)


def setup(app: web.Application, add_route: Any) -> None:
    add_route("GET", "/homebank/qr/{bill}", app_page, doc=_doc)
    add_route("POST", "/homebank/qr/{bill}/{action}", app_action, doc=_action_doc)
