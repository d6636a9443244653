"""How one callback attempt's bytes are made and read: the body, the answer's head, the retry delay.

Pure helpers of the dispatcher (`mock_epay.callbacks.dispatcher`), kept apart so it stays small.
"""

from __future__ import annotations

import json
import random
from typing import Any

import aiohttp
import msgspec

from mock_epay.callbacks.delivery_log import RESPONSE_BODY_LIMIT
from mock_epay.settings import Settings


def backoff_delay(settings: Settings, failed_attempt: int, rng: random.Random) -> float:
    """Seconds before the next attempt: base × 2^(n-1), scaled to fit the window, with jitter."""
    base = settings.callback_backoff
    steps = [base * 2.0 ** min(k, 60) for k in range(settings.callback_max_attempts - 1)]
    total = sum(steps)
    scale = min(1.0, settings.callback_window / total) if total > 0 else 1.0
    raw = base * 2.0 ** min(failed_attempt - 1, 60) * scale
    return raw * rng.uniform(0.5, 1.0)


async def read_head(response: aiohttp.ClientResponse) -> str:
    """The first RESPONSE_BODY_LIMIT bytes of the answer, as text."""
    chunks: list[bytes] = []
    size = 0
    while size < RESPONSE_BODY_LIMIT:
        chunk = await response.content.read(RESPONSE_BODY_LIMIT - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks).decode("utf-8", "replace")


def encode_body(body: Any) -> bytes:
    """The bytes to POST: a string verbatim, anything else as compact JSON, always UTF-8.

    JSON is written by msgspec (C, about ten times the standard library's speed for a callback
    body). What it cannot write goes through the standard library instead: a lone surrogate, which
    UTF-8 cannot carry, becomes its JSON escape `\\udXXX`, and an integer past 64 bits stays exact.
    """
    if isinstance(body, str):
        return body.encode("utf-8", "backslashreplace")
    try:
        return _compact_json(body)
    except (TypeError, ValueError, OverflowError, msgspec.EncodeError):  # UnicodeEncodeError is a ValueError
        text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
        return text.encode("utf-8", "backslashreplace")


_compact_json = msgspec.json.Encoder().encode


def describe_error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
