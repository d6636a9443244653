"""The mock's own API under `/_mock/` (a prefix the bank never uses): health and introspection."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from mock_epay import __version__
from mock_epay.web.app_keys import STORE
from mock_epay.web.journal import journal_entry_json
from mock_epay.web.readers import parse_limit
from mock_epay.wire.admin import Health, Journal
from mock_epay.wire.render import json_response
from mock_epay.wire.route_docs import ADMIN_DOCS, lazy_doc
from mock_epay.wire.shape import declared

DEFAULT_LIMIT = 100
MAX_LIMIT = 10_000


async def health(request: web.Request) -> web.Response:
    return json_response(Health(status="ok", version=__version__))


async def journal(request: web.Request) -> web.Response:
    count = parse_limit(request.query.get("limit"), default=DEFAULT_LIMIT, maximum=MAX_LIMIT)
    entries = request.app[STORE].journal(count)
    return json_response(declared(Journal, {"requests": [journal_entry_json(e) for e in reversed(entries)]}))


def setup(app: web.Application, add_route: Any) -> None:
    add_route("GET", "/_mock/health", health, doc=lazy_doc(ADMIN_DOCS, "health"))
    add_route("GET", "/_mock/requests", journal, doc=lazy_doc(ADMIN_DOCS, "request_journal"))
