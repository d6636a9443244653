"""The dashboard at `/_mock/ui/`: one jinja2 page plus our own small JS and CSS (no build step).

The page is static; `static/dashboard.js` (served with the CSS under `/_mock/static/`, which
the admin token leaves open) polls the admin JSON API (`/_mock/transactions`, `/_mock/deliveries`,
...) about once a second and renders it; `static/dashboard_products.js` does the same for the
product tabs (transfers, subscriptions, invoice links, QR bills with the buyer's-app buttons,
the outbox). When the admin token is on, open the page as `/_mock/ui/?token=<token>`: the
scripts send it as `X-Mock-Admin-Token`.
"""

from __future__ import annotations

from typing import Any

import msgspec
from aiohttp import web

from mock_epay import __version__
from mock_epay.gateway.codes import COMMON_DECLINES, reason_message
from mock_epay.web.app_keys import STORE
from mock_epay.web.pages import render_template, static_file_response
from mock_epay.wire.route_docs import ADMIN_DOCS, lazy_doc

STATIC_FILES = {
    "dashboard.css": "text/css",
    "dashboard.js": "application/javascript",
    "dashboard_products.js": "application/javascript",
}

# A transaction's `source` (what scenario rules match as `match.source`) and how the filter names it.
SOURCES = (
    ("cards/auth", "cards/auth (saved card)"),
    ("cryptopay", "cryptopay (cryptogram)"),
    ("payform", "payform (payment page)"),
    ("recurring", "recurring (renewal)"),
    ("invoice-link", "invoice-link"),
    ("qr", "qr (QR bill)"),
)


class Tab(msgspec.Struct, frozen=True):
    """One product tab: its name (test ids, the script's table), title, columns and empty text."""

    name: str
    title: str
    columns: tuple[str, ...]
    empty: str


TABS = (
    Tab("transfers", "Transfers", ("Time", "Kind", "Order", "Amount", "Fee", "Status", "Reason", "Sender",
                                   "Receiver"),
        "No transfers yet: POST /p2p/transfer, /chdebit/transfer, /chpayment/transfer, halyk.p2p."),
    Tab("subscriptions", "Subscriptions", ("Created", "Invoice", "Transaction", "Frequency", "Amount",
                                           "Next due", "Renewals", "State", ""),
        "No subscriptions yet: POST /recurrent/subscribe on a paid transaction with a saved card."),
    Tab("links", "Invoice links", ("Created", "Invoice", "Shop", "Amount", "Description", "State", "Expires",
                                   "Link", ""),
        "No invoice links yet: POST /invoice."),
    Tab("qr", "QR bills", ("Time", "Bill number", "Invoice", "Status", "Error", "App page", "Buyer's app"),
        "No QR bills yet: POST /payment/qr/generate."),
    Tab("outbox", "Outbox", ("Sent", "Channel", "To", "Invoice", "Link", "Text"),
        "No e-mail or SMS yet: invoice links with recipient_contact or recipient_contact_sms send them."),
)
NUMERIC = frozenset({"Amount", "Fee", "Renewals"})


async def dashboard_page(request: web.Request) -> web.Response:
    merchants = request.app[STORE].merchants()
    html = render_template(
        "dashboard.html",
        version=__version__,
        static_url="/_mock/static/",
        merchants=[{"client_id": m.client_id, "name": m.name} for m in merchants],
        decline_codes=[(code, reason_message(code)) for code in COMMON_DECLINES],
        sources=SOURCES,
        tabs=TABS,
        numeric=NUMERIC,
    )
    return web.Response(text=html, content_type="text/html", headers={"Cache-Control": "no-cache"})


async def dashboard_static(request: web.Request) -> web.Response:
    return static_file_response(request.match_info["name"], STATIC_FILES)


def setup(app: web.Application, add_route: Any) -> None:
    add_route("GET", "/_mock/ui", dashboard_page, doc=lazy_doc(ADMIN_DOCS, "dashboard"))
    add_route("GET", "/_mock/static/{name}", dashboard_static, doc=lazy_doc(ADMIN_DOCS, "dashboard_static"))
