"""The client at the other end of a request: the mock's base URL as it sees it, the scenario headers,
whether it is still connected, and dropping its connection.

Shared by the bank routes, the payment page and the demo shop, so route modules need not import
each other.
"""

from __future__ import annotations

from aiohttp import web

from mock_epay.gateway.models import Token, TokenKind
from mock_epay.gateway.payments import ClientGone
from mock_epay.settings import Settings
from mock_epay.web.app_keys import SETTINGS, TOKENS
from mock_epay.web.journal import note_client

SCENARIO_HEADER = "X-Mock-Scenario"  # names a scenario rule outright
RULE_HEADER = "X-Mock-Rule"  # names the scenario rule that decided (absent when none did)


def bearer(request: web.Request, kind: TokenKind | None = None) -> Token:
    """The request's bearer token (401 when missing, unknown, expired or of another `kind`), and its
    merchant noted for the request journal (which then needs no second look-up)."""
    return bearer_for(request.app, request, kind)


def bearer_for(app: web.Application, request: web.BaseRequest, kind: TokenKind | None = None) -> Token:
    """`bearer` for a request answered outside the router (the fast lane: no `request.app`)."""
    token = app[TOKENS].authenticate(request.headers, kind)
    note_client(request, token.client_id)
    return token


def public_base(request: web.Request) -> str:
    """The mock's base URL as browsers see it: `public_url` when set, else this request's origin."""
    return public_base_for(request.app[SETTINGS], request)


def public_base_for(settings: Settings, request: web.BaseRequest) -> str:
    """`public_base` with the app's settings given (a request answered outside the router)."""
    if settings.public_url:
        return settings.base_url
    return str(request.url.origin()).rstrip("/")


def scenario_of(request: web.BaseRequest) -> str | None:
    """The rule the request's `X-Mock-Scenario` header names, if any."""
    return request.headers.get(SCENARIO_HEADER)


def client_gone(request: web.BaseRequest) -> ClientGone:
    """A check the gateway can poll: has this request's client closed its connection?"""

    def gone() -> bool:
        return request.transport is None or request.transport.is_closing()

    return gone


def drop_connection(request: web.BaseRequest) -> None:
    """Close the connection; aiohttp then skips writing the answer, quietly."""
    if request.transport is not None:
        request.transport.close()
