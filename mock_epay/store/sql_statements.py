"""The statement search on the SQL backends: a statement's plan translated into one parameterised query.

`compile_search` turns a validated `StatementQuery` (mock_epay.gateway.statements) into
`SELECT (SELECT count(*) ... WHERE w), record ... WHERE w ORDER BY ... LIMIT ? OFFSET ?`, with
`w` always starting `client_id = ?`, so the merchant's scope, the filters, the order, the paging
and the `totalCount` all run in the database, in one statement (one snapshot). SQLite and
PostgreSQL share the translation; a `Dialect` holds what differs: the placeholder (`?`, `%s`),
how a date is bound (integer microseconds since the epoch, or `timestamptz`), how `like` is
written, and how rows are fetched.

The filters read the `stmt_*` columns that schema version 3 derives from each record
(`sqlite_schema._migrate_to_3`: virtual generated columns; `postgres_schema`: a trigger), with
`(client_id, stmt_created)` indexed on `transactions` and `transfers`, so the mandatory period
narrows through the index. The rules are the memory backend's (`holds`, `evaluate`):

* text compares by code point (SQLite's BINARY collation; the PostgreSQL columns are `COLLATE "C"`);
* `like` has `%` and `_` and no escape character, case-insensitive for ASCII letters only
  (SQLite's LIKE as it is; on PostgreSQL the column and the pattern are ASCII-lowered and
  `ESCAPE ''` turns off the backslash);
* a payment not settled has the `NEVER` payout date (before every real date) and payout amount 0;
* ties keep the memory order: the newest record first (`seq DESC` last in `ORDER BY`);
* an AUTH past its terminal's auto-cancel is CANCEL_OLD, as every read sees it: the search first
  writes those of the merchant (store/compose.py's `_current`), then runs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from mock_epay.gateway.models import Transaction, evolve
from mock_epay.gateway.statements import (
    NEVER,
    Condition,
    Method,
    Ordering,
    Record,
    Source,
    StatementPage,
    StatementQuery,
    Value,
)
from mock_epay.gateway.transfer_records import Transfer

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_UPPER, _LOWER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz"
_ASCII_LOWER = str.maketrans(_UPPER, _LOWER)

# Each filter's expression over the `stmt_*` columns; `{never}` is the NEVER payout date's placeholder.
_COLUMNS: dict[str, str] = {
    "created_date": "stmt_created",
    "shop_id": "stmt_shop",
    "invoice_id": "stmt_invoice",
    "account_id": "stmt_account",
    "payer_phone": "stmt_phone",
    "payer_email": "stmt_email",
    "reference": "stmt_reference",
    "post_link": "stmt_post_link",
    "amount": "stmt_amount",
    "card_mask": "stmt_card_mask",
    "client": "stmt_client",
    "installment_id": "{empty}",
    "transaction_type_id": "stmt_type",
    "payout_date": "(CASE WHEN stmt_status = 'CHARGE' THEN stmt_created ELSE {never} END)",
    "payout_amount": "(CASE WHEN stmt_status = 'CHARGE' THEN stmt_amount ELSE 0.0 END)",
    "status": "stmt_status",
    "sender_card_mask": "stmt_sender_mask",
    "receiver_card_mask": "stmt_receiver_mask",
}
_TABLES: dict[Source, tuple[str, str]] = {  # the table and the columns each row is read from
    Source.PAYMENTS: ("transactions", "record, version"),
    Source.TRANSFERS: ("transfers", "record, 0"),
}
_COMPARE: dict[Method, str] = {
    Method.EQ: "=", Method.LT: "<", Method.GT: ">", Method.LE: "<=", Method.GE: ">=",
}


def _sqlite_date(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(microseconds=1)


def _postgres_date(moment: datetime) -> datetime:
    return moment


class Dialect(msgspec.Struct, frozen=True):
    """What one SQL backend writes differently; everything else of the translation is shared."""

    mark: str  # the placeholder
    empty_text: str  # a text constant '' comparing as the columns do
    like: str  # `{column}` LIKE `{mark}`, the pattern already ASCII-lowered
    date: Callable[[datetime], Any]  # a date as the `stmt_created` column holds it
    fetch: Callable[[Any, str, tuple[Any, ...]], list[Any]]  # (store, sql, params) -> rows


SQLITE = Dialect(
    mark="?",
    empty_text="''",
    like="{column} LIKE ?",  # SQLite's LIKE: ASCII case-insensitive, no escape character
    date=_sqlite_date,
    fetch=lambda store, sql, params: store._all(sql, params),
)
POSTGRES = Dialect(
    mark="%s",
    empty_text="CAST('' AS text) COLLATE \"C\"",
    like=f"translate({{column}}, '{_UPPER}', '{_LOWER}') LIKE %s ESCAPE ''",
    date=_postgres_date,
    fetch=lambda store, sql, params: store._rows(sql, params),
)


class CompiledSearch(msgspec.Struct, frozen=True):
    """A statement's plan as SQL: the page with its total, and the total alone (for an empty page)."""

    page_sql: str
    page_params: tuple[Any, ...]
    count_sql: str
    count_params: tuple[Any, ...]


def compile_search(client_id: str, query: StatementQuery, dialect: Dialect) -> CompiledSearch:
    """The SQL of `query` over `client_id`'s own records (never anyone else's)."""
    table, columns = _TABLES[query.source]
    clauses, params = [f"client_id = {dialect.mark}"], [client_id]
    for condition in query.conditions:
        clause, values = _clause(condition, dialect)
        clauses.append(clause)
        params.extend(values)
    where = " AND ".join(clauses)
    order, order_params = _order_by(query.order, dialect)
    count_sql = f"SELECT count(*) FROM {table} WHERE {where}"  # noqa: S608 (fixed names, values bound)
    page_sql = (
        f"SELECT ({count_sql}), {columns} FROM {table} WHERE {where} "  # noqa: S608
        f"ORDER BY {order} LIMIT {dialect.mark} OFFSET {dialect.mark}"
    )
    return CompiledSearch(
        page_sql,
        (*params, *params, *order_params, query.size, query.offset),
        count_sql,
        tuple(params),
    )


def _expression(name: str, dialect: Dialect) -> tuple[str, tuple[Any, ...]]:
    """The SQL of one filter's value, with the parameters it binds (the NEVER date)."""
    template = _COLUMNS[name]
    if "{never}" in template:
        return template.format(never=dialect.mark), (dialect.date(NEVER),)
    return template.format(empty=dialect.empty_text), ()


def _bound(value: Value, dialect: Dialect) -> Any:
    return dialect.date(value) if isinstance(value, datetime) else value


def _clause(condition: Condition, dialect: Dialect) -> tuple[str, list[Any]]:
    column, own = _expression(condition.name, dialect)
    values = [_bound(v, dialect) for v in condition.values]
    mark = dialect.mark
    if condition.method is Method.LIKE:
        return dialect.like.format(column=column), [*own, str(condition.values[0]).translate(_ASCII_LOWER)]
    if condition.method is Method.IN:
        return f"{column} IN ({', '.join([mark] * len(values))})", [*own, *values]
    if condition.method is Method.BETWEEN:
        return f"{column} >= {mark} AND {column} <= {mark}", [*own, values[0], *own, values[1]]
    return f"{column} {_COMPARE[condition.method]} {mark}", [*own, *values]


def _order_by(order: Sequence[Ordering], dialect: Dialect) -> tuple[str, list[Any]]:
    terms: list[str] = []
    params: list[Any] = []
    for ordering in order:
        column, own = _expression(ordering.name, dialect)
        terms.append(f"{column} {'DESC' if ordering.descending else 'ASC'}")
        params.extend(own)
    terms.append("seq DESC")  # ties: the newest first, as the memory backend lists them
    return ", ".join(terms), params


_decode_transaction = msgspec.json.Decoder(Transaction).decode
_decode_transfer = msgspec.json.Decoder(Transfer).decode


def _record(source: Source, data: Any, version: int) -> Record:
    """A row's record (`dump` wrote it as JSON)."""
    return _decode_transfer(data) if source is Source.TRANSFERS else _payment(data, version)


def _payment(data: Any, version: int) -> Transaction:
    """A payment row's record; the `version` column wins, as the backends read it."""
    tx = _decode_transaction(data)
    return tx if tx.version == version else evolve(tx, version=version)


class SqlStatements:
    """`search_statement` for a SQL backend; the backend names its `statement_dialect`."""

    statement_dialect: Dialect
    # provided by the composed store (store/compose.py): an expired AUTH's CANCEL_OLD successor, written
    _current: Callable[[Transaction | None], Transaction | None]

    def search_statement(self, client_id: str, query: StatementQuery) -> StatementPage:
        if query.source is Source.PAYMENTS:
            self._cancel_expired_auths(client_id)
        compiled = compile_search(client_id, query, self.statement_dialect)
        rows = self.statement_dialect.fetch(self, compiled.page_sql, compiled.page_params)
        if rows:
            total = int(rows[0][0])
        elif query.offset == 0:
            total = 0
        else:  # a page past the end: the total alone
            total = int(self.statement_dialect.fetch(self, compiled.count_sql, compiled.count_params)[0][0])
        return StatementPage(total, [_record(query.source, row[1], int(row[2])) for row in rows])

    def _cancel_expired_auths(self, client_id: str) -> None:
        """Every read of a payment sees an expired AUTH as CANCEL_OLD (store/compose.py writes it on the
        read); the search reads the rows, so it first brings the merchant's AUTH rows up to date."""
        mark = self.statement_dialect.mark
        sql = f"SELECT record, version FROM transactions WHERE client_id = {mark} AND stmt_status = 'AUTH'"
        rows = self.statement_dialect.fetch(self, sql, (client_id,))
        for data, version in rows:
            self._current(_payment(data, int(version)))
