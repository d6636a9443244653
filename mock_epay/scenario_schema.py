"""Reading and validating scenario files: size limit, YAML, JSON schema, then semantic checks.

A scenario file is a YAML list of rules. This module turns a file (or an admin
request) into plain, checked rule mappings, or raises `ScenarioError` whose
message names the file, the rule's index and what is wrong. Nothing here
matches requests; `scenarios.py` compiles the checked mappings.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import fastjsonschema
import yaml

from mock_epay.codes import REASON_MESSAGES

MAX_FILE_BYTES = 1024 * 1024  # a scenario file larger than this is refused before parsing
MAX_YAML_NODES = 100_000  # after expanding anchors and aliases
SCENARIO_SUFFIXES = (".yaml", ".yml")

# Codes only charge / cancel / refund answer with (spec 2.1 and 7).
OPERATION_CODES: dict[int, str] = {100: "operation failed", 102: "transaction not found"}

PRESETS: dict[str, int] = {
    "insufficient_funds": 484,
    "expired_card": 478,
    "blocked_card": 465,
    "secure3d_failure": 473,
    "declined_by_issuer": 466,
    "call_your_bank": 462,
    "invalid_card_number": 472,
    "lost_card": 481,
    "stolen_card": 483,
    "restricted_card": 479,
    "wrong_expiry": 457,
    "not_permitted_to_cardholder": 486,
    "amount_limit_exceeded": 488,
    "frequency_limit_exceeded": 491,
    "issuer_timeout": 493,
    "issuer_unavailable": 494,
    "too_many_attempts": 505,
}

PAYMENT_RESULTS = ("approve", "decline", "duplicate", "secure3d", "server_error", "hang", "drop")
OPERATION_RESULTS = ("approve", "decline", "server_error")
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

_STRING_OPS = {
    "equals": {"type": "string"},
    "in": {"type": "array", "minItems": 1, "items": {"type": "string"}},
    "contains": {"type": "string", "minLength": 1},
    "regex": {"type": "string", "minLength": 1},
}


def _string_match(allow_integer: bool = False) -> dict[str, Any]:
    scalar = ["string", "integer"] if allow_integer else ["string"]
    return {
        "type": [*scalar, "array", "object"],
        "maxLength": 500,
        "minItems": 1,
        "maxItems": 1000,
        "items": {"type": scalar, "maxLength": 500},
        "minProperties": 1,
        "additionalProperties": False,
        "properties": _STRING_OPS,
    }


_NUMBER = {"type": "number", "minimum": 0}
_AMOUNT_MATCH = {
    "type": ["number", "array", "object"],
    "minimum": 0,
    "minItems": 1,
    "maxItems": 1000,
    "items": _NUMBER,
    "minProperties": 1,
    "additionalProperties": False,
    "properties": {"min": _NUMBER, "max": _NUMBER},
}
_MATCH = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        **{key: {"$ref": "#/definitions/stringMatch"} for key in MATCH_ATTRIBUTES},
        "amount": {"$ref": "#/definitions/amountMatch"},
        "cardNumber": {"$ref": "#/definitions/cardNumberMatch"},
        "operation": {
            "type": ["string", "array"],
            "pattern": "^(charge|cancel|refund)$",
            "minItems": 1,
            "items": {"enum": list(OPERATIONS)},
        },
        "source": {"enum": ["cards/auth", "payform"]},
    },
}
_CALLBACK = {
    "type": "object",
    "additionalProperties": False,
    "required": ["mode"],
    "properties": {
        "mode": {"enum": ["send", "delay", "skip", "twice"]},
        "delay_ms": {"type": "integer", "minimum": 0, "maximum": 86_400_000},
    },
}
_OUTCOME = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "result": {"enum": list(PAYMENT_RESULTS)},
        "preset": {"enum": list(PRESETS)},
        "reasonCode": {"type": "integer"},
        "message": {"type": "string", "maxLength": 500},
        "http_status": {"type": "integer"},
        "body": {"type": "string", "maxLength": 100_000},
        "delay_ms": {"type": "integer", "minimum": 0, "maximum": 600_000},
        "otp": {"type": "string", "pattern": "^[0-9]{4,8}$"},
        "record": {"enum": ["approve", "none"]},
        "callback": _CALLBACK,
    },
}
RULE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name", "description"],
    "properties": {
        "name": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9_.:-]{0,79}$"},
        "description": {"type": "string", "minLength": 1, "maxLength": 300, "pattern": "^[^\\n]*$"},
        "match": {"$ref": "#/definitions/match"},
        "header_only": {"type": "boolean"},
        "outcome": {"$ref": "#/definitions/outcome"},
        "outcomes": {"type": "array", "minItems": 1, "maxItems": 100,
                     "items": {"$ref": "#/definitions/outcome"}},
        "sequence_by": {"enum": ["invoice", "card", "transaction"]},
    },
    # Shared parts are referenced, not repeated: fastjsonschema then generates each
    # validator once, which keeps start-up time and idle memory small.
    "definitions": {
        "stringMatch": _string_match(),
        "cardNumberMatch": _string_match(allow_integer=True),
        "amountMatch": _AMOUNT_MATCH,
        "match": _MATCH,
        "outcome": _OUTCOME,
    },
}
_validate_rule = fastjsonschema.compile(RULE_SCHEMA)


class ScenarioError(Exception):
    """A scenario file or rule that cannot be used; the message says where and what."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = list(problems)


class _RuleProblem(Exception):
    pass


def _describe_schema_error(exc: fastjsonschema.JsonSchemaValueException) -> str:
    key = exc.name.removeprefix("data").lstrip(".")
    what = exc.message.removeprefix(exc.name).strip()
    if exc.rule == "additionalProperties":
        unknown = sorted(set(exc.value) - set(exc.definition.get("properties", {})))
        known = ", ".join(exc.definition.get("properties", {}))
        what = f"unknown key {', '.join(map(repr, unknown))} (known keys: {known})"
    elif exc.rule == "enum":
        what = f"{exc.value!r} is not one of {', '.join(map(str, exc.definition['enum']))}"
    elif exc.rule == "type":
        what = f"{what}, got {_shorten(exc.value)} ({_type_name(exc.value)})"
    elif exc.rule == "required":
        missing = [k for k in exc.rule_definition if not isinstance(exc.value, Mapping) or k not in exc.value]
        what = f"missing key {', '.join(map(repr, missing))}"
    elif exc.rule == "minItems":
        what = "must not be an empty list"
    elif exc.rule == "pattern" and key == "name":
        what = "must be 1-80 letters, digits or _.:- (it is used in the X-Mock-Scenario header)"
    elif exc.rule == "pattern" and key == "match.operation":
        what = f"{exc.value!r} is not one of {', '.join(OPERATIONS)}"
    return f"key {key!r}: {what}" if key else what


def _type_name(value: Any) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
             list: "a list", dict: "a mapping", type(None): "null"}
    return names.get(type(value), type(value).__name__)


def _shorten(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _where(source: str, index: int | None, rule: Any, line: int | None) -> str:
    parts = [source]
    if index is not None:
        label = f"rule index {index}"
        if isinstance(rule, Mapping) and isinstance(rule.get("name"), str):
            label += f" ({rule['name']!r})"
        if line is not None:
            label += f", line {line}"
        parts.append(label)
    return ": ".join(parts)


# -- semantic checks -------------------------------------------------------------------


def _check_regexes(match: Mapping[str, Any]) -> None:
    for key, value in match.items():
        if isinstance(value, Mapping) and "regex" in value:
            try:
                re.compile(value["regex"])
            except re.error as exc:
                raise _RuleProblem(f"key 'match.{key}.regex': bad regular expression "
                                   f"{value['regex']!r}: {exc}") from exc


def _check_match(rule: Mapping[str, Any], is_operation: bool) -> None:
    match = rule.get("match")
    if rule.get("header_only"):
        extra = sorted(set(match or {}) - {"operation"})
        if extra:
            raise _RuleProblem(f"a header_only rule is picked by name only; remove "
                               f"'match' keys {', '.join(extra)} (only 'operation' is allowed)")
        return
    if match is None:
        raise _RuleProblem("missing key 'match' (use 'match: {}' to match every request, "
                           "or 'header_only: true' for a rule picked only by X-Mock-Scenario)")
    forbidden = OPERATION_ONLY_KEYS if not is_operation else PAYMENT_ONLY_KEYS
    for key in match:
        if key in forbidden:
            kind = "operation rules (add 'operation')" if not is_operation else "payment rules"
            raise _RuleProblem(f"key 'match.{key}' is only for {kind}")
    amount = match.get("amount")
    if isinstance(amount, Mapping) and amount.get("min", 0) > amount.get("max", float("inf")):
        raise _RuleProblem(f"key 'match.amount': min {amount['min']} is more than max {amount['max']}")
    _check_regexes(match)


def _known_codes(is_operation: bool) -> dict[int, str]:
    return {**REASON_MESSAGES, **OPERATION_CODES} if is_operation else REASON_MESSAGES


def _check_outcome(outcome: Mapping[str, Any], key: str, is_operation: bool) -> None:
    if ("result" in outcome) == ("preset" in outcome):
        raise _RuleProblem(f"key {key!r}: give exactly one of 'result' or 'preset'")
    result = "decline" if "preset" in outcome else outcome["result"]
    allowed = OPERATION_RESULTS if is_operation else PAYMENT_RESULTS
    if result not in allowed:
        raise _RuleProblem(f"key '{key}.result': {result!r} is not possible for "
                           f"{'an operation' if is_operation else 'a payment'} "
                           f"(use one of {', '.join(allowed)})")
    only_for = {"reasonCode": ("decline",), "body": ("server_error",), "otp": ("secure3d",),
                "record": ("server_error", "hang", "drop"),
                "http_status": ("decline", "server_error")}
    for field, results in only_for.items():
        if field in outcome and result not in results:
            raise _RuleProblem(f"key '{key}.{field}' does not apply to result {result!r} "
                               f"(only to {', '.join(results)})")
    if "reasonCode" in outcome and "preset" in outcome:
        raise _RuleProblem(f"key '{key}.reasonCode': a preset already sets the code "
                           f"({PRESETS[outcome['preset']]}); drop one of them")
    if result == "decline" and "preset" not in outcome:
        if "reasonCode" not in outcome and not is_operation:
            raise _RuleProblem(f"key {key!r}: a decline needs a reasonCode from spec 9.1 "
                               f"(or a preset such as insufficient_funds)")
        code = outcome.get("reasonCode")
        if code is not None and code not in _known_codes(is_operation):
            raise _RuleProblem(f"key '{key}.reasonCode': {code} is not a reason code of spec 9.1 "
                               f"(see mock_epay/codes.py)")
    status = outcome.get("http_status")
    if status is not None:
        if result == "decline" and not 400 <= status <= 499:
            raise _RuleProblem(f"key '{key}.http_status': a decline answers with a 4xx status, "
                               f"got {status}")
        if result == "server_error" and status not in SERVER_ERROR_STATUSES:
            raise _RuleProblem(f"key '{key}.http_status': a server_error is one of "
                               f"{', '.join(map(str, SERVER_ERROR_STATUSES))}, got {status}")
    callback = outcome.get("callback")
    if callback is not None:
        if callback["mode"] == "delay" and not callback.get("delay_ms"):
            raise _RuleProblem(f"key '{key}.callback.delay_ms': mode 'delay' needs delay_ms > 0")
        if callback["mode"] != "delay" and "delay_ms" in callback:
            raise _RuleProblem(f"key '{key}.callback.delay_ms' only applies to mode 'delay'")


def check_rule(rule: Any) -> None:
    """Validate one rule mapping (schema, then meaning); raises `_RuleProblem`."""
    try:
        _validate_rule(rule)
    except fastjsonschema.JsonSchemaValueException as exc:
        raise _RuleProblem(_describe_schema_error(exc)) from exc
    is_operation = is_operation_rule(rule)
    _check_match(rule, is_operation)
    if ("outcome" in rule) == ("outcomes" in rule):
        raise _RuleProblem("give exactly one of 'outcome' (one answer) or 'outcomes' "
                           "(a sequence used one after another)")
    if "sequence_by" in rule and "outcomes" not in rule:
        raise _RuleProblem("key 'sequence_by' only applies to a sequence ('outcomes')")
    if rule.get("sequence_by") == "transaction" and not is_operation:
        raise _RuleProblem("key 'sequence_by': 'transaction' is only for operation rules")
    if "outcome" in rule:
        _check_outcome(rule["outcome"], "outcome", is_operation)
    else:
        for position, outcome in enumerate(rule["outcomes"]):
            _check_outcome(outcome, f"outcomes[{position}]", is_operation)


def is_operation_rule(rule: Mapping[str, Any]) -> bool:
    return "operation" in (rule.get("match") or {})


def validate_rules(data: Any, source: str, lines: Sequence[int | None] = ()) -> list[dict[str, Any]]:
    """Check a parsed file (a list of rules); every problem is reported, nothing half-loads."""
    if data is None:
        raise ScenarioError([f"{source}: the file is empty; a scenario file is a list of rules"])
    if not isinstance(data, list):
        raise ScenarioError([f"{source}: a scenario file is a list of rules (lines starting with "
                             f"'- name: ...'), got {_type_name(data)}"])
    if not data:
        raise ScenarioError([f"{source}: the file has no rules"])
    problems: list[str] = []
    names: dict[str, str] = {}
    for index, rule in enumerate(data):
        line = lines[index] if index < len(lines) else None
        where = _where(source, index, rule, line)
        try:
            check_rule(rule)
        except _RuleProblem as exc:
            problems.append(f"{where}: {exc}")
            continue
        if rule["name"] in names:
            problems.append(f"{where}: name {rule['name']!r} is already used by {names[rule['name']]}")
        names[rule["name"]] = f"{source} rule index {index}"
    if problems:
        raise ScenarioError(problems)
    return data


# -- reading files ---------------------------------------------------------------------


def _expanded_size(node: yaml.Node, seen: dict[int, int], active: set[int]) -> int:
    key = id(node)
    if key in seen:
        return seen[key]
    if key in active:
        raise ValueError("a recursive anchor/alias")
    active.add(key)
    size = 1
    if isinstance(node, yaml.SequenceNode):
        size += sum(_expanded_size(child, seen, active) for child in node.value)
    elif isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            size += _expanded_size(k, seen, active) + _expanded_size(v, seen, active)
    active.discard(key)
    seen[key] = size
    if size > MAX_YAML_NODES:
        raise ValueError(f"more than {MAX_YAML_NODES} values once anchors and aliases are expanded")
    return size


_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def parse_text(text: str, source: str) -> tuple[Any, list[int | None]]:
    """YAML text to data plus the line of each top-level item (for error messages)."""
    loader = _Loader(text)
    try:
        root = loader.get_single_node()
        if root is not None:
            _expanded_size(root, {}, set())
        data = loader.construct_document(root) if root is not None else None
    except yaml.YAMLError as exc:
        detail = " ".join(str(exc).replace('in "<unicode string>", ', "at ").split())
        raise ScenarioError([f"{source}: not valid YAML: {detail}"]) from exc
    except (ValueError, RecursionError) as exc:
        raise ScenarioError([f"{source}: refused: {exc}"]) from exc
    finally:
        loader.dispose()
    lines: list[int | None] = []
    if isinstance(root, yaml.SequenceNode):
        lines = [item.start_mark.line + 1 for item in root.value]
    return data, lines


_cache: dict[tuple[str, int, int], tuple[list[dict[str, Any]], list[int | None]]] = {}
_CACHE_LIMIT = 64


def _read_checked(path: Path) -> tuple[list[dict[str, Any]], list[int | None]]:
    """One file's checked rules and their lines; cached by (path, mtime, size)."""
    source = str(path)
    try:
        stat = path.stat()
        key = (source, stat.st_mtime_ns, stat.st_size)
        if key in _cache:
            return _cache[key]
        if stat.st_size > MAX_FILE_BYTES:
            raise ScenarioError([f"{source}: {stat.st_size} bytes is more than the {MAX_FILE_BYTES}-byte "
                                 f"limit for a scenario file; split it into several files"])
        raw = path.read_bytes()
    except OSError as exc:
        raise ScenarioError([f"{source}: cannot read the file: {exc.strerror}"]) from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ScenarioError([f"{source}: not UTF-8 text (byte {exc.start})"]) from exc
    if not text.strip():
        raise ScenarioError([f"{source}: the file is empty; a scenario file is a list of rules"])
    data, lines = parse_text(text, source)
    rules = validate_rules(data, source, lines)
    if len(_cache) >= _CACHE_LIMIT:
        _cache.clear()
    _cache[key] = (rules, lines)
    return rules, lines


def read_rules_file(path: Path) -> list[dict[str, Any]]:
    """Read, parse and validate one scenario file (the rules are shared: do not modify them)."""
    return _read_checked(path)[0]


def expand_paths(paths: Iterable[Path]) -> list[Path]:
    """Files as given, directories as their *.yaml / *.yml files in name order."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(p for p in path.iterdir()
                                if p.suffix in SCENARIO_SUFFIXES and p.is_file()))
        else:
            files.append(path)
    return files


def read_rule_files(paths: Iterable[Path]) -> list[tuple[Path, list[dict[str, Any]]]]:
    """Every file's rules, checked together (names unique across files); all problems at once."""
    problems: list[str] = []
    loaded: list[tuple[Path, list[dict[str, Any]]]] = []
    taken: dict[str, str] = {}
    for path in expand_paths(paths):
        try:
            rules, lines = _read_checked(path)
        except ScenarioError as exc:
            problems.extend(exc.problems)
            continue
        for index, rule in enumerate(rules):
            if rule["name"] in taken:
                where = _where(str(path), index, rule, lines[index] if index < len(lines) else None)
                problems.append(f"{where}: name {rule['name']!r} is already used by {taken[rule['name']]}")
            taken[rule["name"]] = f"{path} rule index {index}"
        loaded.append((path, rules))
    if problems:
        raise ScenarioError(problems)
    return loaded
