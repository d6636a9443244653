"""Compiled scenario rules and pure matching: a rule's `match` as one generated function, `select_rule`.

Each rule's `match` becomes one Python boolean expression over local variables (the
attempt's fields, read once) and constants kept in a namespace, never pasted into the
source. A `RuleSet` joins its rules' expressions into one generated function that returns
the index of the first rule that fits: one call and a chain of cheap comparisons per
request, which keeps 50 rules well under the cost of parsing the request.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mock_epay.gateway.codes import OPERATION_ERROR, PRESETS, default_decline_message
from mock_epay.gateway.models import (
    CallbackMode,
    CallbackPlan,
    OperationAttempt,
    Outcome,
    OutcomeKind,
    PaymentAttempt,
)
from mock_epay.gateway.outcomes import entry_for
from mock_epay.gateway.sandbox_cards import SECURE3D_OTP
from mock_epay.scenarios.schema import MATCH_ATTRIBUTES, is_operation_rule

Attempt = PaymentAttempt | OperationAttempt

# -- compiling rules -------------------------------------------------------------------
#
# Each rule's `match` becomes one Python boolean expression over local variables (the
# attempt's fields, read once) and constants kept in a namespace, never pasted into the
# source. A RuleSet joins its rules' expressions into one generated function that returns
# the index of the first rule that fits: one call and a chain of cheap comparisons per
# request, which keeps 50 rules well under the cost of parsing the request.

_serial = itertools.count()


class _Condition:
    """Builds one rule's expression; constants go to `namespace` under unique names."""

    def __init__(self) -> None:
        self.prefix = f"r{next(_serial)}_"
        self.namespace: dict[str, Any] = {}
        self.parts: list[str] = []
        self.attributes: set[str] = set()

    def const(self, value: Any) -> str:
        name = f"{self.prefix}{len(self.namespace)}"
        self.namespace[name] = value
        return name

    def amount(self, spec: Any) -> None:
        self.attributes.add("amount")
        if isinstance(spec, int | float):
            self.parts.append(f"v_amount == {self.const(float(spec))}")
        elif isinstance(spec, list):
            self.parts.append(f"v_amount in {self.const(frozenset(float(a) for a in spec))}")
        else:
            if "min" in spec:
                self.parts.append(f"v_amount >= {self.const(float(spec['min']))}")
            if "max" in spec:
                self.parts.append(f"v_amount <= {self.const(float(spec['max']))}")

    def string(self, attribute: str, spec: Any) -> None:
        self.attributes.add(attribute)
        var = f"v_{attribute}"
        if isinstance(spec, int | str):
            self.parts.append(f"{var} == {self.const(str(spec))}")
            return
        if isinstance(spec, list):
            self.parts.append(f"{var} in {self.const(frozenset(str(item) for item in spec))}")
            return
        self.parts.append(f"{var} is not None")
        if "equals" in spec:
            self.parts.append(f"{var} == {self.const(spec['equals'])}")
        if "in" in spec:
            self.parts.append(f"{var} in {self.const(frozenset(spec['in']))}")
        if "contains" in spec:
            self.parts.append(f"{self.const(spec['contains'])} in {var}")
        if "regex" in spec:
            self.parts.append(f"{self.const(re.compile(spec['regex']).search)}({var}) is not None")

    @property
    def expression(self) -> str:
        return " and ".join(self.parts) or "True"


def _condition(match: Mapping[str, Any]) -> _Condition:
    condition = _Condition()
    if "amount" in match:
        condition.amount(match["amount"])  # first: the cheapest and most selective check
    for key, value in match.items():
        if key != "amount":
            condition.string(MATCH_ATTRIBUTES[key], value)
    return condition


def _generate(rules: Sequence[Rule]) -> Callable[[Any], int]:
    """One function: attempt in, index of the first rule in `rules` that fits out (-1: none)."""
    namespace: dict[str, Any] = {}
    attributes: set[str] = set()
    body: list[str] = []
    for index, rule in enumerate(rules):
        namespace.update(rule.condition.namespace)
        attributes |= rule.condition.attributes
        body.append(f"    if {rule.condition.expression}:\n        return {index}")
    loads = [f"    v_{name} = a.{name}" for name in sorted(attributes)]
    source = "\n".join(["def first_fit(a):", *loads, *body, "    return -1"])
    exec(compile(source, "<scenario rules>", "exec"), namespace)  # noqa: S102 - source built above
    return namespace["first_fit"]


def compile_outcome(spec: Mapping[str, Any], rule_name: str, is_operation: bool) -> Outcome:
    """A checked outcome mapping as an `Outcome`; defaults come from the outcome table."""
    callback = spec.get("callback")
    plan = CallbackPlan(CallbackMode(callback["mode"]), callback.get("delay_ms", 0)) if callback \
        else CallbackPlan()
    kind = OutcomeKind.DECLINE if "preset" in spec else OutcomeKind(spec["result"])
    entry = entry_for(kind)
    code = entry.default_code
    message = entry.default_message
    if kind is OutcomeKind.DECLINE:
        fallback = OPERATION_ERROR if is_operation else 0
        code = PRESETS.get(spec.get("preset", ""), spec.get("reasonCode", fallback))
        message = default_decline_message(code)
    return Outcome(
        kind=kind,
        reason_code=code,
        message=spec.get("message", message),
        http_status=spec.get("http_status", entry.default_status),
        body=spec.get("body"),
        delay_ms=spec.get("delay_ms", 0),
        otp=spec.get("otp", SECURE3D_OTP),
        callback=plan,
        rule=rule_name,
        records_approval=spec.get("record") == "approve",
    )


@dataclass(eq=False)
class Rule:
    """One compiled rule: its match condition and the outcome(s) it gives."""

    name: str
    description: str
    source: str  # file path, or "admin" for an override
    index: int  # position in its file
    spec: dict[str, Any]  # the rule as written (for listing)
    for_operations: bool
    header_only: bool
    condition: _Condition
    outcomes: tuple[Outcome, ...]
    sequence_by: str = "invoice"
    remaining: int | None = None  # overrides only: uses left

    def describe(self) -> dict[str, Any]:
        described = {"name": self.name, "source": self.source, "index": self.index, **self.spec}
        if self.remaining is not None:
            described["remaining"] = self.remaining
        return described


def compile_rule(spec: dict[str, Any], source: str, index: int) -> Rule:
    """A checked rule mapping to a `Rule` (regexes and ranges compiled once, here)."""
    for_operations = is_operation_rule(spec)
    raw_outcomes = spec["outcomes"] if "outcomes" in spec else [spec["outcome"]]
    return Rule(
        name=spec["name"],
        description=spec["description"],
        source=source,
        index=index,
        spec=spec,
        for_operations=for_operations,
        header_only=bool(spec.get("header_only")),
        condition=_condition(spec.get("match") or {}),
        outcomes=tuple(compile_outcome(o, spec["name"], for_operations) for o in raw_outcomes),
        sequence_by=spec.get("sequence_by", "invoice"),
    )


# -- pure matching ---------------------------------------------------------------------


class RuleSet:
    """An ordered, immutable list of rules of one kind (payment or operation) and its matcher."""

    def __init__(self, rules: Sequence[Rule], for_operations: bool) -> None:
        self.rules = tuple(r for r in rules if r.for_operations == for_operations)
        self.by_name = {r.name: r for r in self.rules}
        self._matchable = tuple(r for r in self.rules if not r.header_only)
        self._first_fit = _generate(self._matchable)

    def first_fit(self, attempt: Attempt) -> Rule | None:
        index = self._first_fit(attempt)
        return None if index < 0 else self._matchable[index]


def only_terminals(spec: dict[str, Any], owned: frozenset[str]) -> bool:
    """Whether a rule's `match.terminal` names terminals, all of them in `owned`."""
    named = (spec.get("match") or {}).get("terminal")
    if isinstance(named, dict):
        named = named.get("equals", named.get("in"))
    if isinstance(named, str | int):
        named = [named]
    return isinstance(named, list) and bool(named) and all(str(t) in owned for t in named)


def select_rule(overrides: RuleSet, rules: RuleSet, attempt: Attempt) -> Rule | None:
    """Pure: the rule that decides `attempt`: the one its header names, else the first that fits.

    (The engine has already refused a header naming no loaded rule.)
    """
    if attempt.scenario:
        picked = overrides.by_name.get(attempt.scenario) or rules.by_name.get(attempt.scenario)
        if picked is not None:
            return picked
    if overrides.rules:
        return overrides.first_fit(attempt) or rules.first_fit(attempt)
    return rules.first_fit(attempt)


def sequence_key(rule: Rule, attempt: Attempt) -> tuple[str, str, str]:
    if rule.sequence_by == "card":
        key = attempt.card_pan or attempt.card_id or ""
    elif rule.sequence_by == "transaction" and isinstance(attempt, OperationAttempt):
        key = attempt.transaction_id
    else:
        key = attempt.invoice_id
    return (rule.name, attempt.client_id, key)


