"""The Markdown table of shipped scenario rules (file, rule, trigger, outcome, description).

`python -m mock_epay.scenarios.table` prints it; docs/scenarios.md embeds the output and a
test checks they agree, so the docs never drift from the YAML.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from mock_epay.scenarios.engine import compile_outcome, shipped_paths
from mock_epay.scenarios.schema import read_rules_file

TABLE_START = "<!-- scenarios-table:start -->"
TABLE_END = "<!-- scenarios-table:end -->"


def _value(spec: Any) -> str:
    if isinstance(spec, list):
        return " or ".join(_value(item) for item in spec)
    if isinstance(spec, Mapping):
        parts = []
        if "min" in spec or "max" in spec:
            parts.append(f"{spec.get('min', 0)}..{spec.get('max', '∞')}")
        for op in ("equals", "contains", "regex"):
            if op in spec:
                parts.append(f"{op} `{spec[op]}`")
        if "in" in spec:
            parts.append("one of " + ", ".join(spec["in"]))
        return " and ".join(parts)
    return str(spec)


def describe_trigger(rule: Mapping[str, Any]) -> str:
    header = f"header `X-Mock-Scenario: {rule['name']}`"
    match = dict(rule.get("match") or {})
    if rule.get("header_only"):
        return header + " only"
    operation = match.pop("operation", None)
    parts = []
    if "amount" in match:
        amount = _value(match.pop("amount"))
        parts.append(f"{_value(operation)} of {amount}" if operation else f"amount {amount}")
    elif operation:
        parts.append(f"any {_value(operation)}")
    parts.extend(f"{key} {_value(value)}" for key, value in match.items())
    return (", ".join(parts) or "every request") + "; or " + header


def describe_outcome(spec: Mapping[str, Any], for_operations: bool) -> str:
    outcome = compile_outcome(spec, "", for_operations)
    result = "decline" if "preset" in spec else spec["result"]
    if result == "decline":
        text = f"{outcome.http_status} `{{\"code\": {outcome.reason_code}}}` {outcome.message}"
    elif result == "server_error":
        body = "empty body" if outcome.body == "" else ("bank error JSON" if outcome.body is None
                                                         else "HTML body")
        text = f"{outcome.http_status}, {body}"
    elif result == "duplicate":
        text = f"400 `{{\"code\": -1}}` {outcome.message}"
    elif result == "approve":
        text = "approve" if not for_operations else "succeeds"
    elif result == "hang":
        text = "no answer until the client gives up"
    elif result == "drop":
        text = "connection closed, no answer"
    else:
        text = result
    if outcome.delay_ms:
        text += f" after {outcome.delay_ms} ms"
    if outcome.records_approval:
        text += " (yet the payment is approved and its callback sent)"
    callback = spec.get("callback")
    if callback:
        text += {"twice": "; callback sent twice", "skip": "; no callback",
                 "send": "; callback sent"}.get(callback["mode"],
                                               f"; callback delayed {callback.get('delay_ms', 0)} ms")
    return text


def _row(path: Path, rule: Mapping[str, Any]) -> str:
    for_operations = "operation" in (rule.get("match") or {})
    if "outcomes" in rule:
        steps = " → ".join(describe_outcome(o, for_operations) for o in rule["outcomes"])
        outcome = f"{steps} (per {rule.get('sequence_by', 'invoice')}; the last repeats)"
    else:
        outcome = describe_outcome(rule["outcome"], for_operations)
    cells = [path.name, f"`{rule['name']}`", describe_trigger(rule), outcome, rule["description"]]
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"


def markdown_table(paths: Iterable[Path] | None = None) -> str:
    """The table for `paths` (default: the shipped library)."""
    lines = ["| File | Rule | Trigger | Outcome | What it is for |", "|---|---|---|---|---|"]
    for path in (shipped_paths() if paths is None else paths):
        lines.extend(_row(path, rule) for rule in read_rules_file(path))
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown_table(), end="")
