"""One callback attempt on the wire: the HTTP clients, the concurrency limits and what an attempt records.

The dispatcher (`mock_epay.callbacks.dispatcher`) decides when a delivery is attempted; this sends
it: plain http:// targets through the mock's own keep-alive client (`http_client`), https:// ones
through aiohttp, at most `callback_concurrency` requests in flight and
`callback_per_host_concurrency` to one host:port. Every exception is a failed attempt with its
reason in words; a mock-epay admin endpoint's refusal marker makes it a refusal for good.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime
from typing import Any, Protocol

import aiohttp
import msgspec

from mock_epay import __version__
from mock_epay.callbacks.delivery_log import RESPONSE_BODY_LIMIT, Delivery, DeliveryAttempt
from mock_epay.callbacks.hints import docker_hint, loggable, running_in_container
from mock_epay.callbacks.http_client import HttpProtocolError, PlainHttpClient
from mock_epay.callbacks.sending import describe_error, encode_body, read_head
from mock_epay.callbacks.targets import (
    GuardedResolver,
    HostLimiter,
    TargetPolicy,
    TargetRefused,
    is_loopback_host,
    origin_of,
)
from mock_epay.settings import Settings

log = logging.getLogger("mock_epay.callbacks")

CALLBACK_MARKER = "X-Mock-Epay-Callback"  # on every callback the mock sends
REFUSED_MARKER = "X-Mock-Epay-Refused"  # on a mock's answer refusing a callback as a loop
HEADERS = {"Content-Type": "application/json", "User-Agent": f"mock-epay/{__version__} (callback)",
           CALLBACK_MARKER: "1"}


class Exchange(msgspec.Struct):
    """What one POST to a merchant came to (the fields a `DeliveryAttempt` records)."""

    response_status: int | None = None
    response_body: str | None = None  # the answer's first RESPONSE_BODY_LIMIT bytes, as text
    error: str | None = None
    refused: str | None = None  # why the target refused the callback for good
    duration_ms: float = 0.0


class AttemptSender(Protocol):
    """What the dispatcher sends through: this module's `CallbackSender`, or
    `mock_epay.callbacks.sender_process.ProcessSender` (the same exchange in a helper process)."""

    in_container: bool | None

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def send(self, url: str, data: bytes, delivery_id: str, shown_url: str | None) -> Exchange: ...


async def record_attempt(sender: AttemptSender, delivery: Delivery, url: str, number: int,
                         started_at: datetime) -> tuple[DeliveryAttempt, str | None]:
    """POST `delivery`'s body once to the IRI-encoded `url` through `sender`, the attempt recorded on
    the delivery as it starts and filled in when the exchange ends; returns it and, when the target
    refused it for good, why. Any exception is a failed attempt, never an escape."""
    attempt = DeliveryAttempt(number=number, started_at=started_at)
    delivery.attempts.append(attempt)
    started = time.perf_counter()
    try:
        data = encode_body(delivery.body)
    except Exception as exc:  # a forged body that is no JSON: a failed attempt, never an escape
        attempt.error = f"unexpected error: {describe_error(exc)}"
        return attempt, None
    try:
        exchange = await sender.send(url, data, delivery.id, delivery.url)
    except asyncio.CancelledError:
        attempt.error = "cancelled: mock-epay shut down during the attempt"
        attempt.duration_ms = (time.perf_counter() - started) * 1000
        raise
    attempt.response_status, attempt.response_body = exchange.response_status, exchange.response_body
    attempt.error, attempt.duration_ms = exchange.error, exchange.duration_ms
    return attempt, exchange.refused


class CallbackSender:
    """Sends callback attempts; `start()` before the first, `close()` after the last."""

    def __init__(self, settings: Settings, policy: TargetPolicy, http: PlainHttpClient | None = None) -> None:
        self._settings = settings
        self._policy = policy
        self._limiter = HostLimiter(settings.callback_per_host_concurrency)
        self._plain = http or PlainHttpClient(address_filter=policy.safe_addresses,
                                              idle_per_origin=settings.callback_per_host_concurrency)
        self._session: aiohttp.ClientSession | None = None
        self._semaphore: asyncio.Semaphore | None = None
        self.in_container: bool | None = None  # None: detected at start()
        self._hinted: set[tuple[str, int]] = set()

    async def start(self) -> None:
        settings = self._settings
        connector = aiohttp.TCPConnector(
            limit=settings.callback_concurrency, limit_per_host=settings.callback_per_host_concurrency,
            resolver=GuardedResolver(self._policy),
        )
        self._session = aiohttp.ClientSession(
            connector=connector, timeout=aiohttp.ClientTimeout(total=settings.callback_timeout)
        )
        self._semaphore = asyncio.Semaphore(settings.callback_concurrency)
        if self.in_container is None:
            self.in_container = running_in_container()

    async def close(self) -> None:
        await self._plain.close()
        if self._session:
            await self._session.close()

    async def send(self, url: str, data: bytes, delivery_id: str, shown_url: str | None) -> Exchange:
        """One POST of `data` to the IRI-encoded `url`: what came back, or why nothing did. Never
        raises but CancelledError (then the exchange is abandoned)."""
        assert self._session is not None and self._semaphore is not None
        exchange = Exchange()
        started = time.perf_counter()
        try:
            async with self._limiter.slot(origin_of(url)), self._semaphore:
                exchange.refused = await self._post(url, data, exchange)
        except TimeoutError:
            exchange.error = f"timed out after {self._settings.callback_timeout:g} s"
        except aiohttp.ClientConnectorError as exc:
            if isinstance(exc.os_error, TargetRefused):
                exchange.refused = exchange.error = str(exc.os_error)
            else:
                exchange.error = self._connect_error(delivery_id, shown_url, url, exc.os_error)
        except aiohttp.ClientError as exc:
            exchange.error = describe_error(exc)
        except TargetRefused as exc:
            exchange.refused = exchange.error = str(exc)
        except OSError as exc:
            exchange.error = self._connect_error(delivery_id, shown_url, url, exc)
        except HttpProtocolError as exc:
            exchange.error = f"invalid HTTP answer: {exc}"
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # e.g. a transport bug: still just a failed attempt
            exchange.error = f"unexpected error: {describe_error(exc)}"
        finally:
            exchange.duration_ms = (time.perf_counter() - started) * 1000
        return exchange

    async def _post(self, url: str, data: bytes, attempt: Exchange) -> str | None:
        """Send once (plain client for http://, aiohttp for https://); the refusal of a mock, if any."""
        assert self._session is not None
        if url.startswith("http://"):
            async with asyncio.timeout(self._settings.callback_timeout):
                answer = await self._plain.post(url, data, HEADERS, keep=RESPONSE_BODY_LIMIT)
            attempt.response_status = answer.status
            attempt.response_body = answer.head.decode("utf-8", "replace")
            headers: Any = answer.headers
        else:
            async with self._session.post(url, data=data, headers=HEADERS, allow_redirects=False) as response:
                attempt.response_status = response.status
                attempt.response_body = await read_head(response)
                headers = response.headers
        if headers.get(REFUSED_MARKER.lower()):  # plain headers are lower-cased, aiohttp's case-blind
            return (f"the target is a mock-epay admin endpoint that refuses callbacks "
                    f"(HTTP {attempt.response_status})")
        return None

    def _connect_error(self, delivery_id: str, shown_url: str | None, url: str, error: OSError) -> str:
        if not isinstance(error, ConnectionRefusedError):
            return f"cannot connect ({type(error).__name__}): {error}"
        host, port = origin_of(url)
        if self.in_container and (host, port) not in self._hinted and is_loopback_host(host):
            self._hinted.add((host, port))
            log.warning("callback %s to %s: connection refused; %s", delivery_id, loggable(shown_url),
                        docker_hint(host))
        return f"cannot connect (connection refused): {error}"
