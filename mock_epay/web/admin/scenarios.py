"""Admin API for scenarios (under `/_mock/`): list rules, add overrides for the next N requests, reload.

- `GET /_mock/scenarios`: loaded rules (source file and index) and active overrides.
- `POST /_mock/scenarios`: a JSON rule plus `times` (default 1), put on top of every file.
- `DELETE /_mock/scenarios/overrides`: clear the overrides.
- `POST /_mock/scenarios/reload`: re-read the files; a bad file keeps the previous rules.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from mock_epay.gateway.errors import bad_request
from mock_epay.scenarios.schema import ScenarioError
from mock_epay.web.app_keys import ENGINE
from mock_epay.web.readers import read_json_object
from mock_epay.wire.admin import OverrideAdded, OverridesCleared, ScenarioRule, Scenarios, ScenariosReloaded
from mock_epay.wire.render import json_response
from mock_epay.wire.route_docs import ADMIN_DOCS, lazy_doc
from mock_epay.wire.shape import declared

MAX_TIMES = 1_000_000


async def list_scenarios(request: web.Request) -> web.Response:
    return json_response(declared(Scenarios, request.app[ENGINE].describe()))


async def add_override(request: web.Request) -> web.Response:
    body = await read_json_object(request)
    times = body.pop("times", 1)
    if isinstance(times, bool) or not isinstance(times, int) or not 1 <= times <= MAX_TIMES:
        raise bad_request(f"field 'times' must be a whole number from 1 to {MAX_TIMES}, got {times!r}")
    try:
        rule = request.app[ENGINE].add_override(body, times)
    except ScenarioError as exc:
        raise bad_request(str(exc)) from exc
    return json_response(OverrideAdded(override=declared(ScenarioRule, rule.describe())), status=201)


async def clear_overrides(request: web.Request) -> web.Response:
    return json_response(OverridesCleared(cleared=request.app[ENGINE].clear_overrides()))


async def reload_scenarios(request: web.Request) -> web.Response:
    try:
        count = request.app[ENGINE].reload()
    except ScenarioError as exc:
        raise bad_request(f"reload refused, the previous rules stay in force: {exc}") from exc
    return json_response(ScenariosReloaded(status="reloaded", rules=count))


def setup(app: web.Application, add_route: Any) -> None:
    add_route("GET", "/_mock/scenarios", list_scenarios, doc=lazy_doc(ADMIN_DOCS, "list_scenarios"))
    add_route("POST", "/_mock/scenarios", add_override, doc=lazy_doc(ADMIN_DOCS, "add_scenario_override"))
    add_route("DELETE", "/_mock/scenarios/overrides", clear_overrides,
              doc=lazy_doc(ADMIN_DOCS, "clear_scenario_overrides"))
    add_route("POST", "/_mock/scenarios/reload", reload_scenarios,
              doc=lazy_doc(ADMIN_DOCS, "reload_scenarios"))
