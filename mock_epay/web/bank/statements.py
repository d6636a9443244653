"""Statement routes: `POST /operations` (payments) and `POST /p2p/operations` (transfers), with and
without `/api`, answering `{totalCount, records}` from the token's merchant only.

The body is parsed once into a validated `StatementQuery` (mock_epay.gateway.statements) and the
store runs it (`search_statement`), so a SQL store can push the filters into SQL.
"""

from __future__ import annotations

from typing import Any

import msgspec
from aiohttp import web

from mock_epay.gateway.models import TokenKind
from mock_epay.gateway.statements import Source, invalid, parse_query
from mock_epay.web.app_keys import SETTINGS, STORE
from mock_epay.web.client import bearer
from mock_epay.web.readers import read_json_object
from mock_epay.wire.decode import absent_nulls, decode_refusing
from mock_epay.wire.render import json_response
from mock_epay.wire.route_docs import deferred_doc
from mock_epay.wire.statements import StatementRequest, statement_body, statement_field_problem


def decode_statement(body: dict[str, Any]) -> dict[str, Any]:
    """The body checked against its declaration (`wire.statements.StatementRequest`), as plain data for
    the grammar's checks (`gateway.statements.parse_query`); a field of the wrong type is the bank's 400."""
    decoded = decode_refusing(StatementRequest, absent_nulls(body),
                              lambda path: invalid(statement_field_problem(path)))
    plain: dict[str, Any] = msgspec.to_builtins(decoded)
    return plain


def make_statement_handler(source: Source) -> Any:
    async def handle(request: web.Request) -> web.Response:
        app = request.app
        token = bearer(request, TokenKind.SERVICE)
        body = decode_statement(await read_json_object(request))
        query = parse_query(body, source, page_numbers=app[SETTINGS].statement_paging == "page")
        return json_response(statement_body(app[STORE].search_statement(token.client_id, query)))

    handle.__name__ = f"{source.value}_statement"
    return handle


DOCS = "mock_epay.wire.docs_transfers"  # imported only when /_mock/openapi.json is first built


def setup(app: web.Application, add_route: Any) -> None:
    for prefix in ("", "/api"):
        add_route(
            "POST",
            prefix + "/operations",
            make_statement_handler(Source.PAYMENTS),
            doc=deferred_doc(DOCS, "statement_doc", False, prefix),
        )
        add_route(
            "POST",
            prefix + "/p2p/operations",
            make_statement_handler(Source.TRANSFERS),
            doc=deferred_doc(DOCS, "statement_doc", True, prefix),
        )
