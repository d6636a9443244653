"""API answers the outcome table describes (gateway/outcomes.py `ApiAnswer`) as HTTP responses.

One renderer per shape that needs no transaction: the bank's error body (or a scenario's raw
body) and a dropped connection. The transaction-shaped answers are rendered by their route.
"""

from __future__ import annotations

from aiohttp import web

from mock_epay.gateway.outcomes import ApiAnswer, ApiShape
from mock_epay.web.client import drop_connection
from mock_epay.web.errors import error_response


def answer_response(answer: ApiAnswer, request: web.Request) -> web.Response:
    """An error-shaped or dropped answer as HTTP."""
    if answer.shape is ApiShape.DROPPED:
        drop_connection(request)
        return web.Response(status=answer.status)
    if answer.raw_body is not None:
        return web.Response(status=answer.status, text=answer.raw_body)
    return error_response(answer.status, answer.code, answer.message)
