"""`create_app(settings)`: builds the aiohttp Application and wires every part together, nothing else."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from aiohttp.log import server_logger

from mock_epay.callbacks.dispatcher import CallbackDispatcher
from mock_epay.core.clock import Clock
from mock_epay.core.fakedata import FakeData
from mock_epay.gateway.service import Gateway
from mock_epay.gateway.tokens import TokenService
from mock_epay.scenarios.engine import ScenarioEngine
from mock_epay.scenarios.watch import setup_watcher
from mock_epay.settings import Settings
from mock_epay.store.open import open_store_for
from mock_epay.store.shared_state import start_following, stop_following
from mock_epay.web.admin import callbacks as admin_callbacks
from mock_epay.web.admin import core as admin
from mock_epay.web.admin import dashboard, demo
from mock_epay.web.admin import merchants as admin_merchants
from mock_epay.web.admin import openapi as admin_openapi
from mock_epay.web.admin import outbox as admin_outbox
from mock_epay.web.admin import scenarios as admin_scenarios
from mock_epay.web.admin import state as admin_state
from mock_epay.web.admin import subscriptions as admin_subscriptions
from mock_epay.web.admin import transactions as admin_transactions
from mock_epay.web.app_keys import (
    CLOCK,
    DISPATCHER,
    ENGINE,
    FAST_LANE,
    GATEWAY,
    IN_FLIGHT,
    ROUTE_DOCS,
    SETTINGS,
    STORE,
    TOKENS,
)
from mock_epay.web.bank import (
    cards,
    cryptopay,
    invoice_links,
    oauth,
    operations,
    payments,
    qr,
    recurring,
    statements,
    transfers,
)
from mock_epay.web.errors import ProtocolErrorLog
from mock_epay.web.fast_lane import FastLane
from mock_epay.web.journal import AccessLog
from mock_epay.web.middleware import request_middleware_for
from mock_epay.web.payform import link_page, qr_page
from mock_epay.web.payform import page as widget
from mock_epay.web.payform.params import MAX_PARAMS_CHARS
from mock_epay.wire.route_docs import OperationDoc, RouteDoc

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
ROUTE_MODULES = (
    oauth, payments, operations, cards, widget, admin, admin_state, admin_callbacks, admin_scenarios,
    admin_transactions, admin_merchants, dashboard, admin_openapi, demo,
    invoice_links, qr, link_page, qr_page, admin_outbox,
    cryptopay, recurring, admin_subscriptions,
    transfers, statements,
)


def _route_adder(app: web.Application) -> Callable[..., None]:
    """Register a path with and without a trailing slash (Appendix A tolerates both).

    Two plain routes rather than one regex keep route resolution a dictionary lookup.
    `doc` (a callable returning the OpenAPI operation) documents the path where it is registered;
    `twin=False` registers no trailing-slash twin (where `path/` would be an empty path parameter).
    """

    docs: list[RouteDoc] = []
    app[ROUTE_DOCS] = docs

    def add_route(method: str, path: str, handler: Handler, *, doc: OperationDoc | None = None,
                  twin: bool = True, **kwargs: Any) -> None:
        app.router.add_route(method, path, handler, **kwargs)
        if twin and not path.endswith("/"):
            app.router.add_route(method, path + "/", handler, **kwargs)
        if doc is not None:
            docs.append(RouteDoc(path, method.lower(), doc))

    return add_route


async def _start_dispatcher(app: web.Application) -> None:
    await app[DISPATCHER].start()


async def _stop_dispatcher(app: web.Application) -> None:
    await app[DISPATCHER].stop()


async def _follow_store(app: web.Application) -> Any:
    """A shared store's clock offset, changed by another process, is taken here too (cleanup context)."""
    task = start_following(app[STORE])
    yield
    await stop_following(task)


async def _flush(access_log: AccessLog) -> None:
    access_log.flush()


def create_app(settings: Settings | None = None, clock: Clock | None = None) -> web.Application:
    """A ready-to-run mock gateway for `settings` (defaults when None)."""
    settings = settings or Settings()
    clock = clock or Clock()
    access_log = AccessLog()
    in_flight: set[asyncio.Task[Any]] = set()
    app = web.Application(
        middlewares=[request_middleware_for(access_log, in_flight)],
        client_max_size=settings.max_body_bytes,
        # A page address may carry `?params=` up to MAX_PARAMS_CHARS; malformed HTTP logs one line.
        handler_args={"max_line_size": MAX_PARAMS_CHARS + 4096, "logger": ProtocolErrorLog(server_logger)},
    )
    fake = FakeData(settings.seed)  # one id sequence for the store and the tokens
    store: Any = open_store_for(settings, clock, fake)  # memory, SQLite or PostgreSQL (one contract)
    engine = ScenarioEngine(settings.scenario_paths, include_defaults=settings.default_scenarios,
                            time_scale=settings.scenario_time_scale)
    engine.use_store(store)  # durable stores keep overrides and sequence positions
    dispatcher = CallbackDispatcher(store, settings, clock)
    gateway = Gateway(settings, clock, store, TokenService(store, settings, clock, fake), engine, dispatcher)
    app[GATEWAY] = gateway
    app[IN_FLIGHT] = in_flight
    app[SETTINGS] = settings
    app[CLOCK] = clock
    app[STORE] = store
    app[TOKENS] = gateway.tokens
    app[ENGINE] = engine
    app[DISPATCHER] = dispatcher
    app[FAST_LANE] = FastLane(app, access_log, settings.max_body_bytes)  # routes join it in their setup
    app.on_startup.append(_start_dispatcher)
    app.on_cleanup.append(_stop_dispatcher)
    app.cleanup_ctx.append(_follow_store)
    app.on_shutdown.append(lambda _app: _flush(access_log))
    setup_watcher(app)
    add_route = _route_adder(app)
    for module in ROUTE_MODULES:
        module.setup(app, add_route)
    return app


