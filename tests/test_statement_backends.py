"""The statement search gives the same answer on the memory store, on SQLite and on PostgreSQL.

Each backend holds the same ledger (payments of two merchants on several days, charged, refunded,
with and without postLinks, names in two scripts; transfers of the three kinds), and every query
below runs through `search_statement`: on SQLite and PostgreSQL that is one SQL query
(mock_epay.store.sql_statements). The oracle is the memory search (`evaluate`) over the records
the backend lists, and a few queries also state their expected records outright.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, timedelta
from typing import Any

import pytest

from mock_epay.core.clock import Clock
from mock_epay.core.fakedata import FakeData
from mock_epay.gateway import lifecycle
from mock_epay.gateway.models import Status, evolve
from mock_epay.gateway.statements import Source, evaluate, parse_query
from mock_epay.gateway.transfer_records import Transfer, TransferKind, TransferParty, TransferType
from mock_epay.store.sql_products import dump
from mock_epay.store.sql_statements import SQLITE, compile_search
from mock_epay.store.sqlite import SqliteStore
from mock_epay.store.sqlite_schema import (
    SCHEMA_VERSION,
    _migrate_to_1,
    _migrate_to_2,
    open_database,
    schema_version,
)
from mock_epay.web.errors import EpayError
from tests.pg_cluster import pg_store_url, postgres_url  # noqa: F401  (fixtures)
from tests.test_store_contract import APPROVED, BACKENDS, DECLINED, SHOP_A, SHOP_B, attempt, pay

VISA, MASTERCARD = "4405639704015096", "5522042705066736"
PEOPLE = [("Anna Smith", "anna@example.com"), ("ANNA BROWN", "Brown@Example.com"),
          ("Иван Петров", "ivan@example.kz"), ("иван сидоров", "sid_or@example.kz"), ("", "")]


@pytest.fixture(params=list(BACKENDS))
def store(request: pytest.FixtureRequest) -> Iterator[Any]:
    """Merchants a and b on one backend (memory, SQLite, PostgreSQL), as in the contract suite."""
    opened = BACKENDS[request.param]([SHOP_A, SHOP_B], Clock(), FakeData(7))
    yield opened
    if hasattr(opened, "close"):
        opened.close()


def ledger(store: Any) -> None:
    """Twelve payments of merchant a over three days (b pays the same orders), and four transfers."""
    for n in range(12):
        name, email = PEOPLE[n % len(PEOPLE)]
        terminal = "ta-two-stage" if n % 3 == 2 else "ta"  # authorised only: AUTH, no payout
        paying = evolve(
            attempt(f"0000005{n:02d}", terminal=terminal), amount=100.0 + 25 * (n % 5), name=name,
            email=email, phone=f"7701000{n:04d}", account_id=f"acc-{n % 3}",
            post_link="https://shop.example/cb" if n % 2 else None)
        reservation = store.reserve_invoice("a", paying.invoice_id)
        tx = store.record_payment(reservation, paying, DECLINED if n == 7 else APPROVED,
                                  store.make_card(MASTERCARD if n % 3 == 0 else VISA))
        if n % 4 == 1:
            charged = evolve(tx, status=Status.CHARGE, charged_amount=tx.amount)
            tx = store.replace_transaction(charged, tx.version)
        if n == 9:
            tx = store.replace_transaction(evolve(tx, status=Status.REFUND, amount=40.0), tx.version)
        pay(store, f"0000005{n:02d}", client_id="b", terminal="tb")
        store.clock.advance(7 * 3600 + 0.000123)  # three days, dates with microseconds
    for n, kind in enumerate((TransferKind.P2P, TransferKind.AFT, TransferKind.OCT, TransferKind.P2P)):
        paying = evolve(attempt(f"0000006{n:02d}"), source=kind.value, amount=10.0 * (n + 1))
        sender = TransferParty(TransferType.PAN, store.make_card(VISA))
        receiver = TransferParty(TransferType.PAN, store.make_card(MASTERCARD if n % 2 else VISA))
        tx = lifecycle.new_transaction(paying, APPROVED, store.terminal_of("a", "ta"), sender.card, None,
                                       store.clock.now(), store.fake)
        store.insert_transfer(Transfer(kind, tx, 0.0, sender, None if n == 3 else receiver))
        store.clock.advance(60)


def query(source: str, *conditions: dict[str, Any], order: tuple[tuple[str, str], ...] = (),
          page: int = 0, size: int = 100, period: dict[str, Any] | None = None) -> Any:
    everything = {"name": "created_date", "method": "between",
                  "searchParameter": ["2000-01-01T00:00:00Z", "2999-01-01T00:00:00Z"]}
    return parse_query({"searchParameters": [period or everything, *conditions],
                        "orderParameters": [{"field": f, "typeOrder": d} for f, d in order],
                        "paging": {"page": page, "size": size}}, Source(source))


def where(name: str, method: str, *values: Any) -> dict[str, Any]:
    return {"name": name, "method": method, "searchParameter": list(values)}


def oracle(store: Any, plan: Any, client_id: str = "a") -> tuple[int, list[str]]:
    records = store.transfers(client_id) if plan.source is Source.TRANSFERS else store.transactions(client_id)
    page = evaluate(plan, records)
    return page.total, [r.id for r in page.records]


def searched(store: Any, plan: Any, client_id: str = "a") -> tuple[int, list[str]]:
    page = store.search_statement(client_id, plan)
    assert all(r.client_id == client_id for r in page.records)
    return page.total, [r.id for r in page.records]


PAYMENT_QUERIES = [
    (where("shop_id", "=", "ta"),),
    (where("invoice_id", "in", "000000501", "000000505", "000000599"),),
    (where("invoice_id", "like", "%0_"),),
    (where("invoice_id", ">", "000000508"),),
    (where("invoice_id", "<=", "000000502"),),
    (where("account_id", "=", "acc-1"),),
    (where("payer_phone", "like", "770100000%"),),
    (where("payer_email", "like", "%@EXAMPLE.com"),),  # ASCII letters fold: anna@ and Brown@ match
    (where("payer_email", "=", "brown@example.com"),),  # `=` is exact: no match
    (where("reference", ">=", "5"),),
    (where("post_link", "=", "true"),),
    (where("post_link", "in", "false"),),
    (where("amount", "between", "125", "175"),),
    (where("amount", ">", 150),),
    (where("amount", "in", "100", "200.0"),),
    (where("card_mask", "like", "552204%"),),
    (where("card_mask", "=", "440563...5096"),),
    (where("client", "like", "anna%"),),  # Anna Smith and ANNA BROWN
    (where("client", "like", "иван%"),),  # Cyrillic does not fold: only the lower-case one
    (where("client", "=", ""),),
    (where("client", "<", "B"),),
    (where("installment_id", "=", ""),),
    (where("installment_id", "like", "%x%"),),
    (where("transaction_type_id", "=", "1"),),
    (where("payout_date", "<", "2999-01-01T00:00:00Z"),),  # the unsettled ones too (no payout date)
    (where("payout_date", ">", "2000-01-01"),),  # the settled ones only
    (where("payout_amount", "=", "0"),),
    (where("payout_amount", ">", "0"),),
    (where("status", "in", "CHARGE", "REFUND"),),
    (where("status", "like", "a%"),),
    (where("amount", ">=", "100"), where("client", "like", "%a%"), where("post_link", "=", "1")),
]
ORDERS = [(), (("amount", "DESC"),), (("client", "ASC"), ("created_date", "DESC")), (("payout_date", "ASC"),),
          (("post_link", "DESC"), ("invoice_id", "ASC")), (("status", "ASC"),), (("payer_email", "DESC"),)]


@pytest.mark.parametrize("conditions", PAYMENT_QUERIES, ids=lambda c: " & ".join(
    f"{x['name']} {x['method']} {x['searchParameter']}" for x in c))
def test_every_payment_filter_answers_as_the_memory_search_does(store, conditions):
    ledger(store)
    for order in ORDERS:
        for page, size in ((0, 100), (2, 3)):
            plan = query("payments", *conditions, order=order, page=page, size=size)
            assert searched(store, plan) == oracle(store, plan), (order, page, size)


def test_explicit_answers_on_every_backend(store):
    ledger(store)
    ids = {tx.invoice_id: tx.id for tx in store.transactions("a")}
    plan = query("payments", where("client", "like", "anna%"), order=(("invoice_id", "ASC"),))
    assert searched(store, plan) == (6, [ids[f"0000005{n:02d}"] for n in (0, 1, 5, 6, 10, 11)])
    # the authorised-only payments were auto-cancelled after 60 s (the search sees it as every read does)
    plan = query("payments", where("status", "=", "CANCEL_OLD"), order=(("amount", "DESC"),))
    assert searched(store, plan) == (3, [ids["000000508"], ids["000000502"], ids["000000511"]])
    plan = query("payments", where("payout_amount", "=", "0"), order=(("invoice_id", "DESC"),))
    assert searched(store, plan) == (5, [ids[f"0000005{n:02d}"] for n in (11, 9, 8, 7, 2)])
    plan = query("payments", where("payer_email", "like", "%@EXAMPLE.com"))
    assert searched(store, plan)[0] == 6  # anna@example.com and Brown@Example.com, three payments each


def test_a_page_past_the_end_still_counts_every_match(store):
    ledger(store)
    assert searched(store, query("payments", page=50, size=10)) == (12, [])
    assert searched(store, query("payments", where("amount", ">", "1e9"), page=5)) == (0, [])


def test_the_period_bounds_are_inclusive_to_the_microsecond(store):
    ledger(store)
    newest_first = store.transactions("a")
    at, one = newest_first[4].created_at, timedelta(microseconds=1)
    for start, end, expected in (
        (at, at, [newest_first[4].id]),
        (at + one, at + timedelta(hours=1), []),
        (at - one, at, [newest_first[4].id]),
        (at.astimezone(UTC), at, [newest_first[4].id]),  # the same instant written in UTC
    ):
        plan = query("payments", period=where("created_date", "between", start.isoformat(), end.isoformat()))
        assert searched(store, plan) == (len(expected), expected) == oracle(store, plan)
    plan = query("payments", where("created_date", ">", at.isoformat()))
    assert searched(store, plan) == oracle(store, plan) == (4, [tx.id for tx in newest_first[:4]])


@pytest.mark.parametrize("conditions", [
    (),
    (where("transaction_type_id", "in", "3", "4"),),
    (where("sender_card_mask", "like", "4405%"),),
    (where("receiver_card_mask", "=", "552204...6736"),),
    (where("receiver_card_mask", "=", ""),),  # the transfer without a receiver card
    (where("amount", "<=", "20"),),
])
def test_every_transfer_filter_answers_as_the_memory_search_does(store, conditions):
    ledger(store)
    for order in ((), (("transaction_type_id", "DESC"),), (("receiver_card_mask", "ASC"),)):
        plan = query("transfers", *conditions, order=order)
        assert searched(store, plan) == oracle(store, plan)
    assert searched(store, query("transfers"))[0] == 4


def test_another_merchants_records_never_come_back(store):
    ledger(store)
    plan = query("payments", where("invoice_id", "like", "%"))
    total, found = searched(store, plan, "b")
    assert total == 12 and not set(found) & {tx.id for tx in store.transactions("a")}
    assert searched(store, query("transfers"), "b") == (0, [])
    assert searched(store, plan, "nobody") == (0, [])


def test_a_period_narrows_a_big_ledger_to_its_few_records(store):
    """2,000 payments, 10 of them in the period: exactly those, in order, counted."""
    made = []
    for n in range(2000):
        made.append(pay(store, f"{n:09d}").created_at)
        store.clock.advance(60)
    start, end = made[995] - timedelta(seconds=30), made[1004] + timedelta(seconds=30)
    period = where("created_date", "between", start.isoformat(), end.isoformat())
    plan = query("payments", period=period, order=(("invoice_id", "DESC"),))
    page = store.search_statement("a", plan)
    assert page.total == 10
    assert [r.invoice_id for r in page.records] == [f"{n:09d}" for n in range(1004, 994, -1)]


def test_sqlite_answers_the_period_and_the_auth_look_up_through_indexes():
    plan = query("payments", where("amount", ">", "1"))
    compiled = compile_search("a", plan, SQLITE)
    db = open_database(":memory:")
    explained = db.execute(f"EXPLAIN QUERY PLAN {compiled.page_sql}", compiled.page_params)
    steps = " ".join(row[3] for row in explained)
    assert "USING INDEX transactions_statement (client_id=? AND stmt_created>? AND stmt_created<?)" in steps
    auths = db.execute("EXPLAIN QUERY PLAN SELECT record FROM transactions WHERE client_id = 'a' "
                       "AND stmt_status = 'AUTH'").fetchall()
    assert "USING INDEX transactions_statement_status (client_id=? AND stmt_status=?)" in auths[0][3]


@pytest.mark.parametrize(("conditions", "complaint"), [
    ((where("amount", "like", "1%"),), "'like' matches text"),
    ((where("created_date", "like", "2025%"),), "'like' matches text"),
    ((where("invoice_id", "in", *[str(n) for n in range(1001)]),), "at most 1000"),
    ((where("client", "=", "a\x00b"),), "cannot hold"),
    ((where("client", "like", "%" * 1100),), "at most 1000 characters"),
])
def test_values_no_backend_could_compare_are_refused_before_any_store_sees_them(conditions, complaint):
    with pytest.raises(EpayError) as refused:
        query("payments", *conditions)
    assert refused.value.status == 400 and complaint in refused.value.message


# -- schema version 3: a file or database of version 2 gets the statement columns of its old rows ---


def version_2_rows() -> tuple[Any, Any]:
    """A payment and a transfer of merchant a, made on the memory store (to be written as old rows)."""
    memory = BACKENDS["memory"]([SHOP_A, SHOP_B], Clock(), FakeData(7))
    ledger(memory)
    return memory.transactions("a")[0], memory.transfers("a")[0]


def test_a_version_2_sqlite_file_searches_its_old_rows_after_the_migration(tmp_path):
    path = tmp_path / "v2.db"
    payment, moved = version_2_rows()
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
        db.execute("INSERT INTO schema_version VALUES (2)")
        _migrate_to_1(db)
        _migrate_to_2(db)
        db.execute("INSERT INTO transactions (id, client_id, invoice_id, suffix, status, created_at, "
                   "version, record) VALUES (?, 'a', ?, '015096', ?, ?, ?, ?)",
                   (payment.id, payment.invoice_id, payment.status.value, payment.created_at.timestamp(),
                    payment.version, dump(payment).encode()))
        db.execute("INSERT INTO transfers (id, client_id, order_id, record) VALUES (?, 'a', ?, ?)",
                   (moved.id, moved.order_id, dump(moved)))
    store = SqliteStore([SHOP_A, SHOP_B], Clock(), FakeData(1), path=str(path))
    assert schema_version(store._db) == SCHEMA_VERSION
    exact = where("created_date", "=", payment.created_at.isoformat())
    assert store.search_statement("a", query("payments", period=exact)).records == [payment]
    by_order = query("transfers", where("invoice_id", "=", moved.order_id))
    assert store.search_statement("a", by_order).records == [moved]
    store.close()


def test_a_version_2_postgresql_schema_searches_its_old_rows_after_the_migration(pg_store_url):  # noqa: F811
    import psycopg

    from mock_epay.store.postgres import PostgresStore
    from mock_epay.store.postgres_schema import MIGRATIONS

    payment, moved = version_2_rows()
    with psycopg.connect(pg_store_url, autocommit=True) as conn:
        conn.execute(MIGRATIONS[0])
        conn.execute(MIGRATIONS[1])
        conn.execute("CREATE TABLE mock_epay_schema (version integer NOT NULL)")
        conn.execute("INSERT INTO mock_epay_schema VALUES (2)")
        conn.execute("INSERT INTO transactions (id, client_id, invoice_id, version, record) "
                     "VALUES (%s, 'a', %s, %s, %s)",
                     (payment.id, payment.invoice_id, payment.version, dump(payment)))
        conn.execute("INSERT INTO transfers (id, client_id, order_id, record) VALUES (%s, 'a', %s, %s)",
                     (moved.id, moved.order_id, dump(moved)))
    store = PostgresStore(pg_store_url, [SHOP_A, SHOP_B], Clock(), FakeData(1))
    exact = where("created_date", "=", payment.created_at.isoformat())
    assert store.search_statement("a", query("payments", period=exact)).records == [payment]
    by_order = query("transfers", where("invoice_id", "=", moved.order_id))
    assert store.search_statement("a", by_order).records == [moved]
    store.close()
