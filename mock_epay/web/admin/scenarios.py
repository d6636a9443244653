"""Admin API for scenarios (under `/_mock/`): list rules, add overrides for the next N requests, reload.

- `GET /_mock/scenarios`: loaded rules (source file and index) and active overrides.
- `POST /_mock/scenarios`: a JSON rule plus `times` (default 1), put on top of every file.
- `DELETE /_mock/scenarios/overrides`: clear the overrides.
- `POST /_mock/scenarios/reload`: re-read the files; a bad file keeps the previous rules.
"""

from __future__ import annotations

from typing import Any

import msgspec
from aiohttp import web

from mock_epay.gateway.errors import EpayError, bad_request
from mock_epay.scenarios.schema import ScenarioError
from mock_epay.web.app_keys import ENGINE
from mock_epay.web.readers import read_json_object
from mock_epay.wire.admin import OverrideAdded, OverridesCleared, ScenarioRule, Scenarios, ScenariosReloaded
from mock_epay.wire.admin_requests import MAX_OVERRIDE_TIMES, ScenarioOverrideRequest, override_rule
from mock_epay.wire.bank_requests import given
from mock_epay.wire.decode import failed_field
from mock_epay.wire.render import json_response
from mock_epay.wire.route_docs import ADMIN_DOCS, lazy_doc
from mock_epay.wire.shape import declared


async def list_scenarios(request: web.Request) -> web.Response:
    return json_response(declared(Scenarios, request.app[ENGINE].describe()))


def _times_error(times: Any) -> EpayError:
    return bad_request(f"field 'times' must be a whole number from 1 to {MAX_OVERRIDE_TIMES}, got {times!r}")


def read_override(body: dict[str, Any]) -> tuple[dict[str, Any], int]:
    """The rule and `times` of an override body, decoded through `ScenarioOverrideRequest`.

    `times` is checked first, as the admin API's own field; a rule field the declaration refuses is
    left to the scenario schema, which words every problem of the rule at once."""
    try:
        times = given(msgspec.convert(body, ScenarioOverrideRequest).times)
    except msgspec.ValidationError as exc:
        field = failed_field(str(exc))
        if field == "times" or not _times_fit(body):
            raise _times_error(body.get("times")) from exc
        outcomes = body.get("outcomes")
        if field == "outcomes" and isinstance(outcomes, int | float) and outcomes:  # the rule checks cannot
            message = f"field 'outcomes' must be a list of outcome objects, got {outcomes!r}"
            raise bad_request(message) from exc
        times = body.get("times")
    return override_rule(body), 1 if times is None else times


def _times_fit(body: dict[str, Any]) -> bool:
    """`times` alone fits the declaration (every rule field of it may be absent)."""
    try:
        msgspec.convert({"times": body["times"]} if "times" in body else {}, ScenarioOverrideRequest)
    except msgspec.ValidationError:
        return False
    return True


async def add_override(request: web.Request) -> web.Response:
    rule_spec, times = read_override(await read_json_object(request))
    try:
        rule = request.app[ENGINE].add_override(rule_spec, times)
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
