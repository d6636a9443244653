"""`GET /_mock/openapi.json`: the OpenAPI 3.1 description built by `mock_epay.wire.openapi`.

The document is built and serialised on the first request (not at start-up) and then kept.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from mock_epay.web.app_keys import ROUTE_DOCS
from mock_epay.wire.route_docs import ADMIN_DOCS, RouteDoc, lazy_doc

DOCUMENT_TEXT: web.AppKey[dict[str, str]] = web.AppKey("openapi_document_text")  # filled on first use


def document_text(app: web.Application) -> str:
    """The app's document as JSON text, built on first use and kept."""
    cache = app[DOCUMENT_TEXT]
    if "text" not in cache:
        from mock_epay.wire.openapi import build_document

        docs: list[RouteDoc] = app[ROUTE_DOCS]
        cache["text"] = json.dumps(build_document(docs), ensure_ascii=False)
    return cache["text"]


async def openapi_json(request: web.Request) -> web.Response:
    return web.Response(text=document_text(request.app), content_type="application/json",
                        headers={"Access-Control-Allow-Origin": "*"})


def setup(app: web.Application, add_route: Any) -> None:
    app[DOCUMENT_TEXT] = {}
    add_route("GET", "/_mock/openapi.json", openapi_json, doc=lazy_doc(ADMIN_DOCS, "openapi"))
