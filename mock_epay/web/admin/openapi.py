"""`GET /_mock/openapi.json`: the OpenAPI 3.1 description built by `mock_epay.wire.openapi`.

The document is built and serialised on the first request (not at start-up) and then kept.
"""

from __future__ import annotations

import functools
import json
from typing import Any

from aiohttp import web


@functools.cache
def document_text() -> str:
    from mock_epay.wire.openapi import build_document

    return json.dumps(build_document(), ensure_ascii=False)


async def openapi_json(request: web.Request) -> web.Response:
    return web.Response(text=document_text(), content_type="application/json",
                        headers={"Access-Control-Allow-Origin": "*"})


def setup(app: web.Application, add_route: Any) -> None:
    add_route("GET", "/_mock/openapi.json", openapi_json)
