"""The report of a contract run: a table for people on stdout and a JSON document for machines.

Both show only shapes and enumerations, never ids or tokens; anything from a gateway's answer
that is shown (error reasons, sample bodies) goes through the card-number mask first.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from mock_epay.contract.client import Exchange, RunAborted
from mock_epay.contract.compare import Comparison, Drift
from mock_epay.contract.shape import describe
from mock_epay.contract.targets import Gateway
from mock_epay.web.journal import mask_card_numbers

EXIT_MATCH, EXIT_DRIFT, EXIT_ERROR = 0, 1, 2
SECRET_KEYS = frozenset({"access_token", "refresh_token", "client_secret"})
_CELL = 48  # widest table cell; longer descriptors are cut with "..."
_SAMPLE = 2000  # characters of a non-JSON body kept in the JSON report


@dataclass
class RunResult:
    """Everything one `mock-epay contract` run produced."""

    left: Gateway
    right: Gateway
    comparison: Comparison | None = None
    errors: list[RunAborted] = field(default_factory=list)
    exchanges: dict[str, list[Exchange]] = field(default_factory=dict)
    requests: dict[str, int] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        if self.errors or self.comparison is None:
            return EXIT_ERROR
        return EXIT_DRIFT if self.comparison.drift else EXIT_MATCH

    @property
    def outcome(self) -> str:
        return {EXIT_MATCH: "no drift", EXIT_DRIFT: "drift", EXIT_ERROR: "could not run"}[self.exit_code]


def mask(text: str) -> str:
    return mask_card_numbers(text)


def render_table(result: RunResult) -> str:
    """The human report: which gateways, then one row per drifting field, then the verdict."""
    lines = [
        f"mock-epay contract: left  {result.left.api_base}  (token {result.left.token_url})",
        f"                    right {result.right.api_base}  (token {result.right.token_url})",
    ]
    if result.errors:
        lines.append("")
        lines.extend(f"ERROR: {mask(str(error))}" for error in result.errors)
        lines.append(f"exit {EXIT_ERROR}: the flows could not run, nothing was compared")
        return "\n".join(lines) + "\n"
    comparison = result.comparison
    assert comparison is not None
    sent = ", ".join(f"{side} {count}" for side, count in result.requests.items())
    lines.append(f"{comparison.compared} steps compared; requests sent: {sent}")
    lines.append("")
    if comparison.drift:
        lines.extend(_table(("FLOW", "FIELD", "LEFT", "RIGHT"), grouped_rows(comparison.drift)))
        lines.append("")
    for flow, left_why, right_why in comparison.not_run:
        lines.append(f"not run on either side: {flow} (left: {mask(left_why)}; right: {mask(right_why)})")
    if comparison.allowed:
        lines.append(f"{len(comparison.allowed)} known difference(s) allowed:")
        for drift, rule in comparison.allowed:
            lines.append(f"  {drift.flow} {drift.field}: {drift.left} / {drift.right}  ({rule.reason})")
    flows = len({d.flow for d in comparison.drift})
    if comparison.drift:
        kinds = len(grouped_rows(comparison.drift))
        lines.append(f"DRIFT: {kinds} difference(s), {len(comparison.drift)} field(s) in {flows} flow(s) "
                     f"(exit {EXIT_DRIFT})")
    else:
        lines.append(f"no drift (exit {EXIT_MATCH})")
    return "\n".join(lines) + "\n"


def grouped_rows(drift: Sequence[Drift]) -> list[tuple[str, str, str, str]]:
    """One row per (field, left, right): the same difference in 8 token flows is one line, not 8."""
    flows_of: dict[tuple[str, str, str], list[str]] = {}
    for item in drift:
        flows_of.setdefault((item.field, item.left, item.right), []).append(item.flow)
    rows = []
    for (name, left, right), flows in flows_of.items():
        more = f" (and {len(flows) - 1} more)" if len(flows) > 1 else ""
        rows.append((flows[0] + more, name, left, right))
    return rows


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    cells = [[_cut(mask(c)) for c in row] for row in [header, *rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    out = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    out.insert(1, "  ".join("-" * w for w in widths))
    return out


def _cut(text: str) -> str:
    return text if len(text) <= _CELL else text[: _CELL - 3] + "..."


def json_report(result: RunResult) -> dict[str, Any]:
    """The machine report: verdict, drift, allowed differences, errors and every step's shape."""
    comparison = result.comparison
    return {
        "outcome": result.outcome,
        "exit_code": result.exit_code,
        "left": _gateway_json(result.left),
        "right": _gateway_json(result.right),
        "requests": result.requests,
        "errors": [
            {"gateway": e.gateway, "step": e.step, "why": mask(e.why), "unreachable": type(e).__name__
             == "Unreachable"} for e in result.errors
        ],
        "drift": [_drift_json(d) for d in comparison.drift] if comparison else [],
        "allowed": [{**_drift_json(d), "reason": r.reason, "rule_source": r.source}
                    for d, r in comparison.allowed] if comparison else [],
        "not_run": [{"flow": f, "left": mask(lw), "right": mask(rw)}
                    for f, lw, rw in comparison.not_run] if comparison else [],
        "steps": {side: [_exchange_json(ex) for ex in exchanges]
                  for side, exchanges in result.exchanges.items()},
    }


def dumps(report: dict[str, Any]) -> str:
    return json.dumps(report, ensure_ascii=False, indent=2) + "\n"


def _drift_json(drift: Drift) -> dict[str, str]:
    return {key: mask(value) for key, value in vars(drift).items()}


def _gateway_json(gateway: Gateway) -> dict[str, str]:
    return {"api": gateway.api_base, "token_url": gateway.token_url, "widget": gateway.widget_url}


def _exchange_json(exchange: Exchange) -> dict[str, Any]:
    if exchange.skipped:
        return {"flow": exchange.flow, "skipped": mask(exchange.skipped)}
    body: Any = redact(exchange.json) if exchange.body_kind == "json" else exchange.text[:_SAMPLE]
    return {
        "flow": exchange.flow,
        "request": f"{exchange.method} {exchange.url}",
        "status": exchange.status,
        "shape": describe(exchange),
        "body": json.loads(mask(json.dumps(body, ensure_ascii=False))),
    }


def redact(value: Any) -> Any:
    """A copy of a JSON value with tokens and secrets replaced by `"(redacted)"`."""
    if isinstance(value, dict):
        return {k: "(redacted)" if k in SECRET_KEYS and v else redact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value
