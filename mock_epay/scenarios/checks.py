"""What a scenario rule means, checked after its shape: every problem found, and warnings.

`scenario_schema` checks a rule's shape (JSON schema) and hands each part that has the
right shape here. Each check yields `(key path, message)` pairs, so a rule with three
mistakes gets three messages, each placed on the line of its key. `rule_warnings` finds
rules that are valid but cannot do what they say (a sequence step no attempt can reach).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from mock_epay.gateway.codes import OPERATION_CODES, PRESETS, REASON_MESSAGES
from mock_epay.gateway.outcomes import operation_kinds, payment_kinds, unrecorded_kinds

KeyPath = tuple[str | int, ...]
Problem = tuple[KeyPath, str]

PAYMENT_RESULTS = payment_kinds()  # from the outcome table (gateway/outcomes.py)
OPERATION_RESULTS = operation_kinds()
SERVER_ERROR_STATUSES = (500, 502, 503)
OPERATIONS = ("charge", "cancel", "refund")

# Match keys and the attempt attribute each reads; which kind of rule may use them.
PAYMENT_ONLY_KEYS = {
    "invoiceIdAlt": "invoice_id_alt",
    "description": "description",
    "email": "email",
    "phone": "phone",
    "name": "name",
    "language": "language",
    "source": "source",
    "cardExpiry": "card_expiry",
    "cardCvc": "card_cvc",
}
OPERATION_ONLY_KEYS = {"operation": "operation", "transactionId": "transaction_id"}
SHARED_KEYS = {
    "amount": "amount",
    "invoiceId": "invoice_id",
    "cardNumber": "card_pan",
    "cardId": "card_id",
    "accountId": "account_id",
    "terminal": "terminal_id",
    "currency": "currency",
}
MATCH_ATTRIBUTES = {**SHARED_KEYS, **PAYMENT_ONLY_KEYS, **OPERATION_ONLY_KEYS}
_ONLY_FOR = {"reasonCode": ("decline",), "body": ("server_error",), "otp": ("secure3d",),
             "record": unrecorded_kinds(), "http_status": ("decline", "server_error")}


def is_operation_rule(rule: Mapping[str, Any]) -> bool:
    return "operation" in (rule.get("match") or {})


def _code_ranges(codes: list[int]) -> str:
    """[454, 455, 456, 460] -> '454-456, 460'."""
    ranges: list[list[int]] = []
    for code in sorted(codes):
        if ranges and code == ranges[-1][1] + 1:
            ranges[-1][1] = code
        else:
            ranges.append([code, code])
    return ", ".join(f"{a}-{b}" if a != b else str(a) for a, b in ranges)


def known_codes(is_operation: bool) -> dict[int, str]:
    return {**REASON_MESSAGES, **OPERATION_CODES} if is_operation else REASON_MESSAGES


def match_problems(rule: Mapping[str, Any], is_operation: bool) -> Iterator[Problem]:
    """A shape-checked rule's `match` (or `header_only`): keys that do not fit the rule's kind."""
    match = rule.get("match")
    if rule.get("header_only"):
        extra = sorted(set(match or {}) - {"operation"})
        if extra:
            yield ("match",), (f"a header_only rule is picked by name only; remove 'match' keys "
                               f"{', '.join(extra)} (only 'operation' is allowed)")
        return
    if match is None:
        yield (), ("missing key 'match' (use 'match: {}' to match every request, "
                   "or 'header_only: true' for a rule picked only by X-Mock-Scenario)")
        return
    forbidden = OPERATION_ONLY_KEYS if not is_operation else PAYMENT_ONLY_KEYS
    kind = "operation rules (add 'operation')" if not is_operation else "payment rules"
    for key in match:
        if key in forbidden:
            yield ("match", key), f"key 'match.{key}' is only for {kind}"
    amount = match.get("amount")
    if isinstance(amount, Mapping) and amount.get("min", 0) > amount.get("max", float("inf")):
        yield ("match", "amount"), f"key 'match.amount': min {amount['min']} is more than max {amount['max']}"
    for key, value in match.items():
        if isinstance(value, Mapping) and "regex" in value:
            try:
                re.compile(value["regex"])
            except re.error as exc:
                yield ((("match", key, "regex"),
                        f"key 'match.{key}.regex': bad regular expression {value['regex']!r}: {exc}"))


def outcome_problems(outcome: Mapping[str, Any], path: KeyPath, is_operation: bool) -> Iterator[Problem]:
    """One shape-checked outcome: result, code, status and callback that fit together."""
    key = key_name(path)
    if ("result" in outcome) == ("preset" in outcome):
        yield path, f"key {key!r}: give exactly one of 'result' or 'preset'"
        return
    result = "decline" if "preset" in outcome else outcome["result"]
    allowed = OPERATION_RESULTS if is_operation else PAYMENT_RESULTS
    if result not in allowed:
        yield (*path, "result"), (f"key '{key}.result': {result!r} is not possible for "
                                  f"{'an operation' if is_operation else 'a payment'} "
                                  f"(use one of {', '.join(allowed)})")
    for field, results in _ONLY_FOR.items():
        if field in outcome and result not in results:
            yield (*path, field), (f"key '{key}.{field}' does not apply to result {result!r} "
                                   f"(only to {', '.join(results)})")
    if "reasonCode" in outcome and "preset" in outcome:
        yield (*path, "reasonCode"), (f"key '{key}.reasonCode': a preset already sets the code "
                                      f"({PRESETS[outcome['preset']]}); drop one of them")
    yield from _decline_problems(outcome, path, result, is_operation)
    yield from _status_problems(outcome, path, result)
    yield from _callback_problems(outcome, path)


def _decline_problems(outcome: Mapping[str, Any], path: KeyPath, result: str,
                      is_operation: bool) -> Iterator[Problem]:
    key = key_name(path)
    if result != "decline" or "preset" in outcome:
        return
    if "reasonCode" not in outcome and not is_operation:
        yield path, (f"key {key!r}: a decline needs a reasonCode from spec 9.1 "
                     f"(or a preset such as insufficient_funds)")
    code = outcome.get("reasonCode")
    codes = known_codes(is_operation)
    if code is not None and code not in codes:
        yield (*path, "reasonCode"), (f"key '{key}.reasonCode': {code} is not a reason code of spec 9.1 "
                                      f"(known: {_code_ranges(list(codes))})")


def _status_problems(outcome: Mapping[str, Any], path: KeyPath, result: str) -> Iterator[Problem]:
    key, status = key_name(path), outcome.get("http_status")
    if status is None:
        return
    if result == "decline" and not 400 <= status <= 499:
        yield (*path, "http_status"), (f"key '{key}.http_status': a decline answers with a 4xx status, "
                                       f"got {status}")
    if result == "server_error" and status not in SERVER_ERROR_STATUSES:
        yield (*path, "http_status"), (f"key '{key}.http_status': a server_error is one of "
                                       f"{', '.join(map(str, SERVER_ERROR_STATUSES))}, got {status}")


def _callback_problems(outcome: Mapping[str, Any], path: KeyPath) -> Iterator[Problem]:
    key, callback = key_name(path), outcome.get("callback")
    if callback is None:
        return
    if callback["mode"] == "delay" and not callback.get("delay_ms"):
        yield (*path, "callback"), f"key '{key}.callback.delay_ms': mode 'delay' needs delay_ms > 0"
    if callback["mode"] != "delay" and "delay_ms" in callback:
        yield (*path, "callback", "delay_ms"), f"key '{key}.callback.delay_ms' only applies to mode 'delay'"


def rule_problems(rule: Mapping[str, Any], valid_parts: set[str]) -> Iterator[Problem]:
    """Every meaning problem of a rule whose parts named in `valid_parts` have the right shape."""
    is_operation = is_operation_rule(rule) if "match" in valid_parts or "match" not in rule else False
    if "match" in valid_parts or "match" not in rule:
        yield from match_problems(rule, is_operation)
    if ("outcome" in rule) == ("outcomes" in rule):
        yield (), ("give exactly one of 'outcome' (one answer) or 'outcomes' "
                   "(a sequence used one after another)")
    if "sequence_by" in rule and "outcomes" not in rule:
        yield ("sequence_by",), "key 'sequence_by' only applies to a sequence ('outcomes')"
    if rule.get("sequence_by") == "transaction" and not is_operation:
        yield ("sequence_by",), "key 'sequence_by': 'transaction' is only for operation rules"
    if "outcome" in rule and "outcome" in valid_parts:
        yield from outcome_problems(rule["outcome"], ("outcome",), is_operation)
    for position, outcome in enumerate(rule.get("outcomes") or ()):
        if f"outcomes[{position}]" in valid_parts:
            yield from outcome_problems(outcome, ("outcomes", position), is_operation)


def _pays(outcome: Mapping[str, Any]) -> bool:
    """True when this payment outcome leaves the invoice paid (a later attempt is a duplicate)."""
    return outcome.get("result") == "approve" or outcome.get("record") == "approve"


def rule_warnings(rule: Mapping[str, Any]) -> Iterator[Problem]:
    """Valid but useless parts of a checked rule: sequence steps that can never be reached.

    A payment sequence walks per invoice (the default `sequence_by`). Once a step approves,
    the invoice is paid, and every later attempt on it is refused as a duplicate before any
    rule is asked: the steps after it are never used.
    """
    outcomes = rule.get("outcomes") or ()
    if is_operation_rule(rule) or rule.get("sequence_by", "invoice") != "invoice":
        return
    for position, outcome in enumerate(outcomes[:-1]):
        if _pays(outcome):
            unreachable = ", ".join(f"outcomes[{i}]" for i in range(position + 1, len(outcomes)))
            yield ("outcomes", position + 1), (
                f"{unreachable} can never be used: outcomes[{position}] approves the invoice, "
                f"and a paid invoice's next attempt is refused as a duplicate before any rule is "
                f"asked (put the approve last, or use sequence_by: card)")
            return


def key_name(path: KeyPath) -> str:
    """('outcomes', 1, 'result') -> 'outcomes[1].result'."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text
