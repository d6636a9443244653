"""The callback sender's helper process: `python -m mock_epay.callbacks.sender_worker CONFIG`.

`mock_epay.callbacks.sender_process.ProcessSender` starts it on the server's first callback and
talks to it over its stdin and stdout. Each request is one callback exchange (URL, body bytes,
delivery id and the URL as the merchant wrote it, for log lines); the worker sends it with the
mock's own `CallbackSender` (the same clients, target policy, limits and timeout as inline
sending) and answers with the `Exchange` it came to. Answers come back as exchanges end, in any
order, each tagged with its request's number.

Frames both ways: a 4-byte little-endian length, then a MessagePack array
(request: `[number, url, body, delivery_id, shown_url]`; answer: `[number, status, body head,
error, refused, duration_ms]`). CONFIG is a JSON object of the callback settings the sender
needs. The worker ends when its stdin closes (the server stopped or died: exchanges in flight
are abandoned) and, on Linux, when its parent dies; it ignores Ctrl-C, which the server handles.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import logging
import os
import signal
import struct
import sys
from collections.abc import Callable
from typing import Any

import msgspec

LENGTH = struct.Struct("<I")
MAX_FRAME_BYTES = 64 * 1024 * 1024  # a callback body is bounded by the request body limit
PR_SET_PDEATHSIG = 1

log = logging.getLogger("mock_epay.callbacks")


class FrameReader:
    """Splits a byte stream into the decoded MessagePack frames it carries."""

    def __init__(self, on_frame: Callable[[Any], None]) -> None:
        self._buffer = bytearray()
        self._on_frame = on_frame
        self._decoder = msgspec.msgpack.Decoder()

    def feed(self, data: bytes) -> None:
        """Take `data`; hand each frame completed by it to `on_frame`. ValueError on a bad frame."""
        buffer = self._buffer
        buffer += data
        start = 0
        while len(buffer) - start >= LENGTH.size:
            (length,) = LENGTH.unpack_from(buffer, start)
            if length > MAX_FRAME_BYTES:
                raise ValueError(f"a frame of {length} bytes")
            end = start + LENGTH.size + length
            if len(buffer) < end:
                break
            self._on_frame(self._decoder.decode(buffer[start + LENGTH.size:end]))
            start = end
        del buffer[:start]


class FrameWriter:
    """Writes frames to a transport, those of one event-loop turn in one write."""

    def __init__(self, transport: asyncio.WriteTransport) -> None:
        self._transport = transport
        self._encoder = msgspec.msgpack.Encoder()
        self._outgoing: list[bytes] = []

    def write(self, message: Any) -> None:
        payload = self._encoder.encode(message)
        if not self._outgoing:
            asyncio.get_running_loop().call_soon(self._flush)
        self._outgoing += (LENGTH.pack(len(payload)), payload)

    def _flush(self) -> None:
        outgoing, self._outgoing = self._outgoing, []
        if not self._transport.is_closing():
            self._transport.write(b"".join(outgoing))

    def close(self) -> None:
        self._flush()
        self._transport.close()


class _Requests(asyncio.Protocol):
    """The worker's stdin: each request frame starts one exchange; end of input ends the worker."""

    def __init__(self, on_frame: Callable[[Any], None], ended: asyncio.Future[None]) -> None:
        self._frames = FrameReader(on_frame)
        self._ended = ended

    def data_received(self, data: bytes) -> None:
        try:
            self._frames.feed(data)
        except ValueError as exc:  # not our server at the other end: nothing sensible to answer
            log.error("callback sender: unreadable request (%s); stopping", exc)
            self._end()

    def eof_received(self) -> bool:
        self._end()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._end()

    def _end(self) -> None:
        if not self._ended.done():
            self._ended.set_result(None)


async def serve(config: dict[str, Any], requests_fd: int, answers_fd: int) -> None:
    """Send what arrives on `requests_fd` and answer on `answers_fd` until the requests end."""
    from mock_epay.callbacks.sender import CallbackSender
    from mock_epay.callbacks.targets import TargetPolicy
    from mock_epay.settings import Settings

    settings = Settings().with_overrides(
        callback_timeout=float(config["callback_timeout"]),
        callback_concurrency=int(config["callback_concurrency"]),
        callback_per_host_concurrency=int(config["callback_per_host_concurrency"]),
        callback_allowed_hosts=tuple(config["callback_allowed_hosts"]),
    )
    sender = CallbackSender(settings, TargetPolicy(settings.callback_allowed_hosts))
    sender.in_container = bool(config.get("in_container"))
    await sender.start()
    loop = asyncio.get_running_loop()
    transport, _ = await loop.connect_write_pipe(asyncio.Protocol, os.fdopen(answers_fd, "wb", buffering=0))
    answers = FrameWriter(transport)
    tasks: set[asyncio.Task[None]] = set()

    async def exchange(number: int, url: str, body: bytes, delivery_id: str, shown_url: str | None) -> None:
        result = await sender.send(url, body, delivery_id, shown_url)
        try:
            answers.write([number, result.response_status, result.response_body, result.error,
                           result.refused, result.duration_ms])
        except Exception as exc:  # text MessagePack cannot carry: still an answer, so none waits for ever
            answers.write([number, None, None, f"unexpected error: {exc!r}"[:500], None, result.duration_ms])

    def start(frame: Any) -> None:
        task = loop.create_task(exchange(*frame))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    ended: asyncio.Future[None] = loop.create_future()
    await loop.connect_read_pipe(lambda: _Requests(start, ended), os.fdopen(requests_fd, "rb", buffering=0))
    try:
        await ended
    finally:
        for task in list(tasks):
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        answers.close()
        await sender.close()


def main(argv: list[str]) -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the server, which stops us
    with contextlib.suppress(OSError, AttributeError):  # not Linux: stdin's end is enough
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    from mock_epay.core.log_format import SafeFormatter

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(SafeFormatter("%(asctime)s %(name)s %(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[handler])
    config = json.loads(argv[1]) if len(argv) > 1 else {}
    answers_fd = os.dup(1)  # the answers pipe; stray prints go to stderr, never into a frame
    os.dup2(2, 1)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(config, 0, answers_fd))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
