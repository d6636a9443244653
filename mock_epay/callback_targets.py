"""Which URLs the mock may send callbacks to (the `callback_allowed_hosts` allow-list).

* Only `http` and `https`.
* `callback_allowed_hosts` empty ("local use", the default): any host, except link-local
  addresses (169.254.0.0/16, fe80::/10: cloud metadata services live there). Host names
  are checked after DNS resolution too, by `GuardedResolver`, so a name pointing at
  169.254.169.254 is refused as well.
* `callback_allowed_hosts` non-empty ("shared instance"): only those hosts, each an exact
  host name / IP (`shop.test`, `127.0.0.1`, `[::1]`) or a `*.suffix` pattern that matches
  any sub-domain (`*.example.com` matches `a.example.com`, not `example.com`).
"""

from __future__ import annotations

import functools
import ipaddress
import socket
from urllib.parse import urlsplit

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class TargetRefused(OSError):
    """A callback target the allow-list refuses (raised from DNS resolution)."""


def _as_ip(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def is_link_local(ip: IPAddress) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_link_local


class TargetPolicy:
    """Decides whether a callback URL may be contacted; `refusal(url)` says why not."""

    def __init__(self, allowed_hosts: tuple[str, ...] = ()) -> None:
        self._exact = {h.lower().strip("[]") for h in allowed_hosts if not h.startswith("*.")}
        self._suffixes = tuple(h.lower()[1:] for h in allowed_hosts if h.startswith("*."))
        self.restricted = bool(allowed_hosts)

    def host_allowed(self, host: str) -> bool:
        host = host.lower().strip("[]").rstrip(".")
        if self.restricted:
            return host in self._exact or any(host.endswith(s) for s in self._suffixes)
        ip = _as_ip(host)
        return ip is None or not is_link_local(ip)

    def refusal(self, url: str | None) -> str | None:
        """None when `url` may be contacted, otherwise the reason it is refused.

        Cached per URL: the policy never changes and shops use a handful of callback URLs.
        """
        return self._refusal_cached(url)

    @functools.lru_cache(maxsize=1024)  # noqa: B019 - one policy per app, lives as long as it
    def _refusal_cached(self, url: str | None) -> str | None:
        if not url:
            return "no callback URL"
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 - raises ValueError for a malformed port
        except ValueError as exc:
            return f"malformed URL: {exc}"
        if parts.scheme not in ("http", "https"):
            return f"scheme {parts.scheme!r} is not allowed; callbacks go to http or https URLs only"
        host = parts.hostname
        if not host:
            return "the URL has no host"
        if self.host_allowed(host):
            return None
        if self.restricted:
            return f"host {host!r} is not in callback_allowed_hosts"
        return f"host {host!r} is link-local (cloud metadata range); callbacks there are refused"


    def safe_addresses(self, host: str, addresses: list[str]) -> list[str]:
        """The resolved addresses that may be contacted; TargetRefused when none may."""
        if self.restricted:
            return addresses  # the host name itself was allowed by name
        safe = [a for a in addresses if not _resolves_link_local(a)]
        if not safe:
            raise TargetRefused(f"host {host!r} resolves to a link-local address; callbacks there "
                                "are refused")
        return safe


class GuardedResolver(AbstractResolver):
    """DNS resolution that drops link-local answers (in "local use" mode)."""

    def __init__(self, policy: TargetPolicy) -> None:
        self._policy = policy
        self._inner = DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        allowed = set(self._policy.safe_addresses(host, [r["host"] for r in results]))
        return [r for r in results if r["host"] in allowed]

    async def close(self) -> None:
        await self._inner.close()


def _resolves_link_local(address: str) -> bool:
    ip = _as_ip(address.split("%")[0])
    return ip is not None and is_link_local(ip)
