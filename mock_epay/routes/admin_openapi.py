"""`GET /_mock/openapi.json`: the OpenAPI 3.1 description built by `mock_epay.openapi`."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from mock_epay.openapi import build_document

_DOCUMENT: web.AppKey[str] = web.AppKey("openapi_document")


async def openapi_json(request: web.Request) -> web.Response:
    return web.Response(text=request.app[_DOCUMENT], content_type="application/json",
                        headers={"Access-Control-Allow-Origin": "*"})


def setup(app: web.Application, add_route: Any) -> None:
    app[_DOCUMENT] = json.dumps(build_document(), ensure_ascii=False)
    add_route("GET", "/_mock/openapi.json", openapi_json)
