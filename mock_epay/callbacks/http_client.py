"""A small HTTP/1.1 client for plain-http callback targets, with keep-alive connections.

Callbacks are short JSON POSTs to merchants' servers, usually on loopback or a
private network. aiohttp's client costs ~300 µs of CPU per request, which under load
is more than the payment itself; this client does the same job in about a third of
that. It speaks just what a callback needs: one POST, a status line, headers, and a
body framed by Content-Length, chunked encoding or the end of the connection.
https targets keep going through aiohttp (see callbacks.py).

`iri_to_uri` turns a URL as a merchant wrote it (Cyrillic path, non-ASCII host) into
the ASCII one that goes on the wire, the way browsers do; both clients are given that.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import re
import socket
import time
from collections.abc import Callable, Mapping
from urllib.parse import quote, urlsplit, urlunsplit

import msgspec

MAX_HEADER_BYTES = 64 * 1024
MAX_DRAIN_BYTES = 1024 * 1024  # a longer answer is cut and its connection closed
DNS_TTL = 10.0
# Characters left as they are in a path / query: RFC 3986 unreserved, sub-delims, ":@/",
# and "%" (an existing escape is kept, as browsers do).
_PATH_SAFE = "/%:@!$&'()*+,;=-._~"
_QUERY_SAFE = _PATH_SAFE + "?"
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


class HttpProtocolError(Exception):
    """The peer answered something that is not HTTP/1.x."""


class HttpAnswer(msgspec.Struct, frozen=True):
    status: int
    head: bytes  # the first `keep` bytes of the body
    headers: Mapping[str, str] = msgspec.field(default_factory=dict)  # names lower-cased


class _Connection(msgspec.Struct):
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter

    def close(self) -> None:
        self.writer.close()


AddressFilter = Callable[[str, list[str]], list[str]]  # (host, addresses) -> addresses to use


class PlainHttpClient:
    """POSTs over plain HTTP/1.1, reusing idle connections per (host, port)."""

    def __init__(self, address_filter: AddressFilter | None = None, idle_per_origin: int = 64) -> None:
        self._idle: dict[tuple[str, int], list[_Connection]] = {}
        self._dns: dict[tuple[str, int], tuple[float, list[str]]] = {}
        self._address_filter = address_filter
        self._idle_per_origin = idle_per_origin

    async def post(
        self, url: str, body: bytes, headers: Mapping[str, str], keep: int = 4096
    ) -> HttpAnswer:
        """Send one POST; raises OSError (connect), TimeoutError (via the caller's timeout)
        or HttpProtocolError. The caller bounds the time with `asyncio.timeout`."""
        host, port, target, host_header = _split(url)
        request = self._request_bytes(target, host_header, body, headers)
        connection = self._idle_connection(host, port)
        if connection is not None:
            try:
                return await self._exchange(connection, request, keep, (host, port))
            except (ConnectionError, asyncio.IncompleteReadError, _StaleConnection):
                connection.close()  # the server closed a kept-alive connection: open a new one
        connection = await self._connect(host, port)
        try:
            return await self._exchange(connection, request, keep, (host, port))
        except _StaleConnection as exc:
            raise HttpProtocolError("the server closed the connection without answering") from exc

    async def close(self) -> None:
        for connections in self._idle.values():
            for connection in connections:
                connection.close()
        self._idle.clear()

    # -- connections -------------------------------------------------------------

    def _idle_connection(self, host: str, port: int) -> _Connection | None:
        pool = self._idle.get((host, port))
        while pool:
            connection = pool.pop()
            if not connection.writer.is_closing() and not connection.reader.at_eof():
                return connection
            connection.close()
        return None

    def _release(self, origin: tuple[str, int], connection: _Connection) -> None:
        pool = self._idle.setdefault(origin, [])
        if len(pool) < self._idle_per_origin:
            pool.append(connection)
        else:
            connection.close()

    async def _connect(self, host: str, port: int) -> _Connection:
        last_error: OSError | None = None
        for address in await self._addresses(host, port):
            try:
                reader, writer = await asyncio.open_connection(address, port, limit=MAX_HEADER_BYTES)
            except OSError as exc:
                last_error = exc
                continue
            return _Connection(reader, writer)
        raise last_error or OSError(f"cannot resolve {host!r}")

    async def _addresses(self, host: str, port: int) -> list[str]:
        addresses = [host] if _is_ip_literal(host) else await self._resolve(host, port)
        if self._address_filter is not None:
            addresses = self._address_filter(host, addresses)
        return addresses

    async def _resolve(self, host: str, port: int) -> list[str]:
        cached = self._dns.get((host, port))
        now = time.monotonic()
        if cached and cached[0] > now:
            return cached[1]
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
        self._dns[(host, port)] = (now + DNS_TTL, addresses)
        return addresses

    # -- one exchange ------------------------------------------------------------

    def _request_bytes(
        self, target: str, host: str, body: bytes, headers: Mapping[str, str]
    ) -> bytes:
        lines = [f"POST {target} HTTP/1.1", f"Host: {host}", f"Content-Length: {len(body)}",
                 "Connection: keep-alive"]
        lines.extend(f"{name}: {value}" for name, value in headers.items())
        return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii") + body

    async def _exchange(
        self, connection: _Connection, request: bytes, keep: int, origin: tuple[str, int]
    ) -> HttpAnswer:
        connection.writer.write(request)
        await connection.writer.drain()
        status, response_headers, version = await _read_head(connection.reader)
        body, reusable = await _read_body(connection.reader, status, response_headers, keep)
        connection_header = response_headers.get("connection", "").lower()
        if reusable and connection_header != "close" and (version == "HTTP/1.1" or
                                                          connection_header == "keep-alive"):
            self._release(origin, connection)
        else:
            connection.close()
        return HttpAnswer(status, body, response_headers)


@functools.lru_cache(maxsize=1024)
def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def replace_lone_surrogates(text: str) -> str:
    """`text` with each lone UTF-16 surrogate (which UTF-8 cannot carry) replaced by U+FFFD."""
    return text if text.isascii() else _LONE_SURROGATE.sub("\ufffd", text)


@functools.lru_cache(maxsize=1024)
def iri_to_uri(url: str) -> str:
    """The ASCII URL to send for `url`: IDNA host, UTF-8 percent-encoded path and query.

    What a browser does with an address typed with non-Latin characters
    (`http://127.0.0.1:9000/путь` becomes `.../%D0%BF%D1%83%D1%82%D1%8C`). Existing
    `%XX` escapes are kept, control characters and spaces are escaped, a lone surrogate
    becomes U+FFFD, and the fragment is dropped (it is never sent). ValueError when the
    host cannot be IDNA-encoded or the port is malformed.
    """
    url = replace_lone_surrogates(url)
    parts = urlsplit(url)
    parts.port  # noqa: B018 - raises ValueError for a malformed port
    userinfo, at, hostport = parts.netloc.rpartition("@")
    host = parts.hostname or ""
    port = hostport[hostport.rindex(":"):] if parts.port is not None or hostport.endswith(":") else ""
    netloc = (quote(userinfo, safe=_PATH_SAFE) + at if at else "") + _ascii_host(host, hostport) + port
    path = quote(parts.path, safe=_PATH_SAFE)
    query = quote(parts.query, safe=_QUERY_SAFE)
    return urlunsplit((parts.scheme, netloc, path, query, ""))


def _ascii_host(host: str, hostport: str) -> str:
    if hostport.startswith("["):  # an IPv6 literal, as written
        return hostport[: hostport.index("]") + 1]
    if host.isascii():
        return host
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise ValueError(f"host {host!r} cannot be IDNA-encoded: {exc}") from None


@functools.lru_cache(maxsize=1024)
def _split(url: str) -> tuple[str, int, str, str]:
    """(host, port, request target, Host header) of a plain http URL (IRI-encoded first)."""
    parts = urlsplit(iri_to_uri(url))
    if parts.scheme != "http" or not parts.hostname:
        raise ValueError(f"not a plain http URL: {url!r}")
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return parts.hostname, parts.port or 80, target, parts.netloc.rpartition("@")[2]


class _StaleConnection(Exception):
    """The connection ended before a status line: a kept-alive socket the server closed."""


async def _read_head(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], str]:
    """The final answer's status, headers (names lower-cased) and HTTP version: each head (status
    line and headers) is read in one go, up to its blank line; 1xx heads before it are skipped."""
    while True:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as exc:
            if not exc.partial:
                raise _StaleConnection from exc
            _status_of(exc.partial.partition(b"\r\n")[0])  # a line that is no status line says so
            if b"\r\n" not in exc.partial:
                raise HttpProtocolError("the answer ended inside the status line") from exc
            raise HttpProtocolError("the answer's headers are cut") from exc
        except asyncio.LimitOverrunError as exc:
            raise HttpProtocolError("the answer's status line and headers are too long") from exc
        status_line, _, header_block = head.partition(b"\r\n")
        code, version = _status_of(status_line)
        if code >= 200 or code == 101:
            return code, _headers_of(header_block), version
        # 1xx (100 Continue, 103 Early Hints): a final answer follows


def _status_of(line: bytes) -> tuple[int, str]:
    """(status code, HTTP version) of a status line; HttpProtocolError when it is none."""
    version, _, rest = line.decode("latin-1").strip().partition(" ")
    code = rest[:3]
    if not version.startswith("HTTP/1.") or not code.isdigit():
        raise HttpProtocolError(f"not an HTTP answer: {line[:80]!r}")
    return int(code), version


def _headers_of(block: bytes) -> dict[str, str]:
    """Header lines (each ending in CRLF, the blank line last) as a dict, names lower-cased."""
    headers: dict[str, str] = {}
    for line in block.decode("latin-1").split("\r\n"):
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    return headers


async def _read_headers(reader: asyncio.StreamReader) -> dict[str, str]:
    """A chunked body's trailers, line by line up to the blank line that ends them (rare: not worth
    one read, which could not tell an empty block from a last line)."""
    lines: list[bytes] = []
    size = 0
    while True:
        try:
            line = await reader.readuntil(b"\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
            raise HttpProtocolError("the answer's trailers are cut or too long") from exc
        size += len(line)
        if size > MAX_HEADER_BYTES:
            raise HttpProtocolError("the answer's trailers are too long")
        if line == b"\r\n":
            return _headers_of(b"".join(lines))
        lines.append(line)


async def _read_body(
    reader: asyncio.StreamReader, status: int, headers: Mapping[str, str], keep: int
) -> tuple[bytes, bool]:
    """The first `keep` bytes of the body, and whether the connection can be reused. A 204 or 304
    answer has no body whatever its headers say (RFC 9112 6.3), so nothing is waited for."""
    if status in (204, 304):
        return b"", True
    if "chunked" in headers.get("transfer-encoding", "").lower():
        return await _read_chunked(reader, keep)
    length_text = headers.get("content-length")
    if length_text is not None:
        if not length_text.isdigit():
            raise HttpProtocolError(f"bad Content-Length {length_text[:20]!r}")
        length = int(length_text)
        if length > MAX_DRAIN_BYTES:
            return await reader.read(keep), False
        try:
            data = await reader.readexactly(length)
        except asyncio.IncompleteReadError as exc:
            raise HttpProtocolError("the answer's body is shorter than its Content-Length") from exc
        return data[:keep], True
    data = await reader.read(keep)  # no framing: the body runs to the end of the connection
    return data, False


async def _read_chunked(reader: asyncio.StreamReader, keep: int) -> tuple[bytes, bool]:
    kept = bytearray()
    total = 0
    try:
        while True:
            size_line = await reader.readuntil(b"\r\n")
            size = int(size_line.split(b";")[0].strip() or b"0", 16)
            if size == 0:
                await _read_headers(reader)  # trailers, then the blank line
                return bytes(kept), True
            chunk = await reader.readexactly(size + 2)
            total += size
            if len(kept) < keep:
                kept.extend(chunk[: min(size, keep - len(kept))])
            if total > MAX_DRAIN_BYTES:
                return bytes(kept), False
    except (ValueError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
        raise HttpProtocolError("malformed chunked body") from exc
