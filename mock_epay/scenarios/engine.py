"""The scenario engine: the one place where the outcome of a payment or an operation is decided.

Rules come from YAML files (checked by `scenario_schema`) and from the admin API
(overrides used for the next N matching requests). Matching is pure: `select_rule`
takes compiled rules and an attempt and returns the first rule that fits (or the
one the `X-Mock-Scenario` header names). The engine adds the little state that
sequences and overrides need: how far each (rule, invoice or card) has got, and
how many uses each override has left; `reset()` clears it.
"""

from __future__ import annotations

import itertools
import logging
import re
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from mock_epay.core.resources import data_dir
from mock_epay.gateway import sandbox_cards
from mock_epay.gateway.codes import GENERIC, OPERATION_ERROR, PRESETS, default_decline_message
from mock_epay.gateway.errors import EpayError
from mock_epay.gateway.models import (
    APPROVED,
    CallbackMode,
    CallbackPlan,
    OperationAttempt,
    Outcome,
    OutcomeKind,
    PaymentAttempt,
)
from mock_epay.gateway.outcomes import entry_for
from mock_epay.gateway.sandbox_cards import SECURE3D_OTP
from mock_epay.scenarios.schema import (
    MATCH_ATTRIBUTES,
    RuleProblem,
    ScenarioError,
    check_rule,
    is_operation_rule,
    read_rule_files,
    validate_rules,
)

log = logging.getLogger("mock_epay.scenarios")

SHIPPED_FILES = ("default.yaml", "declines.yaml", "chaos.yaml", "operations.yaml")
SEQUENCE_STATE_LIMIT = 10_000  # (rule, merchant, invoice-or-card) positions kept, oldest dropped first

Attempt = PaymentAttempt | OperationAttempt


def shipped_paths() -> list[Path]:
    """The shipped library in its fixed order (default, declines, chaos, operations)."""
    folder = data_dir("scenarios")
    return [folder / name for name in SHIPPED_FILES if (folder / name).is_file()]


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


def _only_terminals(spec: dict[str, Any], owned: frozenset[str]) -> bool:
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


def _sequence_key(rule: Rule, attempt: Attempt) -> tuple[str, str, str]:
    if rule.sequence_by == "card":
        key = attempt.card_pan or attempt.card_id or ""
    elif rule.sequence_by == "transaction" and isinstance(attempt, OperationAttempt):
        key = attempt.transaction_id
    else:
        key = attempt.invoice_id
    return (rule.name, attempt.client_id, key)


# -- the engine ------------------------------------------------------------------------


class ScenarioEngine:
    """Decides outcomes from loaded rules; reloadable; overrides for the next N requests."""

    def __init__(
        self, paths: Sequence[Path] = (), include_defaults: bool = True, time_scale: float = 1.0
    ) -> None:
        self.paths = tuple(Path(p) for p in paths)
        self.include_defaults = include_defaults
        self.time_scale = time_scale  # multiplies every outcome's delay_ms (settings.scenario_time_scale)
        self._init_state()
        self._install(self._load())  # a bad file at start-up raises ScenarioError

    def _init_state(self) -> None:
        self.last_error: str | None = None
        self._sequence: OrderedDict[tuple[str, str, str], int] = OrderedDict()
        self._overrides: list[Rule] = []
        self._override_serial = 0
        self._rules: list[Rule] = []
        self._rebuild_overrides()

    @classmethod
    def from_rules(cls, specs: Iterable[dict[str, Any]], source: str = "<rules>") -> ScenarioEngine:
        """An engine over in-memory rule mappings (checked like a file), without the shipped files."""
        engine = cls.__new__(cls)
        engine.paths = ()
        engine.include_defaults = False
        engine.time_scale = 1.0
        engine._init_state()
        checked = validate_rules(list(specs), source)
        engine._install([compile_rule(s, source, i) for i, s in enumerate(checked)])
        return engine

    # -- loading

    def all_paths(self) -> list[Path]:
        """User files first (so they win), then the shipped library unless disabled."""
        return [*self.paths, *(shipped_paths() if self.include_defaults else [])]

    def _load(self) -> list[Rule]:
        """User files first; a shipped rule whose name a user rule takes is left out (the user's wins)."""
        rules: list[Rule] = []
        for path, specs in read_rule_files(self.paths):
            rules.extend(compile_rule(spec, str(path), index) for index, spec in enumerate(specs))
        if self.include_defaults:
            taken = {rule.name for rule in rules}
            for path, specs in read_rule_files(shipped_paths()):
                rules.extend(compile_rule(spec, str(path), index) for index, spec in enumerate(specs)
                             if spec["name"] not in taken)
        return rules

    def _install(self, rules: list[Rule]) -> None:
        self._rules = rules
        self._payments = RuleSet(rules, for_operations=False)
        self._operations = RuleSet(rules, for_operations=True)
        self._refresh_names()

    def _refresh_names(self) -> None:
        self._names = frozenset(r.name for r in (*self._overrides, *self._rules))

    def reload(self) -> int:
        """Re-read every file. On any error the previous rules stay in force and it is raised."""
        try:
            rules = self._load()
        except ScenarioError as exc:
            self.last_error = str(exc)
            log.error("scenario reload refused, previous rules stay in force:\n%s", exc)
            raise
        self._install(rules)
        self.last_error = None
        log.info("scenario rules reloaded: %d rules", len(rules))
        return len(rules)

    @property
    def rules(self) -> tuple[Rule, ...]:
        return tuple(self._rules)

    def watched_files(self) -> list[Path]:
        return self.all_paths()

    # -- overrides (admin API)

    def add_override(self, spec: dict[str, Any], times: int = 1) -> Rule:
        """Put a rule at the top for the next `times` matching requests."""
        spec = dict(spec)
        self._override_serial += 1
        spec.setdefault("name", f"override-{self._override_serial}")
        spec.setdefault("description", "added through the admin API")
        try:
            check_rule(spec)
        except RuleProblem as exc:
            raise ScenarioError([f"rule {spec.get('name')!r}: {exc}"]) from exc
        name = spec["name"]
        if name in self._names:
            raise ScenarioError([f"rule {name!r}: name {name!r} is already used by a loaded rule "
                                 f"or an active override"])
        rule = compile_rule(spec, "admin", len(self._overrides))
        rule.remaining = times
        self._overrides.insert(0, rule)
        self._rebuild_overrides()
        return rule

    def clear_overrides(self) -> int:
        count = len(self._overrides)
        self._overrides = []
        self._rebuild_overrides()
        return count

    @property
    def overrides(self) -> tuple[Rule, ...]:
        return tuple(self._overrides)

    def _rebuild_overrides(self) -> None:
        self._override_payments = RuleSet(self._overrides, for_operations=False)
        self._override_operations = RuleSet(self._overrides, for_operations=True)
        self._refresh_names()

    def _use(self, rule: Rule) -> None:
        if rule.remaining is None:
            return
        rule.remaining -= 1
        if rule.remaining <= 0:
            self._overrides = [r for r in self._overrides if r is not rule]
            self._rebuild_overrides()

    # -- state

    def reset(self, client_id: str | None = None) -> None:
        """Forget sequence positions (of one merchant, or all) and, for a full reset, overrides."""
        if client_id is None:
            self._sequence.clear()
            self.clear_overrides()
            return
        for key in [k for k in self._sequence if k[1] == client_id]:
            del self._sequence[key]

    def forget_merchant(self, client_id: str, terminal_ids: Iterable[str]) -> int:
        """A removed merchant: forget its sequence positions and drop the overrides that can only
        match its terminals (`match.terminal` naming them); how many overrides were dropped."""
        self.reset(client_id)
        owned = frozenset(terminal_ids)
        kept = [rule for rule in self._overrides if not _only_terminals(rule.spec, owned)]
        dropped = len(self._overrides) - len(kept)
        if dropped:
            self._overrides = kept
            self._rebuild_overrides()
        return dropped

    def _pick_outcome(self, rule: Rule, attempt: Attempt) -> Outcome:
        if len(rule.outcomes) == 1:
            outcome = rule.outcomes[0]
        else:
            key = _sequence_key(rule, attempt)
            step = self._sequence.pop(key, 0)
            self._sequence[key] = step + 1
            if len(self._sequence) > SEQUENCE_STATE_LIMIT:
                self._sequence.popitem(last=False)
            outcome = rule.outcomes[min(step, len(rule.outcomes) - 1)]
        if outcome.delay_ms and self.time_scale != 1.0:
            outcome = replace(outcome, delay_ms=round(outcome.delay_ms * self.time_scale))
        return outcome

    def _unknown_scenario(self, name: str) -> EpayError:
        names = sorted(self._names)
        listed = ", ".join(names[:80]) + (", ..." if len(names) > 80 else "")
        return EpayError(400, GENERIC, f"unknown scenario {name[:80]!r}; loaded: {listed}")

    def _check_header(self, attempt: Attempt) -> None:
        name = attempt.scenario
        if name and name not in self._names:
            raise self._unknown_scenario(name)

    # -- deciding

    def decide(self, attempt: PaymentAttempt) -> Outcome:
        """The outcome of one payment attempt.

        Rules first; when none fits, the built-in test-card table (`sandbox_cards.py`:
        typed expiry/CVC checks, mock-only 3-D Secure and decline cards); else approve.
        """
        self._check_header(attempt)
        rule = select_rule(self._override_payments, self._payments, attempt)
        if rule is None:
            return sandbox_cards.decide(attempt) or APPROVED
        self._use(rule)
        return self._pick_outcome(rule, attempt)

    def decide_operation(self, attempt: OperationAttempt) -> Outcome | None:
        """An outcome forced on a charge/cancel/refund, or None to let it proceed normally.

        An APPROVE outcome means "proceed normally" too, after its `delay_ms`.
        """
        self._check_header(attempt)
        rule = select_rule(self._override_operations, self._operations, attempt)
        if rule is None:
            return None
        self._use(rule)
        outcome = self._pick_outcome(rule, attempt)
        if outcome.kind is OutcomeKind.APPROVE and not outcome.delay_ms:
            return None
        return outcome

    # -- listing

    def describe(self) -> dict[str, Any]:
        return {
            "files": [str(p) for p in self.all_paths()],
            "rules": [r.describe() for r in self._rules],
            "overrides": [r.describe() for r in self._overrides],
            "last_error": self.last_error,
        }
