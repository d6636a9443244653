"""The plain-HTTP callback client against real loopback servers, including awkward ones."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
from aiohttp import web

from mock_epay.callbacks.http_client import HttpProtocolError, PlainHttpClient, iri_to_uri
from mock_epay.callbacks.targets import TargetPolicy, TargetRefused

HEADERS = {"Content-Type": "application/json"}


async def raw_server(answer: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]):
    """A TCP server on loopback whose every connection is handled by `answer`."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await answer(reader, writer)
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length"))
    return head + await reader.readexactly(length)


async def test_posts_json_and_reuses_the_connection(aiohttp_server):
    seen: list[tuple[str, bytes, str]] = []
    peers: set[int] = set()

    async def hook(request: web.Request) -> web.Response:
        seen.append((request.path_qs, await request.read(), request.headers["Content-Type"]))
        peers.add(request.transport.get_extra_info("peername")[1])
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post("/hook", hook)
    server = await aiohttp_server(app)
    client = PlainHttpClient()
    for number in range(3):
        answer = await client.post(f"http://127.0.0.1:{server.port}/hook?n={number}",
                                   b'{"code": "ok"}', HEADERS)
        assert answer.status == 200 and answer.head == b'{"ok": true}'
    await client.close()
    assert [s[0] for s in seen] == ["/hook?n=0", "/hook?n=1", "/hook?n=2"]
    assert seen[0][1] == b'{"code": "ok"}' and seen[0][2] == "application/json"
    assert len(peers) == 1  # one kept-alive connection served all three


async def test_chunked_answer_and_interim_100_continue():
    async def answer(reader, writer):
        await read_request(reader)
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 202 Accepted\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n4\r\nwiki\r\n5;x=1\r\npedia\r\n0\r\n\r\n")
        await writer.drain()

    server, port = await raw_server(answer)
    async with server:
        answer_ = await PlainHttpClient().post(f"http://127.0.0.1:{port}/", b"{}", HEADERS)
    assert answer_.status == 202 and answer_.head == b"wikipedia"


async def test_body_until_close_and_only_the_first_bytes_are_kept():
    async def answer(reader, writer):
        await read_request(reader)
        writer.write(b"HTTP/1.0 500 Oops\r\n\r\n" + b"x" * 10000)
        await writer.drain()

    server, port = await raw_server(answer)
    async with server:
        result = await PlainHttpClient().post(f"http://127.0.0.1:{port}/", b"{}", HEADERS, keep=100)
    assert result.status == 500 and result.head == b"x" * 100


async def test_a_kept_alive_connection_the_server_closed_is_replaced():
    calls = 0

    async def answer(reader, writer):
        nonlocal calls
        await read_request(reader)
        calls += 1
        # says keep-alive, then closes anyway: the next request must open a new connection
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()

    server, port = await raw_server(answer)
    async with server:
        client = PlainHttpClient()
        first = await client.post(f"http://127.0.0.1:{port}/", b"{}", HEADERS)
        await asyncio.sleep(0)  # let the close arrive
        second = await client.post(f"http://127.0.0.1:{port}/", b"{}", HEADERS)
        await client.close()
    assert (first.status, second.status, calls) == (200, 200, 2)


async def test_closing_without_an_answer_is_a_protocol_error():
    async def answer(reader, writer):
        await read_request(reader)

    server, port = await raw_server(answer)
    async with server:
        with pytest.raises(HttpProtocolError, match="without answering"):
            await PlainHttpClient().post(f"http://127.0.0.1:{port}/", b"{}", HEADERS)


async def test_connection_refused_is_an_os_error(unused_tcp_port):
    with pytest.raises(ConnectionRefusedError):
        await PlainHttpClient().post(f"http://127.0.0.1:{unused_tcp_port}/", b"{}", HEADERS)


async def test_a_silent_server_is_bounded_by_the_callers_timeout():
    async def answer(reader, writer):
        await read_request(reader)
        await asyncio.sleep(5)

    server, port = await raw_server(answer)
    async with server:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.2):
                await PlainHttpClient().post(f"http://127.0.0.1:{port}/", b"{}", HEADERS)


async def test_link_local_addresses_are_refused_by_the_policy_filter():
    client = PlainHttpClient(address_filter=TargetPolicy().safe_addresses)
    with pytest.raises(TargetRefused):
        await client.post("http://169.254.169.254/latest", b"{}", HEADERS)


async def test_a_cyrillic_path_and_host_header_go_on_the_wire_percent_encoded():
    lines: list[bytes] = []

    async def answer(reader, writer):
        lines.extend((await read_request(reader)).split(b"\r\n")[:2])
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Answer: yes\r\n\r\nOK")
        await writer.drain()

    server, port = await raw_server(answer)
    async with server:
        reply = await PlainHttpClient().post(f"http://127.0.0.1:{port}/путь/оплата?id=5 6", b"{}", HEADERS)
    assert lines == [b"POST /%D0%BF%D1%83%D1%82%D1%8C/%D0%BE%D0%BF%D0%BB%D0%B0%D1%82%D0%B0?id=5%206 HTTP/1.1",
                     f"Host: 127.0.0.1:{port}".encode()]
    assert reply.status == 200 and reply.headers["x-answer"] == "yes"


@pytest.mark.parametrize(("iri", "uri"), [
    ("http://127.0.0.1:9000/путь", "http://127.0.0.1:9000/%D0%BF%D1%83%D1%82%D1%8C"),
    ("http://shop.test/cb?q=да&x=1#frag", "http://shop.test/cb?q=%D0%B4%D0%B0&x=1"),
    ("http://пример.рф/cb", "http://xn--e1afmkfd.xn--p1ai/cb"),
    ("http://shop.test/already%20encoded/%D0%BF", "http://shop.test/already%20encoded/%D0%BF"),
    ("http://shop.test/a b/\x7f", "http://shop.test/a%20b/%7F"),
    ("http://shop.test/\ud800", "http://shop.test/%EF%BF%BD"),  # a lone surrogate: U+FFFD
    ("http://u:p@[::1]:8080/x", "http://u:p@[::1]:8080/x"),
])
def test_iri_to_uri_encodes_as_browsers_do(iri, uri):
    assert iri_to_uri(iri) == uri
    assert iri_to_uri(uri) == uri  # idempotent


def test_a_host_that_cannot_be_idna_encoded_is_a_value_error():
    with pytest.raises(ValueError, match="IDNA"):
        iri_to_uri("http://" + "я" * 70 + ".test/cb")


@pytest.mark.parametrize(("reply", "status", "headers", "body"), [
    (b"HTTP/1.1 204 No Content\r\n\r\n", 204, {}, b""),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 200, {"content-length": "2"}, b"ok"),
    (b"HTTP/1.1 201 Created\r\nX-A:  one \r\nNoColon\r\ncontent-length: 0\r\n\r\n", 201,
     {"x-a": "one", "nocolon": "", "content-length": "0"}, b""),
    (b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 202 Accepted\r\nContent-Length: 1\r\n\r\nx",
     202, {"content-length": "1"}, b"x"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\nX-Trailer: t\r\n\r\n", 200,
     {"transfer-encoding": "chunked"}, b"ok"),
])
async def test_each_head_is_read_in_one_go_whatever_its_headers(reply, status, headers, body):
    """The status line and headers are read up to their blank line at once: no headers, one, a line
    without a colon, a 1xx head before the final one, and a chunked body's trailers after it."""

    async def answer(reader, writer):
        await read_request(reader)
        writer.write(reply)
        await writer.drain()
        await reader.read()  # keep the connection open: the framing alone must end the answer

    server, port = await raw_server(answer)
    async with server:
        client = PlainHttpClient()
        got = await asyncio.wait_for(client.post(f"http://127.0.0.1:{port}/", b"{}", HEADERS), 5)
        await client.close()
    assert (got.status, dict(got.headers), got.head) == (status, headers, body)


@pytest.mark.parametrize(("reply", "message"), [
    (b"SSH-2.0-OpenSSH\r\n", "not an HTTP answer"),
    (b"HTTP/1.1 abc\r\n\r\n", "not an HTTP answer"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", "shorter than its Content-Length"),
    (b"HTTP/1.1 200 OK", "inside the status line"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n", "headers are cut"),
])
async def test_garbage_or_cut_answers_are_protocol_errors_that_say_where(reply, message):
    async def answer(reader, writer):
        await read_request(reader)
        writer.write(reply)
        await writer.drain()

    server, port = await raw_server(answer)
    async with server:
        with pytest.raises(HttpProtocolError, match=message):
            await PlainHttpClient().post(f"http://127.0.0.1:{port}/", b"{}", HEADERS)


async def test_the_per_host_limit_holds_and_forgets_idle_hosts():
    from mock_epay.callbacks.targets import HostLimiter

    limiter = HostLimiter(2)
    origin = ("127.0.0.1", 9)
    inside = 0
    most = 0
    release = asyncio.Event()

    async def use() -> None:
        nonlocal inside, most
        async with limiter.slot(origin):
            inside += 1
            most = max(most, inside)
            await release.wait()
            inside -= 1

    tasks = [asyncio.create_task(use()) for _ in range(5)]
    await asyncio.sleep(0.01)
    assert (inside, limiter.in_use(origin)) == (2, 5)
    tasks[4].cancel()  # one still waiting for a place gives up: it no longer counts
    await asyncio.sleep(0.01)
    assert limiter.in_use(origin) == 4
    release.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    assert most == 2 and limiter.in_use(origin) == 0 and not limiter._slots


async def test_a_204_answer_without_a_length_is_taken_at_once(aiohttp_server):
    """aiohttp (as many frameworks) sends 204 without Content-Length on a kept-alive connection: the
    answer has no body by definition, so it must not be read until the connection closes."""

    async def hook(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", hook)
    server = await aiohttp_server(app)
    client = PlainHttpClient()
    answers = [await asyncio.wait_for(client.post(f"http://127.0.0.1:{server.port}/hook", b"{}", HEADERS), 2)
               for _ in range(2)]
    await client.close()
    assert [a.status for a in answers] == [204, 204]
