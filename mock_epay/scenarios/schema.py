"""Reading and validating scenario files: size limit, YAML, JSON schema, then semantic checks.

A scenario file is a YAML list of rules. This module turns a file (or an admin
request) into plain, checked rule mappings, or raises `ScenarioError` whose
message names the file, the rule's index and what is wrong. Nothing here
matches requests; `scenarios.py` compiles the checked mappings.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import fastjsonschema
import yaml

from mock_epay.core.resources import data_dir
from mock_epay.scenarios.checks import (
    MATCH_ATTRIBUTES,
    OPERATION_CODES,
    OPERATIONS,
    PAYMENT_RESULTS,
    PRESETS,
    KeyPath,
    Problem,
    is_operation_rule,
    key_name,
    rule_problems,
    rule_warnings,
)

__all__ = ["MATCH_ATTRIBUTES", "OPERATION_CODES", "PRESETS", "ScenarioError", "check_rule",
           "is_operation_rule", "read_rule_files", "read_rules_file", "validate_rules"]

MAX_FILE_BYTES = 1024 * 1024  # a scenario file larger than this is refused before parsing
MAX_YAML_NODES = 100_000  # after expanding anchors and aliases
SCENARIO_SUFFIXES = (".yaml", ".yml")

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
        "source": {"enum": ["cards/auth", "payform", "invoice-link", "qr", "cryptopay", "recurring",
                            "p2p", "aft", "oct"]},
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


def schema_digest() -> str:
    """SHA-256 of RULE_SCHEMA: `mock_epay/scenarios/rule_validator.py` was generated from this schema."""
    text = json.dumps(RULE_SCHEMA, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def validator_source() -> str:
    """The source of `rule_validator.py`: fastjsonschema's generated validator for RULE_SCHEMA."""
    code = fastjsonschema.compile_to_code(RULE_SCHEMA)
    header = (
        '"""Generated: fastjsonschema\'s validator for `scenarios.schema.RULE_SCHEMA`'
        ' (scripts/rule_validator.py).\n\n'
        "Shipped pre-generated because compiling it at start-up costs more than the rest of loading\n"
        'the scenario library; `SCHEMA_SHA256` names the schema it was made from.\n"""\n'
        "# mypy: ignore-errors\n"
        f'SCHEMA_SHA256 = "{schema_digest()}"\n'
    )
    return header + code


@functools.cache
def _rule_validator() -> Any:
    """The whole-rule validator: the shipped generated one while it matches RULE_SCHEMA, else compiled."""
    from mock_epay.scenarios import rule_validator

    if getattr(rule_validator, "SCHEMA_SHA256", None) == schema_digest():
        return rule_validator.validate
    return fastjsonschema.compile(RULE_SCHEMA)


class ScenarioError(Exception):
    """A scenario file or rule that cannot be used; the message says where and what."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = list(problems)


class RuleProblem(Exception):
    """One rule's problems, joined into one message (`check_rule`)."""

    pass


def _describe_schema_error(exc: fastjsonschema.JsonSchemaValueException, prefix: str = "") -> str:
    name = exc.name or ""
    relative = name.removeprefix("data")
    key = (prefix + relative if prefix else relative).lstrip(".")
    what = exc.message.removeprefix(name).strip()
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


# -- checking one rule ------------------------------------------------------------------


@functools.cache
def _part_validator(part: str) -> Any:
    """A validator for one top-level key of a rule (compiled only when a rule is wrong)."""
    schema = {**RULE_SCHEMA["properties"][part], "definitions": RULE_SCHEMA["definitions"]}
    return fastjsonschema.compile(schema)


def _schema_problem(exc: fastjsonschema.JsonSchemaValueException, prefix: KeyPath) -> Problem:
    path = (*prefix, *(int(p) if p.isdigit() else p for p in exc.path[1:]))
    return path, _describe_schema_error(exc, key_name(prefix))


def _shape_problems(rule: Any) -> tuple[list[Problem], set[str]]:
    """Every shape problem (one per key at most) and the parts whose shape is right."""
    if not isinstance(rule, Mapping):
        return [((), f"a rule is a mapping of keys (name, description, match, outcome), "
                     f"got {_type_name(rule)}")], set()
    known = RULE_SCHEMA["properties"]
    problems: list[Problem] = []
    for key in rule:
        if key not in known:
            problems.append(((key,), f"unknown key {key!r} (known keys: {', '.join(known)})"))
    missing = [k for k in RULE_SCHEMA["required"] if k not in rule]
    if missing:
        problems.append(((), f"missing key {', '.join(map(repr, missing))}"))
    valid: set[str] = set()
    for key in (k for k in rule if k in known):
        parts: list[tuple[str, tuple[str | int, ...], Any]] = [(key, (key,), rule[key])]
        if key == "outcomes" and isinstance(rule[key], list) and rule[key]:
            parts = [(f"outcomes[{i}]", ("outcomes", i), item) for i, item in enumerate(rule[key])]
        for name, path, value in parts:
            try:
                _part_validator("outcome" if name.startswith("outcomes[") else key)(value)
            except fastjsonschema.JsonSchemaValueException as exc:
                problems.append(_schema_problem(exc, path))
            else:
                valid.add(name)
    return problems, valid


def rule_problem_list(rule: Any) -> list[Problem]:
    """Every problem of one rule, shape first, then meaning; empty when the rule is good."""
    try:
        _rule_validator()(rule)
    except fastjsonschema.JsonSchemaValueException:
        problems, valid = _shape_problems(rule)
        if not isinstance(rule, Mapping):
            return problems
        return problems + list(rule_problems(rule, valid))
    valid = {"match", "outcome", *(f"outcomes[{i}]" for i in range(len(rule.get("outcomes") or ())))}
    return list(rule_problems(rule, valid))


def check_rule(rule: Any) -> None:
    """Validate one rule mapping (schema, then meaning); raises `RuleProblem` with every problem."""
    problems = rule_problem_list(rule)
    if problems:
        raise RuleProblem("; ".join(message for _, message in problems))


def _line_of(path: KeyPath, key_lines: Mapping[KeyPath, int]) -> int | None:
    """The line of the deepest key of `path` the file has (the rule's first line at least)."""
    for end in range(len(path), -1, -1):
        if path[:end] in key_lines:
            return key_lines[path[:end]]
    return None


KeyLines = Mapping[KeyPath, int]


def validate_rules(data: Any, source: str, key_lines: Sequence[KeyLines] = ()) -> list[dict[str, Any]]:
    """Check a parsed file (a list of rules); every problem is reported, nothing half-loads.

    `key_lines` (one per rule, from `parse_text`) places each problem on its key's line.
    """
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
        lines = key_lines[index] if index < len(key_lines) else {}
        found = rule_problem_list(rule)
        for path, message in found:
            problems.append(f"{_where(source, index, rule, _line_of(path, lines))}: {message}")
        if found:
            continue
        if rule["name"] in names:
            where = _where(source, index, rule, _line_of(("name",), lines))
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


def _node_lines(node: yaml.Node, path: KeyPath, lines: dict[KeyPath, int]) -> None:
    """Record the line of every key (and list item) under `node`, by its key path."""
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):
                lines.setdefault((*path, key.value), key.start_mark.line + 1)
                _node_lines(value, (*path, key.value), lines)
    elif isinstance(node, yaml.SequenceNode):
        for position, item in enumerate(node.value):
            lines.setdefault((*path, position), item.start_mark.line + 1)
            _node_lines(item, (*path, position), lines)


def parse_text(text: str, source: str) -> tuple[Any, list[dict[KeyPath, int]]]:
    """YAML text to data plus, for each top-level item, the line of each of its keys."""
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
    lines: list[dict[KeyPath, int]] = []
    if isinstance(root, yaml.SequenceNode):
        for item in root.value:
            item_lines: dict[KeyPath, int] = {(): item.start_mark.line + 1}
            _node_lines(item, (), item_lines)
            lines.append(item_lines)
    return data, lines


_cache: dict[tuple[str, int, int], tuple[list[dict[str, Any]], list[dict[KeyPath, int]]]] = {}
_CACHE_LIMIT = 64


def display_name(path: Path) -> str:
    """How messages name a file: as given, or a shipped file by its name (never a site-packages path)."""
    shipped = data_dir("scenarios")
    try:
        if path.resolve().parent == shipped.resolve():
            return f"{path.name} (shipped)"
    except OSError:
        pass
    return str(path)


def _read_checked(path: Path) -> tuple[list[dict[str, Any]], list[dict[KeyPath, int]]]:
    """One file's checked rules and their keys' lines; cached by (path, mtime, size)."""
    source = display_name(path)
    try:
        stat = path.stat()
        key = (str(path), stat.st_mtime_ns, stat.st_size)
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


def file_warnings(path: Path) -> list[str]:
    """Warnings about a good file's rules (steps that can never be reached), each with its line."""
    rules, key_lines = _read_checked(path)
    return [f"{_where(display_name(path), index, rule, _line_of(where, key_lines[index]))}: "
            f"warning: {message}"
            for index, rule in enumerate(rules) for where, message in rule_warnings(rule)]


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
                where = _where(display_name(path), index, rule, _line_of(("name",), lines[index]))
                problems.append(f"{where}: name {rule['name']!r} is already used by {taken[rule['name']]}")
            taken[rule["name"]] = f"{display_name(path)} rule index {index}"
        loaded.append((path, rules))
    if problems:
        raise ScenarioError(problems)
    return loaded
