"""Field-by-field comparison of two runs, and the allow-list of known, documented differences.

`compare(left, right)` pairs the exchanges by flow name and reports every field whose
descriptor differs (`absent` when one side lacks it). `AllowList` holds rules from the shipped
`known_differences.yaml` and the user's `--allow FILE`s; `split` moves the drifts a rule
explains out of the way, so the report shows only new drift.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from mock_epay.contract.client import Exchange
from mock_epay.contract.shape import ABSENT, STEP, describe

SHIPPED_ALLOW = "known_differences.yaml"
_RULE_KEYS = {"flow", "field", "left", "right", "reason"}


@dataclass(frozen=True)
class Drift:
    """One field of one flow that differs between the two gateways."""

    flow: str
    field: str
    left: str
    right: str


@dataclass(frozen=True)
class AllowRule:
    """A known difference: glob patterns on flow, field and (optionally) each side's descriptor."""

    flow: str
    field: str
    reason: str
    left: str = "*"
    right: str = "*"
    source: str = ""

    def matches(self, drift: Drift) -> bool:
        return all(fnmatch.fnmatchcase(value, _glob(pattern)) for value, pattern in (
            (drift.flow, self.flow), (drift.field, self.field),
            (drift.left, self.left), (drift.right, self.right),
        ))


def _glob(pattern: str) -> str:
    """Field names contain `[]` (`$[].ID`); in a pattern it means those two characters, not a set."""
    return pattern.replace("[]", "[[][]]")


class AllowFileError(Exception):
    """An allow-list file that cannot be used; the message names the file, the entry and the problem."""


@dataclass
class Comparison:
    """The outcome of comparing two runs."""

    drift: list[Drift] = field(default_factory=list)
    allowed: list[tuple[Drift, AllowRule]] = field(default_factory=list)
    not_run: list[tuple[str, str, str]] = field(default_factory=list)  # flow, left reason, right reason
    compared: int = 0


def compare(left: Sequence[Exchange], right: Sequence[Exchange]) -> Comparison:
    """Every field that differs, in flow order; steps skipped on both sides are listed, not compared."""
    result = Comparison()
    right_by_flow = {ex.flow: ex for ex in right}
    left_by_flow = {ex.flow: ex for ex in left}
    flows = list(dict.fromkeys([*left_by_flow, *right_by_flow]))
    for flow in flows:
        one, other = left_by_flow.get(flow), right_by_flow.get(flow)
        if one is not None and other is not None and one.skipped and other.skipped:
            result.not_run.append((flow, one.skipped, other.skipped))
            continue
        result.compared += 1
        result.drift.extend(_compare_step(flow, one, other))
    return result


def _compare_step(flow: str, left: Exchange | None, right: Exchange | None) -> list[Drift]:
    left_shape = _shape_or_missing(left)
    right_shape = _shape_or_missing(right)
    if STEP in left_shape or STEP in right_shape:
        return [Drift(flow, STEP, _step_text(left, left_shape), _step_text(right, right_shape))]
    fields = dict.fromkeys([*left_shape, *right_shape])
    return [
        Drift(flow, name, left_shape.get(name, ABSENT), right_shape.get(name, ABSENT))
        for name in fields
        if left_shape.get(name, ABSENT) != right_shape.get(name, ABSENT)
    ]


def _shape_or_missing(exchange: Exchange | None) -> dict[str, str]:
    return describe(exchange) if exchange is not None else {STEP: "not run"}


def _step_text(exchange: Exchange | None, shape: dict[str, str]) -> str:
    if exchange is None:
        return "not run"
    if exchange.skipped:
        return f"not run: {exchange.skipped}"
    return f"ran, HTTP {shape.get('HTTP status')}"


class AllowList:
    """Known differences; the shipped file first, then the user's files in the order given."""

    def __init__(self, rules: Iterable[AllowRule] = ()) -> None:
        self.rules = list(rules)

    @classmethod
    def load(cls, paths: Iterable[Path], *, shipped: bool = True) -> AllowList:
        rules: list[AllowRule] = []
        if shipped:
            text = resources.files("mock_epay.contract").joinpath(SHIPPED_ALLOW).read_text("utf-8")
            rules.extend(parse_rules(text, f"(shipped) {SHIPPED_ALLOW}"))
        for path in paths:
            try:
                text = path.read_text(encoding="utf-8")
            except OSError as exc:
                raise AllowFileError(f"{path}: cannot read the allow-list: {exc.strerror}") from exc
            rules.extend(parse_rules(text, str(path)))
        return cls(rules)

    def split(self, comparison: Comparison) -> Comparison:
        """A copy of `comparison` with the drifts a rule explains moved to `allowed`."""
        drift: list[Drift] = []
        allowed: list[tuple[Drift, AllowRule]] = []
        for item in comparison.drift:
            rule = next((r for r in self.rules if r.matches(item)), None)
            if rule is None:
                drift.append(item)
            else:
                allowed.append((item, rule))
        return Comparison(drift=drift, allowed=allowed, not_run=comparison.not_run,
                          compared=comparison.compared)


def parse_rules(text: str, source: str) -> list[AllowRule]:
    """Rules from YAML text: a list of `{flow, field, reason, left?, right?}` mappings."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise AllowFileError(f"{source}: not valid YAML: {exc}") from exc
    if data is None:
        return []
    if not isinstance(data, list):
        raise AllowFileError(f"{source}: expected a list of entries, got {type(data).__name__}")
    return [_rule(entry, index, source) for index, entry in enumerate(data)]


def _rule(entry: Any, index: int, source: str) -> AllowRule:
    where = f"{source}: entry {index}"
    if not isinstance(entry, dict):
        raise AllowFileError(f"{where}: expected a mapping with flow, field and reason")
    unknown = sorted(set(map(str, entry)) - _RULE_KEYS)
    if unknown:
        raise AllowFileError(f"{where}: unknown key(s) {', '.join(unknown)}; allowed: "
                             f"{', '.join(sorted(_RULE_KEYS))}")
    for key in ("flow", "field", "reason"):
        if not isinstance(entry.get(key), str) or not entry[key].strip():
            raise AllowFileError(f"{where}: {key!r} is required and must be a non-empty string")
    for key in ("left", "right"):
        if key in entry and not isinstance(entry[key], str):
            raise AllowFileError(f"{where}: {key!r} must be a string (a glob pattern)")
    return AllowRule(flow=entry["flow"], field=entry["field"], reason=entry["reason"].strip(),
                     left=entry.get("left", "*"), right=entry.get("right", "*"), source=source)
