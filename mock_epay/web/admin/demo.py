"""A demo shop at `/_mock/demo`: pays the public test merchant through the widget.

It is what a person opens to see a payment (or a decline) end to end in a browser
without writing a shop: the page fetches a payment token from the mock's token
endpoint, opens `halyk.showPaymentWidget` or `halyk.pay`, and shows the result and
the transaction status. It only ever uses the bank's public test merchant, whose
credentials are published; a server without that merchant answers 404.
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from mock_epay.gateway.codes import GENERIC
from mock_epay.gateway.errors import EpayError
from mock_epay.settings import TEST_CLIENT_ID
from mock_epay.web.app_keys import STORE
from mock_epay.web.client import public_base
from mock_epay.web.pages import render_template
from mock_epay.wire.route_docs import ADMIN_DOCS, lazy_doc

_INVOICE_RE = re.compile(r"^[0-9]{6,15}$")
_AMOUNT_RE = re.compile(r"^[0-9]{1,9}(\.[0-9]{1,2})?$")
RESULTS = ("success", "failure")


async def demo_page(request: web.Request) -> web.Response:
    merchant = request.app[STORE].merchant(TEST_CLIENT_ID)
    if merchant is None:
        raise EpayError(404, GENERIC, "the demo shop pays the public test merchant, which this server "
                                 "does not have (include_test_merchant: false)")
    result = request.query.get("result", "")
    invoice_id = request.query.get("invoiceId", "")
    amount = request.query.get("amount", "100")
    html = render_template(
        "demo.html",
        base=public_base(request),
        merchant={"client_id": merchant.client_id, "client_secret": merchant.client_secret,
                  "terminal": merchant.terminals[0].id},
        amount=amount if _AMOUNT_RE.match(amount) else "100",
        result=result if result in RESULTS else "",
        invoice_id=invoice_id if _INVOICE_RE.match(invoice_id) else "",
    )
    return web.Response(text=html, content_type="text/html", headers={"Cache-Control": "no-cache"})


def setup(app: web.Application, add_route: Any) -> None:
    add_route("GET", "/_mock/demo", demo_page, doc=lazy_doc(ADMIN_DOCS, "demo_shop"))
