"""Admin-token protection for the mock's own API under `/_mock/`, and the rule for exposed servers.

When `Settings.admin_token` is set, every `/_mock/` path needs the token, except the
health check (CI waits on it), static assets and the pages a payer's browser opens
during a payment (`PUBLIC_PATHS`, `PUBLIC_PREFIXES`). The token may come as
`Authorization: Bearer <token>`, `X-Mock-Admin-Token: <token>`, a `?token=` query
parameter or the cookie that a `?token=` visit sets (for the dashboard in a browser).
A missing or wrong token gets a 401 in the bank's error format. The bank's own paths
are never affected.

Without a token (the loopback default) the open admin API is still not open to every web page
the developer visits (`open_admin_refusal`): an admin request whose Host is not one of the
mock's own names is refused (DNS rebinding), and a state-changing one (POST, PUT, PATCH,
DELETE) must come from no page or a same-origin page (`Origin` / `Referer`), must not be
labelled as a form or `text/plain` (what any page can send without a CORS preflight), and a
body must be labelled (as `application/json`; the handlers refuse other types with 415).
Refusals are 403 in the bank's error format. With a token, the token is the protection and
these checks are skipped (proxies put arbitrary names in front).

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
from urllib.parse import urlsplit

from aiohttp import web

from mock_epay.callbacks.sender import CALLBACK_MARKER, REFUSED_MARKER
from mock_epay.gateway.codes import GENERIC
from mock_epay.settings import Settings
from mock_epay.web.app_keys import DISPATCHER, SETTINGS
from mock_epay.web.errors import error_response

ADMIN_PREFIX = "/_mock/"
ADMIN_HEADER = "X-Mock-Admin-Token"
COOKIE_NAME = "mock_epay_admin_token"
QUERY_PARAM = "token"
AUTO_TOKEN = "auto"  # MOCK_EPAY_ADMIN_TOKEN=auto: generate a random token at start-up

# Reachable without the token: what CI polls and what a payer's browser loads mid-payment.
PUBLIC_PATHS = frozenset({"/_mock/health", "/_mock/demo"})  # the demo uses only public data
PUBLIC_PREFIXES = ("/_mock/static", "/_mock/acs")

STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
JSON_TYPE = "application/json"
# What a web page may send anywhere without a CORS preflight (an HTML form, a "simple" fetch).
PAGE_TYPES = frozenset({"text/plain", "application/x-www-form-urlencoded", "multipart/form-data"})

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


async def guarded(request: web.Request, handler: Handler) -> web.StreamResponse:
    """An admin-path request (`needs_admin_token`) through the token check, or with no token the
    open-admin checks; web/middleware.py runs it."""
    if request.method in STATE_CHANGING and CALLBACK_MARKER in request.headers:
        return _callback_loop_refusal(request)
    expected = request.app[SETTINGS].admin_token
    if not expected:
        refusal = open_admin_refusal(request)
        return refusal if refusal is not None else await handler(request)
    presented = presented_tokens(request)
    matching = [source for source, token in presented if _same(token, expected)]
    if not matching:
        return _refusal(bool(presented))
    response = await handler(request)
    if "query" in matching and "cookie" not in matching and not response.prepared:
        # A browser that opened the dashboard with ?token= keeps access without the query.
        response.set_cookie(COOKIE_NAME, expected, path=ADMIN_PREFIX, httponly=True, samesite="Strict")
    return response


def _callback_loop_refusal(request: web.Request) -> web.Response:
    """A callback sent by a mock (this one or another) never changes a mock's state: it could loop.

    The dispatcher learns the socket it arrived on, so the next such callback is refused before sending.
    """
    request.app[DISPATCHER].note_local_socket(request.transport and
                                              request.transport.get_extra_info("sockname"))
    response = error_response(403, GENERIC, f"{request.path[:200]} refuses requests that are mock-epay "
                              "callbacks: a callback may not change the mock's state or create callbacks "
                              "(the postLink points at a mock's own admin API)")
    response.headers[REFUSED_MARKER] = "callback-loop"
    return response


# -- the open admin API (no token): Host, Origin and content type ---------------------------------


def open_admin_refusal(request: web.Request) -> web.Response | None:
    """The 403 for an admin request a foreign web page could have made, or None to let it through."""
    host = host_name(request.host)
    if not host_allowed(request, host):
        return _forbidden(
            f"Host {host[:80]!r} is not an address of this mock: without an admin token the admin API "
            "answers only loopback names (localhost, *.localhost, 127.x, [::1]), the address it is "
            "bound to and public_url (a guard against DNS rebinding); set an admin token to reach "
            "it under other names"
        )
    if request.method not in STATE_CHANGING:
        return None
    source = request.headers.get("Origin") or request.headers.get("Referer")
    if source is not None and not same_origin(request, source):
        return _forbidden(
            f"cross-origin admin request from {source[:80]!r} refused: without an admin token, "
            "state-changing admin requests are accepted only from no web page or this mock's own pages"
        )
    content_type = request.content_type if "Content-Type" in request.headers else ""
    if content_type in PAGE_TYPES or (request.body_exists and not content_type):
        return _forbidden(
            f"admin request bodies must be sent as Content-Type: {JSON_TYPE} (got "
            f"{content_type or 'none'!r}); a form or text/plain body is what any web page "
            "can send, so it is refused (curl: add -H 'Content-Type: application/json')"
        )
    return None


def host_name(authority: str) -> str:
    """The name in a Host header, lower-case, without port, brackets or a trailing dot."""
    text = authority.strip().lower()
    if text.startswith("["):
        return text[1:].partition("]")[0]
    if text.count(":") == 1:
        text = text.partition(":")[0]
    return text.rstrip(".")


def host_allowed(request: web.Request, host: str) -> bool:
    """Loopback names, the configured host, public_url's host, or the address the client reached."""
    if is_loopback(host) or host.endswith(".localhost"):
        return True
    settings = request.app[SETTINGS]
    own = {settings.host.lower().strip("[]")}
    if settings.public_url:
        own.add((urlsplit(settings.public_url).hostname or "").lower())
    sockname = request.transport.get_extra_info("sockname") if request.transport else None
    if isinstance(sockname, tuple) and sockname:
        own.add(str(sockname[0]).lower())
    return host in own - {"", "0.0.0.0", "::"}


def same_origin(request: web.Request, source: str) -> bool:
    """Whether an Origin or Referer names this mock (the Host it was reached by, or public_url)."""
    if source == "null":
        return False
    try:
        parts = urlsplit(source)
        origin = _authority(parts.hostname, parts.port, parts.scheme)
    except ValueError:
        return False
    mine = {_authority(host_name(request.host), _port_of(request.host), request.scheme)}
    public_url = request.app[SETTINGS].public_url
    if public_url:
        public = urlsplit(public_url)
        mine.add(_authority(public.hostname, public.port, public.scheme))
    return origin in mine


def _port_of(authority: str) -> int | None:
    tail = authority.rpartition("]")[2] if authority.startswith("[") else authority
    _, colon, port = tail.rpartition(":")
    return int(port) if colon and port.isascii() and port.isdigit() and len(port) <= 5 else None


def _authority(host: str | None, port: int | None, scheme: str) -> tuple[str, int]:
    default = 443 if scheme == "https" else 80
    return (host or "").lower().rstrip("."), port or default


def _forbidden(message: str) -> web.Response:
    return error_response(403, GENERIC, message)


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
