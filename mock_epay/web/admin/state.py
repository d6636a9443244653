"""The mock's own state controls under `/_mock/`: move the clock forward, reset state.

`POST /_mock/clock/advance?seconds=N` shifts the mock's clock (token expiry,
auto-cancel of old AUTHs, retry timers) so tests never sleep. `POST /_mock/reset`
forgets tokens, transactions and cards (all, or one merchant's with `?client_id=`).
"""

from __future__ import annotations

import math
from typing import Any

from aiohttp import web

from mock_epay.gateway.errors import EpayError, bad_request
from mock_epay.web.app_keys import CLOCK, GATEWAY, RENEWALS, STORE
from mock_epay.web.optional_body import read_optional_body
from mock_epay.wire.admin import ClockOffset, ResetDone
from mock_epay.wire.admin_requests import (
    ClockAdvanceRequest,
    ResetRequest,
    normalise_clock_advance,
    normalise_reset,
)
from mock_epay.wire.bank_requests import given
from mock_epay.wire.decode import decode_explained
from mock_epay.wire.render import json_response
from mock_epay.wire.route_docs import ADMIN_DOCS, lazy_doc

MAX_ADVANCE_SECONDS = 10 * 365 * 24 * 3600


def parse_seconds(value: Any) -> float:
    if value is None or (isinstance(value, str) and not value.strip()):
        raise bad_request("'seconds' is required, e.g. POST /_mock/clock/advance?seconds=3600")
    if isinstance(value, bool):
        raise bad_request("'seconds' must be a number")
    try:
        seconds = float(value)
    except (TypeError, ValueError) as exc:
        raise bad_request(f"'seconds' must be a number, got {str(value)[:40]!r}") from exc
    if not math.isfinite(seconds) or seconds < 0:
        raise bad_request(
            f"'seconds' must be a finite number >= 0 (the clock only moves forward), got {value}"
        )
    if seconds > MAX_ADVANCE_SECONDS:
        raise bad_request(f"'seconds' must be at most {MAX_ADVANCE_SECONDS} (ten years)")
    return seconds


def _seconds_problem(field: str, value: Any) -> EpayError:
    """A `seconds` of the wrong JSON type, worded as `parse_seconds` words it."""
    try:
        parse_seconds(value)
    except EpayError as exc:
        return exc
    return bad_request("'seconds' must be a number")


def _client_id_problem(field: str, value: Any) -> EpayError:
    return bad_request(f"unknown client_id {str(value)[:64]!r}")


async def advance_clock(request: web.Request) -> web.Response:
    raw = await read_optional_body(request)
    folded = {} if "seconds" in request.query else normalise_clock_advance(raw)  # the query wins
    body = decode_explained(ClockAdvanceRequest, folded, _seconds_problem)
    value = request.query.get("seconds", given(body.seconds))
    clock = request.app[CLOCK]
    clock.advance(parse_seconds(value))
    await request.app[RENEWALS].settle()  # subscriptions' renewals now due are made before answering
    return json_response(ClockOffset(offset=clock.offset))


async def reset_state(request: web.Request) -> web.Response:
    app = request.app
    raw = await read_optional_body(request)
    client_id = request.query.get("client_id") or None
    if client_id is None:
        client_id = given(decode_explained(ResetRequest, normalise_reset(raw), _client_id_problem).client_id)
    if client_id is not None and app[STORE].merchant(client_id) is None:
        raise bad_request(f"unknown client_id {client_id[:64]!r}")
    app[GATEWAY].reset(client_id)
    return json_response(ResetDone(status="reset", client_id=client_id))


def setup(app: web.Application, add_route: Any) -> None:
    add_route("POST", "/_mock/clock/advance", advance_clock, doc=lazy_doc(ADMIN_DOCS, "advance_clock"))
    add_route("POST", "/_mock/reset", reset_state, doc=lazy_doc(ADMIN_DOCS, "reset_state"))
