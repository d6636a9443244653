"""Structure-aware mutations for the product fuzzer: a valid body in, a hostile variant out.

A body is a tree of dicts, lists and scalars. Each mutation names a path into it and changes
one node: drop it, duplicate its key (JSON allows it, parsers keep the last), give it another
JSON type, a literal `json.dumps` cannot write (huge integers, 1e400, NaN, deep nesting), hostile
text (lone surrogates, control characters, other scripts' digits), a negative / fractional /
huge amount, an extra field, or wrap it one level deeper. `dumps` writes the result as JSON text.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

# Amounts that shipped scenario files decide on (declines 4xxx-5xxx, chaos 7xxx): never generated,
# so a refusal is always the parser's and never a documented decline.
SCENARIO_AMOUNTS = ((4000, 5999), (7000, 7999))
JSON_LITERALS = (
    "9" * 5000,
    "-" + "9" * 5000,
    "1e400",
    "-1e400",
    "NaN",
    "Infinity",
    "-Infinity",
    "-0",
    "1E-400",
    "12345678901234567890",
    "[" * 3000 + "]" * 3000,
    '{"a": ' * 500 + "1" + "}" * 500,
    '"\\ud800"',
    '"\\udfff\\ud800x"',
    '"' + "x" * 20000 + '"',
)
HOSTILE_TEXT = (
    "",
    " ",
    "\ud800",
    "a\udfffb",
    "\x00",
    "9" * 5000,
    "-0",
    "NaN",
    "1e400",
    "\u00b3",
    "\u0663" * 16,
    "\U0001d7d8" * 3,
    "4405\u00a06397",
    "%zz",
    "<script>",
    "' OR 1=1",
    "жетон",
    "x" * 3000,
    "0",
    "-1",
    "1.5",
    "true",
    "null",
    "{}",
    "[]",
    "4405639704015096",
    "\u200b",
    "\t\n",
    "ТҮРІ",
    "%a" * 30 + "%x",  # a LIKE pattern that backtracked exponentially as a regular expression
)
HOSTILE_AMOUNTS = (
    -100,
    -0.01,
    0,
    0.001,
    0.5,
    100.125,
    "100.50",
    "-5",
    "1e3",
    "0x10",
    " 100 ",
    10**12,
    10**13,
    10**20,
    2**63,
    -(2**63),
    1e15,
    123.456789,
    "١٠٠",
    True,
    "",
)


def is_scenario_amount(value: float) -> bool:
    return any(low <= value <= high for low, high in SCENARIO_AMOUNTS)


safe_ints = st.integers(-(10**6), 10**6).filter(lambda n: not is_scenario_amount(n))
hostile_text = st.one_of(
    st.sampled_from(HOSTILE_TEXT),
    st.text(st.characters(categories=["L", "N", "Cs", "Cc", "Zs", "So"]), max_size=24),
)


@dataclass(frozen=True)
class Raw:
    """A JSON literal written as it is (json.dumps cannot write most of them)."""

    text: str


@dataclass(frozen=True)
class Twin:
    """A second key of the same name in one object (the `n`th copy)."""

    name: str
    n: int


json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    safe_ints,
    st.floats(allow_nan=False, allow_infinity=False).filter(lambda f: not is_scenario_amount(f)),
    hostile_text,
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.sampled_from(["x", "id", "cardCred", "sender", ""]), inner, max_size=3),
    ),
    max_leaves=6,
)


def dumps(value: Any) -> str:
    """JSON text of a tree that may hold `Raw` literals and `Twin` keys; lone surrogates as escapes."""
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, dict):
        return (
            "{"
            + ", ".join(
                f"{json.dumps(k.name if isinstance(k, Twin) else k)}: {dumps(v)}" for k, v in value.items()
            )
            + "}"
        )
    if isinstance(value, list):
        return "[" + ", ".join(dumps(v) for v in value) + "]"
    return json.dumps(value)


def paths_of(tree: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every node's path below the root (dict keys and list indexes), depth first."""
    found: list[tuple[Any, ...]] = []
    items = tree.items() if isinstance(tree, dict) else enumerate(tree) if isinstance(tree, list) else ()
    for key, value in items:
        found.append((*prefix, key))
        found.extend(paths_of(value, (*prefix, key)))
    return found


def node_at(tree: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        tree = tree[key]
    return tree


@dataclass(frozen=True)
class Mutation:
    kind: str  # drop | twin | set | extra | nest
    path: tuple[Any, ...]
    value: Any = None

    def apply(self, tree: Any) -> Any:
        parent = tree
        for key in self.path[:-1]:
            try:
                parent = parent[key]
            except (KeyError, IndexError, TypeError):
                return tree  # an earlier mutation removed the way there
        last = self.path[-1]
        if isinstance(parent, dict) and last not in parent:
            if self.kind == "set":  # a field the body did not have
                parent[last] = self.value
            return tree
        if not isinstance(parent, dict | list) or (
            isinstance(parent, list) and not (isinstance(last, int) and last < len(parent))
        ):
            return tree
        if self.kind == "drop":
            del parent[last]
        elif self.kind == "twin" and isinstance(parent, list):  # the element twice, one copy hostile
            hostile, first = self.value
            parent.insert(last if first else last + 1, hostile)
        elif self.kind == "twin" and isinstance(parent, dict):
            hostile, first = self.value
            pair = [(Twin(last, 1), hostile), (Twin(last, 2), parent[last])]
            rebuilt: dict[Any, Any] = {}
            for key, value in parent.items():
                rebuilt.update((pair if first else pair[::-1]) if key == last else [(key, value)])
            parent.clear()
            parent.update(rebuilt)
        elif self.kind == "extra" and isinstance(parent[last], dict):
            parent[last]["fuzzExtra"] = self.value
        elif self.kind == "nest":
            parent[last] = {"value": parent[last]} if self.value else [parent[last]]
        else:
            parent[last] = self.value
        return tree


# Other values a field's grammar allows (or nearly): they get past the first check to the next one.
FIELD_VALUES: dict[str, tuple[Any, ...]] = {
    "expire_period": ("999999w", "999999m", "0d", "1y", "1D", " 2h ", "10000d", "-1d"),
    "paymentfrequency": ("WEEKLY", "monthly", "DAILY", "QUARTERLY "),
    "transfertype": ("TYPEPAN", "TYPECARDID", "TYPEPHONE", "typepan"),
    "method": ("=", "in", "like", "between", "<", ">", "<=", ">=", "LIKE", "!="),
    "name": (
        "created_date",
        "amount",
        "invoice_id",
        "post_link",
        "payout_date",
        "status",
        "card_mask",
        "sender_card_mask",
        "transaction_type_id",
        "unknown",
    ),
    "field": ("created_date", "amount", "invoice_id", "status", "id", "nope"),
    "typeorder": ("ASC", "desc", "UP"),
    "searchparameter": (
        ["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00"],
        ["2020-01-01"],
        ["%"],
        ["%a" * 30 + "%x"],
        ["true"],
        ["1e400", "-1e400"],
        [],
        ["a", "b", "c"],
    ),
    "month": ("00", "13", "1", "012"),
    "year": ("00", "99", "2027"),
    "currency": ("USD", "kzt", "KZ", "XXX"),
}


def mutation_values(path: tuple[Any, ...]) -> st.SearchStrategy[Any]:
    name = str(path[-1]).lower() if path else ""
    values = [json_values, json_values, hostile_text, st.sampled_from(JSON_LITERALS).map(Raw)]
    if name in FIELD_VALUES:  # as likely as all the rest
        values = [st.sampled_from(FIELD_VALUES[name])] * len(values) + values
    if "amount" in name or name in ("size", "page", "skip", "limit"):
        values.append(st.sampled_from(HOSTILE_AMOUNTS))
    return st.one_of(values)


@st.composite
def mutations(draw: st.DrawFn, tree: Any, *, max_size: int = 3) -> list[Mutation]:
    """Up to `max_size` mutations of nodes of `tree` (an extra top-level field counts as one)."""
    paths = paths_of(tree)
    found = []
    for _ in range(draw(st.integers(1, max_size))):
        kind = draw(st.sampled_from(["drop", "twin", "set", "set", "set", "extra", "nest"]))
        if kind == "extra":
            objects = [path for path in paths if isinstance(node_at(tree, path), dict)]
            nested: bool = draw(st.booleans())
            if objects and nested:
                found.append(Mutation("extra", draw(st.sampled_from(objects)), draw(json_values)))
            else:
                name = draw(st.sampled_from(["fuzzExtra", "Amount", "ORDER", "card", "x" * 300]))
                found.append(Mutation("set", (name,), draw(json_values)))
            continue
        path: tuple[Any, ...] = draw(st.sampled_from(paths))
        if kind == "nest":
            value: Any = draw(st.booleans())
        elif kind == "twin":
            value = (draw(mutation_values(path)), draw(st.booleans()))
        else:
            value = draw(mutation_values(path))
        found.append(Mutation(kind, path, value))
    return found


def mutated(tree: Any, changes: list[Mutation]) -> Any:
    result = copy.deepcopy(tree)
    for change in changes:
        result = change.apply(result)
    return result
