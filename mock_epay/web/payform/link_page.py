"""The buyer's side of an invoice link: `GET /redirect/invoice-link/{id}` (with and without `/api`).

An ACTIVE link shows a page with the order and a Pay button leading to the hosted payment
page, with a payment object built from the link and a fresh internal payment token (so the
attempt is an `invoice-link` one for scenario rules and its callback goes to `post_link`).
A paid link says so (200), an expired or cancelled one answers 410, an unknown id 404.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from aiohttp import web

from mock_epay.core.lzstring import compress_to_encoded_uri_component
from mock_epay.gateway import invoice_links
from mock_epay.gateway.models import InvoiceLink, LinkStatus
from mock_epay.web.app_keys import GATEWAY
from mock_epay.web.client import public_base
from mock_epay.web.payform.simple_page import format_amount, render_page
from mock_epay.wire.invoice_links import under
from mock_epay.wire.openapi_parts import PUBLIC, STR, html, operation, param


def payment_object(link: InvoiceLink, access_token: str) -> dict[str, Any]:
    """The payment object the page would get from `halyk.pay`, built from the link (spec 3.6)."""
    f = link.field
    payment: dict[str, Any] = {
        "invoiceId": link.invoice_id, "amount": link.amount, "currency": link.currency,
        "terminal": link.terminal_id, "description": f("description"), "accountId": f("account_id"),
        "language": (f("language") or "RU")[:2].upper(), "cardSave": bool(f("card_save", False)),
        "auth": {"access_token": access_token, "token_type": "Bearer", "scope": "payment"},
    }
    for key, name in (("backLink", "back_link"), ("failureBackLink", "failure_back_link"),
                      ("postLink", "post_link"), ("failurePostLink", "failure_post_link")):
        if f(name):
            payment[key] = f(name)
    return payment


def pay_url(request: web.Request, link: InvoiceLink) -> str:
    token = invoice_links.payment_token(request.app[GATEWAY], link)
    packed = compress_to_encoded_uri_component(json.dumps(payment_object(link, token.access_token)))
    return f"{public_base(request)}/payform/?params={quote(packed, safe='')}"


MESSAGES = {
    LinkStatus.ACTIVE: ("Pay by card on the next page.", 200),
    LinkStatus.CHARGED: ("This invoice has already been paid.", 200),
    LinkStatus.EXPIRED: ("This payment link has expired.", 410),
    LinkStatus.CANCELLED: ("This payment link has been cancelled.", 410),
}


async def link_page(request: web.Request) -> web.Response:
    gateway = request.app[GATEWAY]
    link = gateway.store.find_link(request.match_info["link_id"][:64])
    if link is None:
        return render_page(request, "payform_error.html", status=404, title="Unknown payment link",
                           message="This payment link does not exist.")
    link = invoice_links.current(gateway, link)
    message, status = MESSAGES[link.status]
    merchant = gateway.store.merchant(link.client_id)
    return render_page(request, "invoice_link.html", status=status, link=link, message=message,
                  merchant=merchant.name if merchant else "", description=link.field("description"),
                  amount=format_amount(link.amount, link.currency),
                  expires=invoice_links.bank_time(link.expires_at)[:16].replace("T", " "),
                  pay_url=pay_url(request, link) if link.status is LinkStatus.ACTIVE else "")


def _doc() -> dict[str, Any]:
    return operation(
        "openInvoiceLink", "The buyer opens an invoice link (`invoice_url`)", ["invoice links"], {
            "200": html("The link page with a Pay button (or 'already paid')"),
            "404": html("Unknown link"), "410": html("Expired or cancelled link"),
        }, parameters=[param("link_id", "path", STR, "the link's `id`",
                                             "498331aa-b69f-41ec-b9f5-8e1c3d6b5db1")], security=PUBLIC)


def setup(app: web.Application, add_route: Any) -> None:
    add_route("GET", "/redirect/invoice-link/{link_id}", link_page, doc=_doc)
    add_route("GET", "/api/redirect/invoice-link/{link_id}", link_page, doc=under("/api", _doc))
