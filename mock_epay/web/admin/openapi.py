"""`GET /_mock/openapi.json`: the OpenAPI 3.1 description built by `mock_epay.wire.openapi`.

The document is built and serialised on the first request (not at start-up) and then kept.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from mock_epay.web.app_keys import ROUTE_DOCS

DOCUMENT_TEXT: web.AppKey[str] = web.AppKey("openapi_document_text")


def document_text(app: web.Application) -> str:
    """The app's document as JSON text, built on first use and kept."""
    text = app.get(DOCUMENT_TEXT)
    if text is None:
        from mock_epay.wire.openapi import build_document

        text = json.dumps(build_document(app[ROUTE_DOCS]), ensure_ascii=False)
        app[DOCUMENT_TEXT] = text
    return text


async def openapi_json(request: web.Request) -> web.Response:
    return web.Response(text=document_text(request.app), content_type="application/json",
                        headers={"Access-Control-Allow-Origin": "*"})


def setup(app: web.Application, add_route: Any) -> None:
    add_route("GET", "/_mock/openapi.json", openapi_json)
