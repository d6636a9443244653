"""The PostgreSQL store's retention caps trim a bounded range per write and still keep what they kept.

`mock_epay.store.postgres_trim` bounds each cap's DELETE from below (how far this process trimmed
already) and scans from the start only on every FULL_PASS_EVERY-th write; these tests check the
rows kept against the caps on a real PostgreSQL (tests/pg_cluster.py), including the rows a
bounded range passes over (a delivery that was pending, a row committed behind the range).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from mock_epay.core.clock import Clock
from mock_epay.core.fakedata import FakeData
from mock_epay.gateway.models import Token, TokenKind
from mock_epay.settings import DEFAULT_MERCHANT
from mock_epay.store import postgres_trim
from mock_epay.store.base import StoredDelivery
from mock_epay.store.postgres import PostgresStore
from mock_epay.store.postgres_trim import TrimWindows
from tests.pg_cluster import pg_store_url, postgres_url  # noqa: F401  (fixtures)

CLIENT = DEFAULT_MERCHANT.client_id


def test_the_first_write_and_every_full_pass_write_start_from_zero(monkeypatch):
    monkeypatch.setattr(postgres_trim, "FULL_PASS_EVERY", 4)
    trims = TrimWindows()
    lows = []
    for seq in range(1, 11):
        lows.append(trims.low("t"))
        trims.trimmed("t", seq + 100, 100)
    assert lows == [0, 1, 2, 3, 0, 5, 6, 7, 0, 9]


def test_a_trim_bound_only_moves_up_and_tables_are_apart():
    trims = TrimWindows()
    trims.low("a"), trims.low("b")
    trims.trimmed("a", 50, 10)
    trims.trimmed("a", 30, 10)  # an older row updated: its range ends lower, the bound stays
    trims.trimmed("b", 5, 10)  # below the cap: nothing trimmed yet
    assert (trims.low("a"), trims.low("b")) == (40, 0)


@pytest.fixture
def store(pg_store_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:  # noqa: F811
    monkeypatch.setattr(postgres_trim, "FULL_PASS_EVERY", 8)
    opened = PostgresStore(pg_store_url, [DEFAULT_MERCHANT], Clock(), FakeData(3), max_tokens=10,
                           delivery_log_size=10)
    yield opened
    opened.close()


def delivery(number: int, status: str) -> StoredDelivery:
    return StoredDelivery(f"d{number}", CLIENT, f"inv{number}", f"tx{number}", status, 0.0, b"{}")


def test_the_delivery_log_keeps_its_newest_final_deliveries_exactly_through_many_trims(store):
    for number in range(100):
        store.save_delivery(delivery(number, "delivered"))
    assert [d.id for d in store.deliveries()] == [f"d{n}" for n in range(90, 100)]


def test_a_delivery_passed_while_pending_goes_at_the_next_full_pass_once_final(store):
    store.save_delivery(delivery(0, "pending"))
    for number in range(1, 31):
        store.save_delivery(delivery(number, "delivered"))
    assert [d.id for d in store.deliveries()][0] == "d0"  # pending: never dropped
    store.save_delivery(delivery(0, "delivered"))  # final now, but below this process's bound
    for number in range(31, 39):  # at most FULL_PASS_EVERY writes later
        store.save_delivery(delivery(number, "delivered"))
    kept = [d.id for d in store.deliveries()]
    # (d0's update drew a seq of its own, as every upsert does, so the cap's range holds one fewer)
    assert "d0" not in kept and kept == [f"d{n}" for n in range(30, 39)]


def test_a_row_committed_behind_the_bound_goes_at_the_next_full_pass(store):
    for number in range(40):
        store.save_delivery(delivery(number, "delivered"))
    # As another process's row whose seq was drawn early and committed after this one trimmed past it:
    store._conn().execute(
        "INSERT INTO deliveries (id, seq, client_id, invoice_id, transaction_id, status, due_at, record) "
        "VALUES ('late', 1, %s, 'inv', 'tx', 'delivered', 0, '\\x7b7d')", (CLIENT,))
    assert "late" in [d.id for d in store.deliveries()]
    for number in range(40, 48):
        store.save_delivery(delivery(number, "delivered"))
    assert [d.id for d in store.deliveries()] == [f"d{n}" for n in range(38, 48)]


def test_tokens_keep_the_newest_max_tokens_through_many_trims(store):
    expires = store.clock.now() + timedelta(minutes=20)
    for number in range(60):
        store.add_token(Token(f"T{number}", CLIENT, TokenKind.SERVICE, "webapi", expires, 1200))
    kept = [row[0] for row in store._conn().execute("SELECT access_token FROM tokens ORDER BY seq")]
    assert kept == [f"T{n}" for n in range(50, 60)]
