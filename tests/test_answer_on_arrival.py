"""Lane requests answered as they arrive (web/server.py, `GuardedRequestHandler._answer_now`): in
`data_received`, without aiohttp's task per request, when the connection is idle and the read holds
one lane request. The answers must be the task path's, byte for byte; order, keep-alive and the
store's commit must hold as on the task path."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from mock_epay.app import create_app
from mock_epay.core.clock import Clock
from mock_epay.settings import Settings
from mock_epay.web.app_keys import FAST_LANE
from mock_epay.web.server import GuardedAppRunner
from tests.conftest import TOKEN_PATH, token_form
from tests.test_cards_auth import payment_body

FORM = "application/x-www-form-urlencoded"


def _token_request(invoice: str, amount: int = 100) -> bytes:
    body = urlencode(token_form(invoiceID=invoice, amount=str(amount)))
    return (f"POST {TOKEN_PATH} HTTP/1.1\r\nHost: x\r\nContent-Type: {FORM}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n{body}").encode()


def _payment_request(token: str, invoice: str, amount: int) -> bytes:
    body = json.dumps(payment_body(invoiceId=invoice, amount=amount))
    return (f"POST /payments/cards/auth HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Authorization: Bearer {token}\r\nContent-Length: {len(body)}\r\n\r\n{body}").encode()


async def _answer(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
    return int(head.split(b" ")[1]), await reader.readexactly(length)


class _Served:
    """The app on `GuardedAppRunner`, as `mock-epay serve` runs it, on a free loopback port."""

    def __init__(self, settings: Settings, keepalive_timeout: float = 30.0) -> None:
        self.app = create_app(settings, Clock())
        self._runner = GuardedAppRunner(self.app, 0.0, keepalive_timeout=keepalive_timeout)
        self.port = 0

    async def __aenter__(self) -> _Served:
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self._runner.cleanup()

    @property
    def on_arrival(self) -> int:
        return int(self.app[FAST_LANE].answered_on_arrival)


async def test_token_requests_one_after_another_are_answered_on_arrival() -> None:
    async with _Served(Settings(seed=3)) as served:
        reader, writer = await asyncio.open_connection("127.0.0.1", served.port)
        answers = []
        for i in range(5):
            writer.write(_token_request(f"00066600{i}"))
            answers.append(await _answer(reader))
        writer.close()
        assert [status for status, _ in answers] == [200] * 5
        assert all(b'"access_token"' in body for _, body in answers)
        # the first request may meet the connection's task before it waits: the rest arrive idle
        assert served.on_arrival >= 4
        assert served.app[FAST_LANE].answered == 5


async def test_the_answers_on_arrival_are_the_task_paths_byte_for_byte() -> None:
    """The same seed, the same requests: one server answering on arrival, one whose requests all come
    pipelined in pairs (two in one read: queued for the task)."""
    heads_and_bodies = []
    for pipelined in (False, True):
        async with _Served(Settings(seed=11)) as served:
            reader, writer = await asyncio.open_connection("127.0.0.1", served.port)
            requests = [_token_request(f"00044400{i}") for i in range(4)]
            answers = []
            if pipelined:
                for first, second in zip(requests[::2], requests[1::2], strict=True):
                    writer.write(first + second)
                    answers += [await _answer(reader), await _answer(reader)]
                assert served.on_arrival == 0
            else:
                for request in requests:
                    writer.write(request)
                    answers.append(await _answer(reader))
                assert served.on_arrival >= 3
            writer.close()
            heads_and_bodies.append(answers)
    assert heads_and_bodies[0] == heads_and_bodies[1]


async def test_a_held_payment_arriving_idle_is_answered_in_order_before_the_next_request() -> None:
    """A payment whose outcome waits (scenario `slow-3s`, scaled) arrives on an idle connection: its
    answer is made on arrival but written by the connection's task, before the token request sent
    right behind it."""
    from tests.test_scenario_library import library_settings

    async with _Served(library_settings(seed=5, scenario_hang_seconds=0.05)) as served:
        reader, writer = await asyncio.open_connection("127.0.0.1", served.port)
        writer.write(_token_request("000333001", 7003))
        status, body = await _answer(reader)
        assert status == 200
        token = json.loads(body)["access_token"]
        arrived = served.on_arrival
        writer.write(_payment_request(token, "000333001", 7003))
        await asyncio.sleep(0)  # the payment is read alone, then the token request behind it
        writer.write(_token_request("000333002"))
        first, second = await _answer(reader), await _answer(reader)
        writer.close()
        assert first[0] == 200, first[1]
        assert json.loads(first[1])["invoiceID"] == "000333001"
        assert second[0] == 200 and b'"access_token"' in second[1]
        assert served.on_arrival <= arrived + 1  # the held payment was written by the task


async def test_an_idle_connection_after_answers_on_arrival_is_closed_at_the_keepalive_timeout() -> None:
    async with _Served(Settings(seed=3), keepalive_timeout=0.3) as served:
        reader, writer = await asyncio.open_connection("127.0.0.1", served.port)
        for i in range(3):
            writer.write(_token_request(f"00022200{i}"))
            assert (await _answer(reader))[0] == 200
        assert served.on_arrival >= 2
        assert await asyncio.wait_for(reader.read(), 3) == b""  # closed by the server, idle
        writer.close()


async def test_a_connection_kept_busy_by_answers_on_arrival_is_not_closed_as_idle() -> None:
    async with _Served(Settings(seed=3), keepalive_timeout=0.3) as served:
        reader, writer = await asyncio.open_connection("127.0.0.1", served.port)
        for i in range(8):  # 8 x 0.1 s: past the timeout, never idle for it
            writer.write(_token_request(f"00011100{i}"))
            assert (await _answer(reader))[0] == 200
            await asyncio.sleep(0.1)
        assert served.on_arrival >= 7
        writer.close()


async def test_a_sqlite_commit_that_fails_on_arrival_answers_500(tmp_path: Any) -> None:
    """With a SQLite store the answer waits for the loop turn's commit: it is made on arrival and
    written by the commit's callback; a failed commit is the bank's 500, as on the task path."""
    from mock_epay.web.app_keys import STORE
    from tests.test_sqlite_group_commit import RefusingCommit

    async with _Served(Settings(seed=3, store=f"sqlite:///{tmp_path / 's.db'}")) as served:
        reader, writer = await asyncio.open_connection("127.0.0.1", served.port)
        writer.write(_token_request("000111901"))
        assert (await _answer(reader))[0] == 200
        store = served.app[STORE]
        real = store._db
        store._db = RefusingCommit(real)
        try:
            writer.write(_token_request("000111902"))
            status, body = await _answer(reader)
        finally:
            store._db = real
        writer.write(_token_request("000111903"))  # the connection still answers
        after = await _answer(reader)
        writer.close()
        assert status == 500
        assert set(json.loads(body)) == {"code", "message"}
        assert after[0] == 200
        assert served.on_arrival == 3  # each made on arrival, written once its commit was done


async def test_an_answer_held_for_its_commit_goes_out_before_the_request_behind_it() -> None:
    """While an answer made on arrival waits for its commit, the connection is not idle: the next
    request is queued for the connection's task, which writes its answer only after the held one."""
    async with _Served(Settings(seed=3)) as served:
        lane = served.app[FAST_LANE]
        gate: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        durable, lane._durable = lane._durable, lambda: gate
        reader, writer = await asyncio.open_connection("127.0.0.1", served.port)
        writer.write(_token_request("000111911"))
        await asyncio.sleep(0.05)
        lane._durable = durable
        writer.write(b"GET /_mock/health HTTP/1.1\r\nHost: x\r\n\r\n")
        await asyncio.sleep(0.05)
        with contextlib.suppress(asyncio.TimeoutError):
            early = await asyncio.wait_for(reader.read(1), 0.1)
            raise AssertionError(f"an answer left before its commit: {early!r}")
        gate.set_result(None)
        first, second = await _answer(reader), await _answer(reader)
        writer.close()
        assert first[0] == 200 and "access_token" in json.loads(first[1])
        assert second[0] == 200 and "access_token" not in json.loads(second[1])
        assert served.on_arrival == 1
