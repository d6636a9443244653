"""The scenario engine: the one place where the outcome of a payment or an operation is decided.

Rules come from YAML files (checked by `scenario_schema`) and from the admin API
(overrides used for the next N matching requests). Matching is pure: `select_rule`
(`mock_epay.scenarios.rules`) takes compiled rules and an attempt and returns the first
rule that fits (or the one the `X-Mock-Scenario` header names). The engine adds the little
state that sequences and overrides need: how far each (rule, invoice or card) has got, and
how many uses each override has left; `reset()` clears it. That state lives in the process
(memory backend) or, after `use_store`, in a durable store (`mock_epay.scenarios.state`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from mock_epay.core.resources import data_dir
from mock_epay.gateway import sandbox_cards
from mock_epay.gateway.codes import GENERIC
from mock_epay.gateway.errors import EpayError
from mock_epay.gateway.models import APPROVED, OperationAttempt, Outcome, OutcomeKind, PaymentAttempt, evolve
from mock_epay.scenarios.rules import (
    Attempt,
    Rule,
    RuleSet,
    compile_outcome,
    compile_rule,
    only_terminals,
    select_rule,
    sequence_key,
)
from mock_epay.scenarios.schema import RuleProblem, ScenarioError, check_rule, read_rule_files, validate_rules
from mock_epay.scenarios.state import (
    SEQUENCE_STATE_LIMIT,
    MemorySequences,
    SavedOverrides,
    StoredScenarioState,
    use_one,
)

__all__ = ["SEQUENCE_STATE_LIMIT", "Rule", "RuleSet", "ScenarioEngine", "compile_outcome", "compile_rule",
           "select_rule", "shipped_paths"]

log = logging.getLogger("mock_epay.scenarios")

SHIPPED_FILES = ("default.yaml", "declines.yaml", "chaos.yaml", "operations.yaml")


def shipped_paths() -> list[Path]:
    """The shipped library in its fixed order (default, declines, chaos, operations)."""
    folder = data_dir("scenarios")
    return [folder / name for name in SHIPPED_FILES if (folder / name).is_file()]


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
        self._sequences: MemorySequences | StoredScenarioState = MemorySequences()
        self._stored: StoredScenarioState | None = None
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

    # -- where state lives

    def use_store(self, store: object) -> None:
        """Keep sequence positions and overrides in `store` when it is durable (SQLite, PostgreSQL):
        they survive a restart and are shared by the processes on it. A no-op for memory://."""
        stored = StoredScenarioState.of(store)
        if stored is None:
            return
        self._stored = self._sequences = stored
        self._sync()

    def _sync(self, exact: bool = False) -> None:
        """Take the overrides as the store has them when another process may have changed them
        (a cheap check, for each decision), or always with `exact` (admin reads: one store read)."""
        if self._stored is not None and (self._stored.changed() or exact):
            self._adopt(self._stored.overrides())

    def _adopt(self, saved: SavedOverrides) -> None:
        """Compile the store's override list (rules already compiled from the same spec are kept)."""
        known = {rule.name: rule for rule in self._overrides}
        rules = []
        for index, (spec, left) in enumerate(saved):
            rule = known.get(spec.get("name"))
            if rule is None or rule.spec != spec:
                rule = compile_rule(spec, "admin", len(saved) - 1 - index)
            rule.remaining = left
            rules.append(rule)
        self._overrides = rules
        self._rebuild_overrides()

    # -- overrides (admin API)

    def add_override(self, spec: dict[str, Any], times: int = 1) -> Rule:
        """Put a rule at the top for the next `times` matching requests."""
        self._sync(exact=True)
        spec = dict(spec)
        self._override_serial += 1
        named = "name" in spec
        spec.setdefault("name", f"override-{self._override_serial}")
        spec.setdefault("description", "added through the admin API")
        try:
            check_rule(spec)
        except RuleProblem as exc:
            raise ScenarioError([f"rule {spec.get('name')!r}: {exc}"]) from exc
        if self._stored is None:
            self._check_free(spec["name"], ())
            rule = compile_rule(spec, "admin", len(self._overrides))
            rule.remaining = times
            self._overrides.insert(0, rule)
            self._rebuild_overrides()
            return rule

        def add(saved: SavedOverrides) -> SavedOverrides:
            taken = [entry[0]["name"] for entry in saved]
            while not named and spec["name"] in taken:  # another process took this serial
                self._override_serial += 1
                spec["name"] = f"override-{self._override_serial}"
            self._check_free(spec["name"], taken)
            return [[spec, times], *saved]

        self._adopt(self._stored.change(add))
        return next(rule for rule in self._overrides if rule.name == spec["name"])

    def _check_free(self, name: str, saved_names: Iterable[str]) -> None:
        if name in self._names or name in saved_names:
            raise ScenarioError([f"rule {name!r}: name {name!r} is already used by a loaded rule "
                                 f"or an active override"])

    def clear_overrides(self) -> int:
        if self._stored is not None:
            cleared: list[int] = []

            def clear(saved: SavedOverrides) -> SavedOverrides:
                cleared.append(len(saved))
                return []

            self._adopt(self._stored.change(clear))
            return cleared[0]
        count = len(self._overrides)
        self._overrides = []
        self._rebuild_overrides()
        return count

    @property
    def overrides(self) -> tuple[Rule, ...]:
        self._sync(exact=True)
        return tuple(self._overrides)

    def _rebuild_overrides(self) -> None:
        self._override_payments = RuleSet(self._overrides, for_operations=False)
        self._override_operations = RuleSet(self._overrides, for_operations=True)
        self._refresh_names()

    def _use(self, rule: Rule) -> bool:
        """Count one use of an override; False when another process used its last one meanwhile."""
        if rule.remaining is None:
            return True
        if self._stored is not None:
            used: list[bool] = []

            def use(saved: SavedOverrides) -> SavedOverrides | None:
                after = use_one(saved, rule.name)
                used.append(after is not None)
                return after

            self._adopt(self._stored.change(use))
            return used[0]
        rule.remaining -= 1
        if rule.remaining <= 0:
            self._overrides = [r for r in self._overrides if r is not rule]
            self._rebuild_overrides()
        return True

    def _select(self, operations: bool, attempt: Attempt) -> Rule | None:
        """The deciding rule, its use counted (an override used up elsewhere meanwhile: the next one)."""
        rules = self._operations if operations else self._payments
        while True:
            overrides = self._override_operations if operations else self._override_payments
            rule = select_rule(overrides, rules, attempt)
            if rule is None or self._use(rule):
                return rule

    # -- state

    def reset(self, client_id: str | None = None) -> None:
        """Forget sequence positions (of one merchant, or all) and, for a full reset, overrides."""
        self._sequences.forget(client_id)
        if client_id is None:
            self.clear_overrides()

    def forget_merchant(self, client_id: str, terminal_ids: Iterable[str]) -> int:
        """A removed merchant: forget its sequence positions and drop the overrides that can only
        match its terminals (`match.terminal` naming them); how many overrides were dropped."""
        self.reset(client_id)
        owned = frozenset(terminal_ids)
        if self._stored is not None:
            before = len(self._overrides)

            def drop(saved: SavedOverrides) -> SavedOverrides | None:
                kept = [entry for entry in saved if not only_terminals(entry[0], owned)]
                return kept if len(kept) != len(saved) else None

            self._adopt(self._stored.change(drop))
            return max(before - len(self._overrides), 0)
        kept = [rule for rule in self._overrides if not only_terminals(rule.spec, owned)]
        dropped = len(self._overrides) - len(kept)
        if dropped:
            self._overrides = kept
            self._rebuild_overrides()
        return dropped

    def _pick_outcome(self, rule: Rule, attempt: Attempt) -> Outcome:
        if len(rule.outcomes) == 1:
            outcome = rule.outcomes[0]
        else:
            step = self._sequences.take(sequence_key(rule, attempt))
            outcome = rule.outcomes[min(step, len(rule.outcomes) - 1)]
        if outcome.delay_ms and self.time_scale != 1.0:
            outcome = evolve(outcome, delay_ms=round(outcome.delay_ms * self.time_scale))
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
        if self._stored is not None:
            self._sync()
        self._check_header(attempt)
        rule = self._select(False, attempt)
        if rule is None:
            return sandbox_cards.decide(attempt) or APPROVED
        return self._pick_outcome(rule, attempt)

    def decide_operation(self, attempt: OperationAttempt) -> Outcome | None:
        """An outcome forced on a charge/cancel/refund, or None to let it proceed normally.

        An APPROVE outcome means "proceed normally" too, after its `delay_ms`.
        """
        if self._stored is not None:
            self._sync()
        self._check_header(attempt)
        rule = self._select(True, attempt)
        if rule is None:
            return None
        outcome = self._pick_outcome(rule, attempt)
        if outcome.kind is OutcomeKind.APPROVE and not outcome.delay_ms:
            return None
        return outcome

    # -- listing

    def describe(self) -> dict[str, Any]:
        self._sync(exact=True)
        return {
            "files": [str(p) for p in self.all_paths()],
            "rules": [r.describe() for r in self._rules],
            "overrides": [r.describe() for r in self._overrides],
            "last_error": self.last_error,
        }
