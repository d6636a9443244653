"""The mock's own API under `/_mock/` (a prefix the bank never uses): health and introspection."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from mock_epay import __version__
from mock_epay.app_keys import STORE
from mock_epay.journal import journal_entry_json


async def health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok", "version": __version__})


async def journal(request: web.Request) -> web.Response:
    limit = request.query.get("limit", "100")
    count = int(limit) if limit.isdigit() else 100
    entries = request.app[STORE].journal(count)
    return web.json_response({"requests": [journal_entry_json(e) for e in reversed(entries)]})


def setup(app: web.Application, add_route: Any) -> None:
    add_route("GET", "/_mock/health", health)
    add_route("GET", "/_mock/requests", journal)
