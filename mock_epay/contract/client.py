"""The HTTP client of a contract run: one exchange per request, a request budget, a pause between requests.

It records what came back (status, media type, body as JSON or text) and never judges it;
a connection that fails is `Unreachable`, a spent budget is `RunAborted`; both stop the run.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from mock_epay.contract.targets import Gateway

NO_JSON: Any = object()  # the body was empty or not JSON


class RunAborted(Exception):
    """The flows could not go on for one gateway; `step` says where and the message says why."""

    def __init__(self, gateway: str, step: str, why: str) -> None:
        super().__init__(f"{gateway} gateway, step {step}: {why}")
        self.gateway = gateway
        self.step = step
        self.why = why


class Unreachable(RunAborted):
    """The gateway did not answer at all (refused, DNS, TLS, timeout)."""


@dataclass
class Exchange:
    """One request of a flow and what the gateway answered; `skipped` says why it was not sent."""

    flow: str
    method: str = ""
    url: str = ""
    status: int | None = None
    content_type: str = ""
    text: str = ""
    json: Any = NO_JSON
    skipped: str | None = None
    facts: dict[str, str] = field(default_factory=dict)  # derived observations (e.g. the widget's globals)

    @property
    def body_kind(self) -> str:
        if self.json is not NO_JSON:
            return "json"
        return "text" if self.text.strip() else "empty"

    def json_field(self, key: str) -> Any:
        return self.json.get(key) if isinstance(self.json, dict) else None


class GatewayClient:
    """Sends a bounded number of requests to one gateway, pausing `pause` seconds between them."""

    def __init__(self, gateway: Gateway, session: aiohttp.ClientSession, *, pause: float,
                 max_requests: int, timeout: float) -> None:
        self.gateway = gateway
        self._session = session
        self._pause = pause
        self._max_requests = max_requests
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self.sent = 0

    async def send(self, flow: str, method: str, url: str, *, headers: dict[str, str] | None = None,
                   data: Any = None, json_body: Any = None) -> Exchange:
        if self.sent >= self._max_requests:
            raise RunAborted(self.gateway.name, flow,
                             f"request budget of {self._max_requests} requests is spent (--max-requests)")
        if self.sent and self._pause:
            await asyncio.sleep(self._pause)
        self.sent += 1
        kwargs: dict[str, Any] = {"headers": headers or {}, "timeout": self._timeout,
                                  "allow_redirects": False}
        if json_body is not None:
            kwargs["json"] = json_body
        elif data is not None:
            kwargs["data"] = data
        try:
            async with self._session.request(method, url, **kwargs) as response:
                raw = await response.read()
                return _exchange(flow, method, url, response.status, response.content_type, raw)
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise Unreachable(self.gateway.name, flow, f"{method} {url}: {_describe(exc)}") from exc


def _exchange(flow: str, method: str, url: str, status: int, content_type: str, raw: bytes) -> Exchange:
    text = raw.decode("utf-8", "replace")
    parsed: Any = NO_JSON
    if text.strip():
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = NO_JSON
    media = content_type.lower() if raw or content_type != "application/octet-stream" else ""
    return Exchange(flow=flow, method=method, url=url, status=status, content_type=media,
                    text=text, json=parsed)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "no answer before the timeout (--timeout)"
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"
