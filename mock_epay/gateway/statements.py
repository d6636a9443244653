"""Statements (`/operations`, `/p2p/operations`): the query grammar, its validation, and its evaluation.

`parse_query` turns the bank's body (`paging`, `searchParameters`, `orderParameters`) into the
query's plan, a validated `StatementQuery`: every filter name known, every method one of the
eight, the right number of values, each value already typed (a date, a number, text or a flag),
`like` on text filters only, and the mandatory `created_date` period present. The plan is built
once per request and each store executes it, answering `StatementPage`: the memory backend runs
`evaluate` over its records; the SQL backends translate the same plan into one parameterised
query (`mock_epay.store.sql_statements`). The comparison rules `evaluate` applies (`holds`,
`like`, the `NEVER` payout date) are the ones that translation reproduces.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any

import msgspec

from mock_epay.core.clock import ALMATY
from mock_epay.gateway.codes import OPERATION_ERROR
from mock_epay.gateway.errors import EpayError
from mock_epay.gateway.models import Status, Transaction
from mock_epay.gateway.transfer_records import Transfer

MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 100
MAX_VALUES = 1000  # values of one `in`
MAX_TEXT = 1000  # characters of one value


class Source(StrEnum):
    """Which records a statement reads."""

    PAYMENTS = "payments"  # POST /operations
    TRANSFERS = "transfers"  # POST /p2p/operations


class Kind(StrEnum):
    """How a filter's values are read and compared."""

    DATE = "date"
    NUMBER = "number"
    TEXT = "text"
    FLAG = "flag"


class Method(StrEnum):
    BETWEEN = "between"
    IN = "in"
    LIKE = "like"
    EQ = "="
    LT = "<"
    GT = ">"
    LE = "<="
    GE = ">="


Value = datetime | float | str | bool
Record = Transaction | Transfer

# `transaction_type_id` values (the bank's are undocumented; these are the mock's own).
TRANSACTION_TYPES: dict[str, int] = {"payment": 1, "p2p": 2, "aft": 3, "oct": 4}


class Field(msgspec.Struct, frozen=True):
    """A filter name: how its values are typed and how a payment record yields it."""

    name: str
    kind: Kind
    read: Callable[[Transaction], Value]


class Condition(msgspec.Struct, frozen=True):
    """One validated `searchParameters` entry; `values` are typed per the field's kind."""

    name: str
    method: Method
    values: tuple[Value, ...]


class Ordering(msgspec.Struct, frozen=True):
    name: str
    descending: bool


class StatementQuery(msgspec.Struct, frozen=True):
    """A statement's plan: conditions ANDed, then ordered (ties: newest record first), then
    `offset`/`size` applied; `total` counts the matches before paging."""

    source: Source
    conditions: tuple[Condition, ...]
    order: tuple[Ordering, ...]
    offset: int
    size: int


class StatementPage(msgspec.Struct, frozen=True):
    total: int  # matches before paging
    records: list[Record]


def _transaction_type(tx: Transaction) -> float:
    return float(TRANSACTION_TYPES.get(tx.source, TRANSACTION_TYPES["payment"]))


def _payout_amount(tx: Transaction) -> float:
    return tx.amount if tx.status is Status.CHARGE else 0.0


_COMMON: tuple[Field, ...] = (
    Field("created_date", Kind.DATE, lambda tx: tx.created_at),
    Field("shop_id", Kind.TEXT, lambda tx: tx.terminal_id),
    Field("invoice_id", Kind.TEXT, lambda tx: tx.invoice_id),
    Field("account_id", Kind.TEXT, lambda tx: tx.account_id),
    Field("payer_phone", Kind.TEXT, lambda tx: tx.phone),
    Field("payer_email", Kind.TEXT, lambda tx: tx.email),
    Field("reference", Kind.TEXT, lambda tx: tx.reference),
    Field("post_link", Kind.FLAG, lambda tx: bool(tx.post_link)),
    Field("amount", Kind.NUMBER, lambda tx: tx.amount),
    Field("card_mask", Kind.TEXT, lambda tx: tx.card.mask if tx.card else ""),
    Field("client", Kind.TEXT, lambda tx: tx.name),
    Field("installment_id", Kind.TEXT, lambda tx: ""),
    Field("transaction_type_id", Kind.NUMBER, _transaction_type),
    Field(
        "payout_date",
        Kind.DATE,
        lambda tx: tx.created_at if tx.status is Status.CHARGE else NEVER,
    ),
    Field("payout_amount", Kind.NUMBER, _payout_amount),
    Field("status", Kind.TEXT, lambda tx: tx.status.value),
)
# The payout date of a payment not settled: before every real date (so `<` matches it, `>` never).
NEVER: datetime = datetime.min.replace(tzinfo=ALMATY)
PAYMENT_FIELDS: dict[str, Field] = {f.name: f for f in _COMMON}
TRANSFER_FIELDS: dict[str, Field] = {
    **PAYMENT_FIELDS,
    "sender_card_mask": Field("sender_card_mask", Kind.TEXT, lambda tx: ""),
    "receiver_card_mask": Field("receiver_card_mask", Kind.TEXT, lambda tx: ""),
}
FIELDS: dict[Source, dict[str, Field]] = {Source.PAYMENTS: PAYMENT_FIELDS, Source.TRANSFERS: TRANSFER_FIELDS}


def invalid(detail: str) -> EpayError:
    """The bank's 400 for a statement request it cannot read (code 100)."""
    return EpayError(400, OPERATION_ERROR, f"invalid search parameter: {detail}")


# -- parsing ---------------------------------------------------------------------------------------


def parse_query(body: Mapping[str, Any], source: Source, *, page_numbers: bool = False) -> StatementQuery:
    """The validated query of a statement body; the bank's 400 (code 100) for anything it cannot read.

    `page_numbers`: `paging.page` is a 1-based page number instead of the docs' "records to skip".
    """
    fields = FIELDS[source]
    conditions = tuple(
        _condition(entry, fields, i)
        for i, entry in enumerate(_list(body.get("searchParameters"), "searchParameters"))
    )
    if not any(c.name == "created_date" for c in conditions):
        raise EpayError(400, OPERATION_ERROR, "created_date is required (the transaction period)")
    order = tuple(
        _ordering(entry, fields, i)
        for i, entry in enumerate(_list(body.get("orderParameters"), "orderParameters", required=False))
    )
    page, size = _paging(body.get("paging"))
    offset = (max(page, 1) - 1) * size if page_numbers else page
    return StatementQuery(source, conditions, order, offset, size)


def _list(value: Any, name: str, *, required: bool = True) -> list[Any]:
    if value is None and not required:
        return []
    if not isinstance(value, list):
        raise invalid(f"'{name}' must be a list")
    return value


def _condition(entry: Any, fields: Mapping[str, Field], index: int) -> Condition:
    where = f"searchParameters[{index}]"
    if not isinstance(entry, dict):
        raise invalid(f"{where} must be an object with name, method and searchParameter")
    name, method_text, raw = entry.get("name"), entry.get("method"), entry.get("searchParameter")
    field = fields.get(name) if isinstance(name, str) else None
    if field is None:
        raise invalid(f"{where}: unknown filter {str(name)[:40]!r}; known: {', '.join(fields)}")
    try:
        method = Method(str(method_text).strip().lower())
    except ValueError:
        raise invalid(
            f"{where}: unknown method {str(method_text)[:20]!r}; known: {', '.join(m.value for m in Method)}"
        ) from None
    if isinstance(raw, str | int | float) and not isinstance(raw, bool):
        raw = [raw]
    if not isinstance(raw, list) or not all(
        isinstance(v, str | int | float) and not isinstance(v, bool) for v in raw
    ):
        raise invalid(f"{where}: 'searchParameter' must be a list of strings")
    _check_arity(method, raw, where)
    if method is Method.LIKE:
        if field.kind is not Kind.TEXT:
            raise invalid(f"{where}: 'like' matches text; {field.name} is a {field.kind.value} filter")
        return Condition(field.name, method, (_text(raw[0], where),))
    if method in (Method.LT, Method.GT, Method.LE, Method.GE, Method.BETWEEN) and field.kind is Kind.FLAG:
        raise invalid(f"{where}: {field.name} is a yes/no filter; use '=' or 'in'")
    return Condition(field.name, method, tuple(_typed(field, v, where) for v in raw))


def _check_arity(method: Method, values: Sequence[Any], where: str) -> None:
    wanted = {Method.BETWEEN: "exactly 2", Method.IN: "at least 1"}.get(method, "exactly 1")
    count = len(values)
    if (
        (method is Method.BETWEEN and count != 2)
        or (method is Method.IN and count < 1)
        or (method not in (Method.BETWEEN, Method.IN) and count != 1)
    ):
        raise invalid(f"{where}: method {method.value!r} takes {wanted} value(s), got {count}")
    if count > MAX_VALUES:
        raise invalid(f"{where}: at most {MAX_VALUES} values, got {count}")
    if method is Method.LIKE and "%" not in str(values[0]):
        raise invalid(f"{where}: a 'like' pattern must contain % (got {str(values[0])[:40]!r})")


def _typed(field: Field, raw: str | int | float, where: str) -> Value:
    text = str(raw).strip()
    if field.kind is Kind.DATE:
        return parse_date(text, where)
    if field.kind is Kind.NUMBER:
        try:
            number = float(text)
        except ValueError:
            raise invalid(f"{where}: {field.name} needs numbers, got {text[:40]!r}") from None
        if number != number or number in (float("inf"), float("-inf")):
            raise invalid(f"{where}: {field.name} needs finite numbers")
        return number
    if field.kind is Kind.FLAG:
        if text.lower() not in ("true", "false", "1", "0"):
            raise invalid(f"{where}: {field.name} takes true or false, got {text[:40]!r}")
        return text.lower() in ("true", "1")
    return _text(raw, where)


def _text(raw: str | int | float, where: str) -> str:
    """A text value every store can bind: at most MAX_TEXT characters, no NUL, valid Unicode."""
    text = str(raw)
    if len(text) > MAX_TEXT:
        raise invalid(f"{where}: values are at most {MAX_TEXT} characters")
    if "\x00" in text or not _encodable(text):
        raise invalid(f"{where}: a value cannot hold NUL characters or unpaired surrogates")
    return text


def _encodable(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def parse_date(text: str, where: str) -> datetime:
    """An ISO 8601 date or date-time; without an offset it is read in the bank's time (UTC+5)."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise invalid(f"{where}: dates are ISO 8601 (2025-01-01T00:00:00Z), got {text[:40]!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=ALMATY)


def _ordering(entry: Any, fields: Mapping[str, Field], index: int) -> Ordering:
    where = f"orderParameters[{index}]"
    if not isinstance(entry, dict) or not isinstance(entry.get("field"), str):
        raise invalid(f"{where} must be an object with field and typeOrder")
    if entry["field"] not in fields:
        raise invalid(f"{where}: unknown field {entry['field'][:40]!r}")
    direction = str(entry.get("typeOrder", "ASC")).upper()
    if direction not in ("ASC", "DESC"):
        raise invalid(f"{where}: typeOrder is ASC or DESC, got {direction[:10]!r}")
    return Ordering(entry["field"], direction == "DESC")


def _paging(value: Any) -> tuple[int, int]:
    if value is None:
        return 0, DEFAULT_PAGE_SIZE
    if not isinstance(value, dict):
        raise invalid("'paging' must be an object with page and size")
    return (
        _count(value.get("page", 0), "paging.page", 0),
        _count(value.get("size", DEFAULT_PAGE_SIZE), "paging.size", 1),
    )


def _count(value: Any, name: str, least: int) -> int:
    text = str(value).strip() if isinstance(value, int | str) and not isinstance(value, bool) else ""
    if value == "" and name == "paging.page":
        return 0
    if not text.isdecimal() or len(text) > 9 or int(text) < least:
        raise invalid(f"'{name}' must be a whole number of at least {least}, got {str(value)[:20]!r}")
    return min(int(text), MAX_PAGE_SIZE) if name == "paging.size" else int(text)


# -- evaluation ------------------------------------------------------------------------------------


def row(record: Record, source: Source) -> dict[str, Value]:
    """The values a record has for every filter of `source` (what `holds` and the orderings read)."""
    tx = record.transaction if isinstance(record, Transfer) else record
    values = {name: field.read(tx) for name, field in FIELDS[source].items()}
    if isinstance(record, Transfer):
        values["sender_card_mask"] = record.sender.mask if record.sender else ""
        values["receiver_card_mask"] = record.receiver.mask if record.receiver else ""
        values["transaction_type_id"] = float(TRANSACTION_TYPES[record.kind.value])
    return values


def _same(pattern_char: str, char: str) -> bool:
    """One pattern character against one text character: `_` is any; ASCII letters fold, others do not
    (as SQLite's LIKE, and the PostgreSQL translation, `mock_epay.store.sql_statements`)."""
    if pattern_char == "_" or pattern_char == char:
        return True
    return pattern_char.isascii() and char.isascii() and pattern_char.lower() == char.lower()


def like(pattern: str, text: str) -> bool:
    """SQL LIKE over all of `text`: `%` any run, `_` one character, no escape character,
    case-insensitive for the ASCII letters only.

    Greedy with one resume point (the last `%`), so at most len(pattern) x len(text) steps: a
    regular expression made from `%a%a%a...` backtracks exponentially and froze the server.
    """
    p = t = 0
    star, resume = -1, 0  # the last % seen, and where in `text` its run would end next
    while t < len(text):
        if p < len(pattern) and pattern[p] == "%":
            star, resume, p = p, t, p + 1
        elif p < len(pattern) and _same(pattern[p], text[t]):
            p, t = p + 1, t + 1
        elif star >= 0:  # let the last % take one more character and retry from there
            resume += 1
            p, t = star + 1, resume
        else:
            return False
    return all(ch == "%" for ch in pattern[p:])


def holds(condition: Condition, value: Value) -> bool:
    """Whether one record's value satisfies one condition."""
    method, wanted = condition.method, condition.values
    if method is Method.LIKE:
        return like(str(wanted[0]), str(value))
    if method is Method.IN:
        return value in wanted
    if method is Method.BETWEEN:
        return wanted[0] <= value <= wanted[1]  # type: ignore[operator]
    compare: dict[Method, Callable[[Any, Any], bool]] = {
        Method.EQ: lambda a, b: a == b,
        Method.LT: lambda a, b: a < b,
        Method.GT: lambda a, b: a > b,
        Method.LE: lambda a, b: a <= b,
        Method.GE: lambda a, b: a >= b,
    }
    return compare[method](value, wanted[0])


def evaluate(query: StatementQuery, records: Iterable[Record]) -> StatementPage:
    """The query run over `records` (one merchant's, already): filter, order, count, then page."""
    matched: list[tuple[Record, dict[str, Value]]] = []
    for record in records:
        values = row(record, query.source)
        if all(holds(condition, values[condition.name]) for condition in query.conditions):
            matched.append((record, values))
    for ordering in reversed(query.order):  # stable sorts: the first ordering decides last
        matched.sort(key=_sort_by(ordering.name), reverse=ordering.descending)
    page = [r for r, _ in matched[query.offset : query.offset + query.size]]
    return StatementPage(len(matched), page)


def _sort_key(value: Value) -> Any:
    if isinstance(value, datetime):
        return float("-inf") if value == NEVER else value.timestamp()
    return value


def _sort_by(name: str) -> Callable[[tuple[Any, dict[str, Any]]], Any]:
    """The sort key of one ordering: the named field's value of a (record, values) pair."""
    return lambda pair: _sort_key(pair[1][name])
