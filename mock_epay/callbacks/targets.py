"""Which callback targets may be contacted, and how many requests each may have in flight.

* Only `http` and `https`.
* Metadata addresses are refused in every mode: link-local (169.254.0.0/16, fe80::/10,
  also IPv4-mapped) and the few cloud metadata addresses outside it (fd00:ec2::254,
  100.100.100.200). Host names are checked after DNS resolution too (`safe_addresses`,
  used by both HTTP clients), so a name pointing at 169.254.169.254 is refused as well.
* `callback_allowed_hosts` empty ("local use", the default): any other host.
* `callback_allowed_hosts` non-empty ("shared instance"): only those hosts, each an exact
  host name / IP (`shop.test`, `127.0.0.1`, `[::1]`) or a `*.suffix` pattern that matches
  any sub-domain (`*.example.com` matches `a.example.com`, not `example.com`). An allowed
  name that resolves to loopback or 0.0.0.0 is refused unless a loopback host is listed.
* The mock itself: a URL under `/_mock/` on the mock's own address and port is refused
  (`SelfAddresses`), so a postLink can never make the mock forge, replay or reset.
* `HostLimiter`: at most N requests in flight per host:port, so one hung merchant cannot
  take every global delivery slot.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import socket
from urllib.parse import unquote, urlsplit

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Cloud metadata services outside the link-local ranges (AWS over IPv6, Alibaba Cloud).
METADATA_ADDRESSES = frozenset({ipaddress.ip_address("fd00:ec2::254"),
                                ipaddress.ip_address("100.100.100.200")})
ADMIN_PREFIX = "/_mock"


class TargetRefused(OSError):
    """A callback target the policy refuses (raised from DNS resolution)."""


@functools.lru_cache(maxsize=4096)
def _as_ip(host: str) -> IPAddress | None:
    """The IP address `host` writes (brackets and zone dropped), or None for a name. Kept per host:
    every callback attempt asks for its target's, and parsing one costs more than the rest of the
    address checks."""
    try:
        return ipaddress.ip_address(host.strip("[]").split("%")[0])
    except ValueError:
        return None


def _unmapped(ip: IPAddress) -> IPAddress:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def is_link_local(ip: IPAddress) -> bool:
    return _unmapped(ip).is_link_local


def is_metadata(ip: IPAddress) -> bool:
    """Link-local or a known cloud metadata address: never contacted."""
    ip = _unmapped(ip)
    return ip.is_link_local or ip in METADATA_ADDRESSES


@functools.lru_cache(maxsize=4096)
def is_loopback_host(host: str) -> bool:
    """`localhost` (and its sub-domains), a loopback IP, or the unspecified address."""
    host = host.lower().strip("[]").rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    ip = _as_ip(host)
    return ip is not None and (_unmapped(ip).is_loopback or _unmapped(ip).is_unspecified)


class TargetPolicy:
    """Decides whether a callback URL may be contacted; `refusal(url)` says why not."""

    def __init__(self, allowed_hosts: tuple[str, ...] = ()) -> None:
        self._exact = {h.lower().strip("[]") for h in allowed_hosts if not h.startswith("*.")}
        self._suffixes = tuple(h.lower()[1:] for h in allowed_hosts if h.startswith("*."))
        self.restricted = bool(allowed_hosts)
        self._loopback_listed = any(is_loopback_host(h) for h in self._exact)

    def host_allowed(self, host: str) -> bool:
        host = host.lower().strip("[]").rstrip(".")
        ip = _as_ip(host)
        if ip is not None and is_metadata(ip):
            return False
        if self.restricted:
            return host in self._exact or any(host.endswith(s) for s in self._suffixes)
        return True

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
        ip = _as_ip(host)
        if ip is not None and is_metadata(ip):
            return f"host {host!r} is link-local or a cloud metadata address; callbacks there are refused"
        return f"host {host!r} is not in callback_allowed_hosts"

    def safe_addresses(self, host: str, addresses: list[str]) -> list[str]:
        """The resolved addresses that may be contacted (in both modes); TargetRefused when none may."""
        safe = [a for a in addresses if not self._address_refused(host, a)]
        if not safe:
            shown = ", ".join(addresses[:4])
            raise TargetRefused(f"host {host!r} resolves to {shown}, a link-local, metadata or (for an "
                                "allow-listed name) loopback address; callbacks there are refused")
        return safe

    def _address_refused(self, host: str, address: str) -> bool:
        ip = _as_ip(address)
        if ip is None:
            return False
        if is_metadata(ip):
            return True
        if self.restricted and not self._loopback_listed and not is_loopback_host(host):
            return is_loopback_host(address)  # an allowed public name pointing at this machine
        return False


class GuardedResolver(AbstractResolver):
    """DNS resolution for aiohttp that drops answers the policy refuses."""

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


_ANSWERS_KEPT = 1024


class SelfAddresses:
    """The addresses the mock itself listens on; `refusal(url)` refuses its own admin API.

    Learnt from the settings (host, port), from `add()` (the runner's bound sockets) and
    from requests that reach the callback admin routes (their local socket address).
    A loopback target is the mock's own when the mock listens on loopback or on a
    wildcard address (0.0.0.0, ::), which also answers under this machine's host name.
    """

    def __init__(self) -> None:
        self._bound: set[tuple[str, int]] = set()
        self._answers: dict[str, str | None] = {}  # url -> its refusal, until an address is added

    def add(self, host: str, port: int) -> None:
        address = (host.lower().strip("[]"), port)
        if port and address not in self._bound:
            self._bound.add(address)
            self._answers.clear()

    def refusal(self, url: str) -> str | None:
        """Why `url` is the mock's own admin API, or None (kept per URL: shops use a handful)."""
        try:
            return self._answers[url]
        except KeyError:
            pass
        answer = self._refusal(url)
        if len(self._answers) < _ANSWERS_KEPT:
            self._answers[url] = answer
        return answer

    def _refusal(self, url: str) -> str | None:
        parts = urlsplit(url)
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            return None
        host = (parts.hostname or "").lower().rstrip(".")
        hosts = [own for own, own_port in self._bound if own_port == port]
        if not hosts or not _is_own_host(host, hosts):
            return None
        path = unquote(parts.path)
        if path == ADMIN_PREFIX or path.startswith(ADMIN_PREFIX + "/"):
            return (f"{host}:{port}{ADMIN_PREFIX}/ is this mock's own admin API; a callback there "
                    "could forge more callbacks or change state, so it is never sent")
        return None


def _is_unspecified(host: str) -> bool:
    ip = _as_ip(host)
    return ip is not None and _unmapped(ip).is_unspecified


def _is_own_host(host: str, own_hosts: list[str]) -> bool:
    if host in own_hosts:
        return True
    wildcard = any(_is_unspecified(own) or own == "" for own in own_hosts)
    if is_loopback_host(host):
        return wildcard or any(is_loopback_host(own) for own in own_hosts)
    return wildcard and host in _local_names()


@functools.lru_cache(maxsize=1)
def _local_names() -> frozenset[str]:
    """This machine's host name (a wildcard-bound mock is reachable under it)."""
    name = socket.gethostname().lower()
    return frozenset({name, name.split(".")[0]})


class HostLimiter:
    """At most `per_host` requests in flight to one (host, port); idle entries are dropped."""

    def __init__(self, per_host: int) -> None:
        self._per_host = per_host
        self._slots: dict[tuple[str, int], tuple[asyncio.Semaphore, list[int]]] = {}

    def slot(self, origin: tuple[str, int]) -> _Slot:
        """`async with limiter.slot(origin):` holds one of the origin's places while its body runs."""
        return _Slot(self, origin)

    def _enter(self, origin: tuple[str, int]) -> tuple[asyncio.Semaphore, list[int]]:
        entry = self._slots.get(origin)
        if entry is None:
            entry = self._slots[origin] = (asyncio.Semaphore(self._per_host), [0])
        entry[1][0] += 1
        return entry

    def _leave(self, origin: tuple[str, int], users: list[int]) -> None:
        users[0] -= 1
        if users[0] == 0:
            self._slots.pop(origin, None)

    def in_use(self, origin: tuple[str, int]) -> int:
        """Requests in flight or waiting for `origin` (for tests and the dashboard)."""
        entry = self._slots.get(origin)
        return entry[1][0] if entry else 0


class _Slot:
    """One use of an origin's places (a class, not a generator: it runs once per callback attempt)."""

    __slots__ = ("_limiter", "_origin", "_entry")

    def __init__(self, limiter: HostLimiter, origin: tuple[str, int]) -> None:
        self._limiter, self._origin = limiter, origin
        self._entry: tuple[asyncio.Semaphore, list[int]] | None = None

    async def __aenter__(self) -> None:
        self._entry = entry = self._limiter._enter(self._origin)
        try:
            await entry[0].acquire()
        except BaseException:
            self._limiter._leave(self._origin, entry[1])
            raise

    async def __aexit__(self, *exc_info: object) -> None:
        entry = self._entry
        if entry is not None:
            entry[0].release()
            self._limiter._leave(self._origin, entry[1])


@functools.lru_cache(maxsize=1024)
def origin_of(url: str) -> tuple[str, int]:
    """(host, port) a URL's requests go to: the key of the per-host limit."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return (parts.hostname or "").lower(), port
