"""The dashboard at `/_mock/ui/`: one jinja2 page plus our own small JS and CSS (no build step).

The page is static; `static/dashboard.js` (served with the CSS under `/_mock/static/`, which
the admin token leaves open) polls the admin JSON API (`/_mock/transactions`, `/_mock/deliveries`,
...) about once a second and renders it. When the admin token is on,
open the page as `/_mock/ui/?token=<token>`: the script sends it as `X-Mock-Admin-Token`.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from mock_epay import __version__
from mock_epay.gateway.codes import COMMON_DECLINES, reason_message
from mock_epay.web.app_keys import STORE
from mock_epay.web.pages import render_template, static_file_response
from mock_epay.wire.route_docs import ADMIN_DOCS, lazy_doc

STATIC_FILES = {
    "dashboard.css": "text/css",
    "dashboard.js": "application/javascript",
}


async def dashboard_page(request: web.Request) -> web.Response:
    merchants = request.app[STORE].merchants()
    html = render_template(
        "dashboard.html",
        version=__version__,
        static_url="/_mock/static/",
        merchants=[{"client_id": m.client_id, "name": m.name} for m in merchants],
        decline_codes=[(code, reason_message(code)) for code in COMMON_DECLINES],
    )
    return web.Response(text=html, content_type="text/html", headers={"Cache-Control": "no-cache"})


async def dashboard_static(request: web.Request) -> web.Response:
    return static_file_response(request.match_info["name"], STATIC_FILES)


def setup(app: web.Application, add_route: Any) -> None:
    add_route("GET", "/_mock/ui", dashboard_page, doc=lazy_doc(ADMIN_DOCS, "dashboard"))
    add_route("GET", "/_mock/static/{name}", dashboard_static, doc=lazy_doc(ADMIN_DOCS, "dashboard_static"))
