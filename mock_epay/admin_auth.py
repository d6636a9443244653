"""Admin-token protection for the mock's own API under `/_mock/`, and the rule for exposed servers.

When `Settings.admin_token` is set, every `/_mock/` path needs the token, except the
health check (CI waits on it), static assets and the pages a payer's browser opens
during a payment (`PUBLIC_PATHS`, `PUBLIC_PREFIXES`). The token may come as
`Authorization: Bearer <token>`, `X-Mock-Admin-Token: <token>`, a `?token=` query
parameter or the cookie that a `?token=` visit sets (for the dashboard in a browser).
A missing or wrong token gets a 401 in the bank's error format. The bank's own paths
are never affected.

`exposure_problem(settings)` is the start-up rule: a server bound to an address other
than loopback must have an admin token, unless the operator opted out explicitly with
`allow_open_admin`. `resolve_admin_token` turns the value `auto` into a random token.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import replace

from aiohttp import web

from mock_epay.app_keys import SETTINGS
from mock_epay.errors import GENERIC, error_response
from mock_epay.settings import Settings

ADMIN_PREFIX = "/_mock/"
ADMIN_HEADER = "X-Mock-Admin-Token"
COOKIE_NAME = "mock_epay_admin_token"
QUERY_PARAM = "token"
AUTO_TOKEN = "auto"  # MOCK_EPAY_ADMIN_TOKEN=auto: generate a random token at start-up

# Reachable without the token: what CI polls and what a payer's browser loads mid-payment.
PUBLIC_PATHS = frozenset({"/_mock/health", "/_mock/demo"})  # the demo uses only public data
PUBLIC_PREFIXES = ("/_mock/static", "/_mock/acs")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def needs_admin_token(path: str) -> bool:
    """Whether `path` (as aiohttp decoded it) is an admin path that the token protects."""
    if not path.startswith(ADMIN_PREFIX):
        return False
    bare = path.rstrip("/")
    if bare in PUBLIC_PATHS:
        return False
    return not any(bare == prefix or bare.startswith(prefix + "/") for prefix in PUBLIC_PREFIXES)


def presented_tokens(request: web.Request) -> list[tuple[str, str]]:
    """Every (source, token) the request carries, in order of preference."""
    found: list[tuple[str, str]] = []
    authorization = request.headers.get("Authorization", "")
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        found.append(("header", value.strip()))
    if request.headers.get(ADMIN_HEADER):
        found.append(("header", request.headers[ADMIN_HEADER].strip()))
    if request.query.get(QUERY_PARAM):
        found.append(("query", request.query[QUERY_PARAM]))
    if request.cookies.get(COOKIE_NAME):
        found.append(("cookie", request.cookies[COOKIE_NAME]))
    return found


def _same(presented: str, expected: str) -> bool:
    # Headers and cookies arrive with undecodable bytes as surrogates; those never match.
    return hmac.compare_digest(presented.encode("utf-8", "surrogatepass"),
                               expected.encode("utf-8", "surrogatepass"))


def _refusal(has_token: bool) -> web.Response:
    what = "the admin token is wrong" if has_token else "this admin path needs the admin token"
    message = (
        f"{what}: send 'Authorization: Bearer <token>' or '{ADMIN_HEADER}: <token>' "
        f"(the token is the server's --admin-token / MOCK_EPAY_ADMIN_TOKEN)"
    )
    response = error_response(401, GENERIC, message)
    response.headers["WWW-Authenticate"] = 'Bearer realm="mock-epay admin"'
    return response


@web.middleware
async def admin_auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    expected = request.app[SETTINGS].admin_token
    if not expected or not needs_admin_token(request.path):
        return await handler(request)
    presented = presented_tokens(request)
    matching = [source for source, token in presented if _same(token, expected)]
    if not matching:
        return _refusal(bool(presented))
    response = await handler(request)
    if "query" in matching and "cookie" not in matching and not response.prepared:
        # A browser that opened the dashboard with ?token= keeps access without the query.
        response.set_cookie(COOKIE_NAME, expected, path=ADMIN_PREFIX, httponly=True, samesite="Strict")
    return response


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and `localhost`; every other address or name counts as exposed."""
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def exposure_problem(settings: Settings) -> str | None:
    """Why the server must not start as configured, or None when it may."""
    if settings.admin_token or settings.allow_open_admin or is_loopback(settings.host):
        return None
    return (
        f"refusing to bind {settings.host!r} without an admin token: anyone who can reach the "
        f"port could change scenarios or read payments under /_mock/. Set one with --admin-token "
        f"TOKEN or MOCK_EPAY_ADMIN_TOKEN=TOKEN (or 'auto' to generate one and print it), or opt out "
        f"with --allow-open-admin / MOCK_EPAY_ALLOW_OPEN_ADMIN=1 on a network you trust."
    )


def resolve_admin_token(settings: Settings) -> Settings:
    """Replace the token `auto` by a random one (or by none when the open admin API was allowed)."""
    if settings.admin_token != AUTO_TOKEN:
        return settings
    if settings.allow_open_admin:
        return replace(settings, admin_token=None)
    return replace(settings, admin_token=secrets.token_urlsafe(18))
