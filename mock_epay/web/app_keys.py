"""Typed keys for the objects `create_app` puts on the aiohttp Application.

`GATEWAY` holds the domain's parts in one object (what the gateway services take); the other
keys are the same parts, one each, for handlers that need only one of them.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from aiohttp import web

if TYPE_CHECKING:
    from mock_epay.callbacks.dispatcher import CallbackDispatcher
    from mock_epay.core.clock import Clock
    from mock_epay.core.rsa_keys import KeyRing
    from mock_epay.gateway.recurring import RenewalScheduler
    from mock_epay.gateway.service import Gateway
    from mock_epay.gateway.tokens import TokenService
    from mock_epay.scenarios.engine import ScenarioEngine
    from mock_epay.settings import Settings
    from mock_epay.store.memory import Store
    from mock_epay.web.fast_lane import FastLane
    from mock_epay.wire.route_docs import RouteDoc

SETTINGS: web.AppKey[Settings] = web.AppKey("settings")
STORE: web.AppKey[Store] = web.AppKey("store")
CLOCK: web.AppKey[Clock] = web.AppKey("clock")
TOKENS: web.AppKey[TokenService] = web.AppKey("tokens")
ENGINE: web.AppKey[ScenarioEngine] = web.AppKey("engine")
DISPATCHER: web.AppKey[CallbackDispatcher] = web.AppKey("dispatcher")
GATEWAY: web.AppKey[Gateway] = web.AppKey("gateway")
ROUTE_DOCS: web.AppKey[list[RouteDoc]] = web.AppKey("route_docs")
KEYRING: web.AppKey[KeyRing] = web.AppKey("keyring")  # the cryptogram key pair (made on first use)
IN_FLIGHT: web.AppKey[set[asyncio.Task[Any]]] = web.AppKey("in_flight")  # requests being answered
FAST_LANE: web.AppKey[FastLane] = web.AppKey("fast_lane")  # the token route past aiohttp's web layer
RENEWALS: web.AppKey[RenewalScheduler] = web.AppKey("renewals")  # charges subscriptions when due
