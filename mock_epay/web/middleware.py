"""The one middleware every request passes through, in this order: requests in flight (for a
prompt shutdown), the request log and journal, errors in the bank's format, and the admin guard
on `/_mock/` paths.

Each concern's rules stay in its own module (`journal`, `errors`, `admin_guard`); this module only
runs them in one coroutine frame per request instead of four stacked middlewares, which costs less
on the hot path (every token and payment request pays for each layer).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from mock_epay.web.admin_guard import guarded, needs_admin_token
from mock_epay.web.errors import error_answer
from mock_epay.web.journal import AccessLog, record

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def request_middleware_for(access_log: AccessLog, in_flight: set[asyncio.Task[Any]]) -> Any:
    """The app's middleware; `in_flight` holds the tasks of the requests being answered."""

    @web.middleware
    async def request_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        task = asyncio.current_task()
        if task is not None:
            in_flight.add(task)
        started = time.perf_counter()
        try:
            try:
                if needs_admin_token(request.path):
                    response = await guarded(request, handler)
                else:
                    response = await handler(request)
            except Exception as exc:
                answer = error_answer(request, exc)
                if answer is None:  # a redirect raised as an exception: logged, then on its way
                    if isinstance(exc, web.HTTPException):
                        await record(request, exc, started, access_log)
                    raise
                response = answer
            await record(request, response, started, access_log)
            return response
        finally:
            if task is not None:
                in_flight.discard(task)

    return request_middleware
