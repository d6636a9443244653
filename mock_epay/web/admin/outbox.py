"""Admin views for invoice links and QR bills: the outbox, links, and the Homebank-app actions.

    GET  /_mock/outbox?recipient=&invoice=&clientId=   e-mails and SMS the bank would have sent
    GET  /_mock/invoice-links?clientId=                 every link (current status), newest first
    POST /_mock/invoice-links/{id}/cancel               ACTIVE -> CANCELLED
    GET  /_mock/qr?clientId=                            every QR bill, newest first
    POST /_mock/qr/{billNumber}/scan|approve|reject     the buyer's phone, in one call
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from mock_epay.gateway import invoice_links, outbox, qr
from mock_epay.gateway.errors import EpayError
from mock_epay.gateway.models import OutboxMessage, QrBill
from mock_epay.web.app_keys import GATEWAY
from mock_epay.web.client import public_base, scenario_of
from mock_epay.wire.admin_products import AdminInvoiceLink, AdminInvoiceLinks, AdminQrBill, AdminQrBills
from mock_epay.wire.invoice_links import InvoiceLink, Outbox, inline
from mock_epay.wire.invoice_links import OutboxMessage as MessageShape
from mock_epay.wire.openapi_parts import ADMIN, STR, error, operation, param, response
from mock_epay.wire.render import json_response, rfc3339


def message_json(message: OutboxMessage) -> MessageShape:
    return MessageShape(id=message.id, channel=message.channel, to=message.to, text=message.text,
                        invoice_id=message.invoice_id, invoice_url=message.invoice_url,
                        sent_at=rfc3339(message.sent_at), client_id=message.client_id,
                        link_id=message.link_id)


async def list_outbox(request: web.Request) -> web.Response:
    gateway = request.app[GATEWAY]
    invoice_links.links(gateway, request.query.get("clientId") or None)  # settle paid links first
    found = outbox.messages(gateway, request.query.get("clientId") or None,
                            recipient=request.query.get("recipient"),
                            invoice_id=request.query.get("invoice") or request.query.get("invoice_id"))
    return json_response(Outbox(messages=[message_json(m) for m in found]))


async def list_links(request: web.Request) -> web.Response:
    found = invoice_links.links(request.app[GATEWAY], request.query.get("clientId") or None)
    return json_response(AdminInvoiceLinks(links=[
        AdminInvoiceLink(**invoice_links.link_json(x), client_id=x.client_id) for x in found]))


async def cancel_link(request: web.Request) -> web.Response:
    gateway = request.app[GATEWAY]
    link = gateway.store.find_link(request.match_info["link_id"][:64])
    if link is None:
        raise EpayError(404, 102, "invoice link not found")
    return json_response(InvoiceLink(**invoice_links.link_json(invoice_links.cancel(gateway, link))))


def bill_json(request: web.Request, bill: QrBill) -> AdminQrBill:
    return AdminQrBill(billNumber=bill.bill_number, clientId=bill.client_id, invoiceId=bill.invoice_id,
                       transactionId=bill.transaction_id, createdDate=rfc3339(bill.created_at),
                       **qr.status_json(public_base(request), bill))


async def list_bills(request: web.Request) -> web.Response:
    gateway = request.app[GATEWAY]
    bills = [qr.current(gateway, b) for b in gateway.store.bills(request.query.get("clientId") or None)]
    return json_response(AdminQrBills(bills=[bill_json(request, b) for b in bills]))


async def bill_action(request: web.Request) -> web.Response:
    bill = qr.find(request.app[GATEWAY], request.match_info["bill"][:32])
    bill = await qr.act(request.app[GATEWAY], bill, request.match_info["action"], scenario_of(request))
    return json_response(bill_json(request, bill))


def _outbox_doc() -> dict[str, Any]:
    return operation("listOutbox", "E-mails and SMS the bank would have sent (never sent)", ["mock admin"],
                     {"200": response("Oldest first", inline(Outbox))},
                     parameters=[param("recipient", "query", STR, "an e-mail or phone", required=False),
                                 param("invoice", "query", STR, "an invoice_id", required=False)],
                     security=ADMIN)


def _action_doc() -> dict[str, Any]:
    return operation("qrAppAction", "Scan, approve or reject a QR bill as the buyer's app would",
                     ["mock admin"], {"200": response("The bill after the action", inline(AdminQrBill)),
                                      "400": error("Not allowed in the bill's status"),
                                      "404": error("Unknown bill", {"code": 102, "message": "qr not found"})},
                     parameters=[param("bill", "path", STR, "billNumber", "100000000001"),
                                 param("action", "path", {"enum": ["scan", "approve", "reject"]},
                                       "the button", "scan")],
                     security=ADMIN)


def _links_doc() -> dict[str, Any]:
    return operation("listInvoiceLinks", "Every invoice link, its current status", ["mock admin"],
                     {"200": response("Newest first", inline(AdminInvoiceLinks))},
                     parameters=[param("clientId", "query", STR, "one merchant's", required=False)],
                     security=ADMIN)


def _cancel_doc() -> dict[str, Any]:
    return operation("cancelInvoiceLink", "Cancel an ACTIVE invoice link (the mock's own action)",
                     ["mock admin"], {"200": response("The link, CANCELLED", inline(InvoiceLink)),
                                      "400": error("Not ACTIVE"), "404": error("Unknown link")},
                     parameters=[param("link_id", "path", STR, "the link's id",
                                       "498331aa-b69f-41ec-b9f5-8e1c3d6b5db1")], security=ADMIN)


def _bills_doc() -> dict[str, Any]:
    return operation("listQrBills", "Every QR bill, its current status", ["mock admin"],
                     {"200": response("Newest first", inline(AdminQrBills))},
                     parameters=[param("clientId", "query", STR, "one merchant's", required=False)],
                     security=ADMIN)


def setup(app: web.Application, add_route: Any) -> None:
    add_route("GET", "/_mock/outbox", list_outbox, doc=_outbox_doc)
    add_route("GET", "/_mock/invoice-links", list_links, doc=_links_doc)
    add_route("POST", "/_mock/invoice-links/{link_id}/cancel", cancel_link, doc=_cancel_doc)
    add_route("GET", "/_mock/qr", list_bills, doc=_bills_doc)
    add_route("POST", "/_mock/qr/{bill}/{action}", bill_action, doc=_action_doc)
