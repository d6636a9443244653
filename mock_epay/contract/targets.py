"""Where each side of a contract run lives: API base, token URL, widget script, and whether we may go there.

Owns the knowledge of the bank's host names (spec section 1): which are test hosts, which are
production (refused unless the user says `--allow-production`), which OAuth and widget hosts go
with which API host, and how long to pause between requests (loopback: no pause).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

# API host -> (OAuth base, widget script) for the bank's public host names (spec section 1).
BANK_HOSTS: dict[str, tuple[str, str]] = {
    "testepay.homebank.kz": (
        "https://testoauth.homebank.kz/epay2",
        "https://test-epay.homebank.kz/payform/payment-api.js",
    ),
    "test-epay-api.epayment.kz": (
        "https://test-epay-oauth.epayment.kz",
        "https://test-epay.epayment.kz/payform/payment-api.js",
    ),
    "epay-api.homebank.kz": (
        "https://epay-oauth.homebank.kz",
        "https://epay.homebank.kz/payform/payment-api.js",
    ),
    "epay-api-staging.homebank.kz": (
        "https://epay-oauth.homebank.kz",
        "https://epay.homebank.kz/payform/payment-api.js",
    ),
}
BANK_DOMAINS = ("homebank.kz", "epayment.kz")
REMOTE_PAUSE = 0.3  # seconds between two requests to a non-loopback gateway
TOKEN_TAIL = "/oauth2/token"
WIDGET_TAIL = "/payform/payment-api.js"


class TargetError(Exception):
    """A gateway URL that cannot be used (malformed, or production without `--allow-production`)."""


@dataclass(frozen=True)
class Gateway:
    """One side of the comparison: `name` is "left" or "right"."""

    name: str
    api_base: str
    token_url: str
    widget_url: str

    @property
    def hosts(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(_host(u) for u in (self.api_base, self.token_url, self.widget_url)))

    @property
    def is_loopback(self) -> bool:
        return all(is_loopback_host(h) for h in self.hosts)


def build_gateway(name: str, api: str, oauth: str | None = None, widget: str | None = None) -> Gateway:
    """Resolve one side from its flags: OAuth and widget default to the bank's pair or to the API's origin."""
    api_base = _checked_url(api, f"--{name}").rstrip("/")
    known = BANK_HOSTS.get(_host(api_base))
    origin = _origin(api_base)
    oauth_base = _checked_url(oauth, f"--{name}-oauth") if oauth else (known[0] if known else origin)
    widget_url = _checked_url(widget, f"--{name}-widget") if widget else (
        known[1] if known else origin + WIDGET_TAIL
    )
    return Gateway(name=name, api_base=api_base, token_url=token_url(oauth_base), widget_url=widget_url)


def token_url(oauth: str) -> str:
    """`https://testoauth.homebank.kz/epay2` -> `.../epay2/oauth2/token`; a full token URL is kept."""
    oauth = oauth.rstrip("/")
    return oauth if oauth.endswith(TOKEN_TAIL) else oauth + TOKEN_TAIL


def is_production_host(host: str) -> bool:
    """A bank host without "test" in its name (spec section 1: production and pre-production)."""
    host = host.lower().rstrip(".")
    in_bank_domain = any(host == d or host.endswith("." + d) for d in BANK_DOMAINS)
    return in_bank_domain and "test" not in host


def is_loopback_host(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def refuse_production(gateways: tuple[Gateway, ...], allow_production: bool) -> None:
    """Raise TargetError naming the first production host unless production was allowed."""
    if allow_production:
        return
    for gateway in gateways:
        for host in gateway.hosts:
            if is_production_host(host):
                raise TargetError(
                    f"{gateway.name} gateway: {host} is a production host; the contract check runs "
                    f"real payments, so it refuses production unless --allow-production is given"
                )


def default_pause(gateway: Gateway) -> float:
    return 0.0 if gateway.is_loopback else REMOTE_PAUSE


def _checked_url(url: str, flag: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TargetError(f"{flag}: {url!r} is not an http(s) URL")
    return url


def _host(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
