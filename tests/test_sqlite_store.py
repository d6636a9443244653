"""The SQLite backend's own promises: the schema is versioned, state outlives the process, reset clears it."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from mock_epay.cli import main
from mock_epay.core.clock import Clock
from mock_epay.core.fakedata import FakeData
from mock_epay.gateway.models import APPROVED
from mock_epay.settings import ConfigError
from mock_epay.store import sqlite_schema
from mock_epay.store.base import StoredDelivery
from mock_epay.store.sqlite import SqliteStore
from mock_epay.store.sqlite_schema import PLAIN_ROWID_TABLES, SCHEMA_VERSION, open_database, schema_version
from mock_epay.store.sqlite_state import trim_step
from tests.test_store_contract import SEED_A, SHOP_A, SHOP_B, attempt, token


def open_file(path: Path, clock: Clock | None = None) -> SqliteStore:
    return SqliteStore([SHOP_A, SHOP_B], clock or Clock(), FakeData(), path=str(path))


def pay(store: SqliteStore, invoice_id: str):
    paying = attempt(invoice_id)
    return store.record_payment(store.reserve_invoice("a", invoice_id), paying, APPROVED,
                                store.make_card("4405639704015096"))


def test_a_new_file_gets_the_current_schema_in_wal_mode(tmp_path):
    store = open_file(tmp_path / "s.db")
    assert schema_version(store._db) == SCHEMA_VERSION
    assert store._one("PRAGMA journal_mode")[0] == "wal"
    assert store._one("PRAGMA synchronous")[0] == 1  # NORMAL


def test_a_file_from_a_newer_mock_is_refused_with_both_versions(tmp_path):
    path = tmp_path / "s.db"
    open_file(path).close()
    with sqlite3.connect(path) as db:
        db.execute("UPDATE schema_version SET version = 99")
    with pytest.raises(ConfigError, match=f"schema version 99, newer than this mock-epay understands "
                                          f"\\({SCHEMA_VERSION}\\)"):
        open_database(str(path))


def test_payments_tokens_deactivations_and_the_clock_outlive_the_process(tmp_path):
    path = tmp_path / "s.db"
    first = open_file(path)
    paid = pay(first, "000000901")
    first.add_token(token(first, "T1", ttl=600))
    first.deactivate_card("a", SEED_A)
    first.clock.advance(120)
    first.close()

    clock = Clock()
    again = open_file(path, clock)
    assert clock.offset == 120
    assert again.transaction("a", paid.id) == paid
    assert again.token("T1") is not None
    assert not again.card("a", SEED_A).active  # the unchanged config does not re-save it
    with pytest.raises(Exception, match="dublicate"):
        again.reserve_invoice("a", "000000901")


def test_a_reservation_left_by_a_dead_process_is_cleared_when_the_file_is_opened(tmp_path):
    path = tmp_path / "s.db"
    first = open_file(path)
    first.reserve_invoice("a", "000000902")  # the process "dies" mid-payment
    first._db.execute("UPDATE reservations SET pid = 999999999")
    first.close()
    open_file(path).reserve_invoice("a", "000000902")


def test_the_journal_stays_bounded_on_disk(tmp_path, monkeypatch):
    store = SqliteStore([SHOP_A], Clock(), FakeData(), journal_size=5, path=str(tmp_path / "s.db"))
    for n in range(150):
        store.journal_request((n, "GET", f"/{n}", 200, 0.1, b"", b""))
    assert store._one("SELECT COUNT(*) FROM journal")[0] == 5  # batches of 64 went to disk, trimmed
    store.add_token(token(store, "T0"))  # entries that just came wait for their batch
    assert store._one("SELECT MAX(path) FROM journal")[0] == "/127"
    monkeypatch.setattr("mock_epay.store.sqlite_journal.JOURNAL_DELAY", 0.0)  # as if a second had passed
    store.add_token(token(store, "T1"))  # the next write carries the entries that waited long enough
    assert [row[0] for row in store._all("SELECT path FROM journal ORDER BY seq")] == [
        f"/{n}" for n in range(145, 150)]


def test_mock_epay_reset_clears_a_durable_sandbox(tmp_path, capsys):
    path = tmp_path / "s.db"
    first = open_file(path)
    paid = pay(first, "000000903")
    first.close()
    assert main(["reset", "--store", f"sqlite://{path}"]) == 0
    assert "cleared" in capsys.readouterr().out
    again = open_file(path)
    assert again.find_transaction(paid.id) is None
    again.reserve_invoice("a", "000000903")


def test_reset_of_a_store_url_with_no_file_is_one_line_and_exit_2(capsys):
    assert main(["reset", "--store", "sqlite://"]) == 2
    assert "names no file" in capsys.readouterr().err


def test_version_4_drops_the_indexes_no_query_reads(tmp_path):
    path = tmp_path / "s.db"
    open_file(path).close()
    with sqlite3.connect(path) as db:  # a version 3 file still has them
        db.execute("CREATE INDEX transactions_status ON transactions (status)")
        db.execute("CREATE INDEX deliveries_invoice ON deliveries (invoice_id)")
        db.execute("UPDATE schema_version SET version = 3")
    store = open_file(path)
    names = {row[0] for row in store._all("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert schema_version(store._db) == SCHEMA_VERSION
    assert not names & {"transactions_status", "deliveries_invoice"}


def test_version_5_indexes_succeeded_by_transaction(tmp_path):
    path = tmp_path / "s.db"
    open_file(path).close()
    with sqlite3.connect(path) as db:  # a version 4 file has no such index
        db.execute("DROP INDEX succeeded_transaction")
        db.execute("UPDATE schema_version SET version = 4")
    store = open_file(path)
    names = {row[0] for row in store._all("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert schema_version(store._db) == SCHEMA_VERSION
    assert "succeeded_transaction" in names


def test_a_payment_at_the_caps_scans_no_table(tmp_path):
    """Once the caps are reached each payment also drops the oldest rows: every statement it runs
    searches an index or a rowid range (a whole-table scan made each payment cost more the larger
    the cap, 1,000 instead of 3,000 req/s at the default one)."""
    store = SqliteStore([SHOP_A, SHOP_B], Clock(), FakeData(), max_transactions=100, max_tokens=100,
                        path=str(tmp_path / "s.db"))
    for n in range(120):
        store.add_token(token(store, f"T{n}"))
        pay(store, f"{n:09d}")
    statements: list[str] = []
    store._db.set_trace_callback(statements.append)
    store.add_token(token(store, "T999"))
    pay(store, "000000999")
    store._db.set_trace_callback(None)
    writes = [sql for sql in statements if sql.split()[0].upper() in {"DELETE", "UPDATE", "INSERT"}]
    assert any(sql.startswith("DELETE FROM succeeded") for sql in writes)
    for sql in writes:
        plan = " | ".join(row[-1] for row in store._all(f"EXPLAIN QUERY PLAN {sql}"))
        assert not re.search(r"\bSCAN (?!CONSTANT ROW)", plan), (sql, plan)


def test_a_capped_store_drops_the_oldest_success_with_its_transaction(tmp_path):
    store = SqliteStore([SHOP_A, SHOP_B], Clock(), FakeData(), max_transactions=100,
                        path=str(tmp_path / "s.db"))
    invoices = [f"{n:09d}" for n in range(1000, 1130)]
    for invoice_id in invoices:
        pay(store, invoice_id)
    kept = {row[0] for row in store._all("SELECT suffix FROM succeeded")}
    assert kept == {invoice_id[-6:] for invoice_id in invoices[30:]}
    assert store._one("SELECT COUNT(*) FROM transactions")[0] == 100
    assert not store.invoice_succeeded("a", invoices[0])  # forgotten with its transaction, as in memory
    assert store.invoice_succeeded("a", invoices[-1])


def traced(store: SqliteStore, action: Callable[[], object]) -> list[str]:
    """The SQL statements `action` runs on the store's connection."""
    statements: list[str] = []
    store._db.set_trace_callback(statements.append)
    try:
        action()
    finally:
        store._db.set_trace_callback(None)
    return statements


def delivery(n: int, status: str = "pending") -> StoredDelivery:
    """An outbox row for invoice `n`, due at 100."""
    return StoredDelivery(id=f"d{n}", client_id="a", invoice_id=f"{n}", transaction_id=f"t{n}",
                          status=status, due_at=100.0, record=b"{}")


def test_the_delivery_logs_cap_reads_only_final_rows_however_many_are_pending(tmp_path):
    """A postLink that is down keeps every callback pending for its retry window: the cap's DELETE
    goes through the index of final rows, so the pending ones are neither dropped nor walked."""
    store = SqliteStore([SHOP_A, SHOP_B], Clock(), FakeData(), delivery_log_size=10,
                        path=str(tmp_path / "s.db"))
    for n in range(50):
        store.save_delivery(delivery(n, "pending"))
    statements = traced(store, lambda: [store.save_delivery(delivery(n, "delivered")) for n in range(50, 80)])
    trims = [sql for sql in statements if sql.startswith("DELETE FROM deliveries")]
    assert trims
    for sql in trims:
        plan = " | ".join(row[-1] for row in store._all(f"EXPLAIN QUERY PLAN {sql}"))
        assert "USING INDEX deliveries_final" in plan, plan
    kept = store.deliveries()
    assert [d.id for d in kept if d.status == "pending"] == [f"d{n}" for n in range(50)]
    assert len([d for d in kept if d.status == "delivered"]) <= 10


def test_a_callback_due_at_once_is_queued_claimed_by_one_insert_within_the_logs_cap(tmp_path):
    """The outbox row of a payment's callback is inserted already claimed (no UPDATE, no row read
    back), and queuing still trims the delivery log's final rows past its cap."""
    store = SqliteStore([SHOP_A, SHOP_B], Clock(), FakeData(), delivery_log_size=5,
                        path=str(tmp_path / "s.db"))
    for n in range(10):
        store.save_delivery(delivery(n, "delivered"))
    queued: list[bool] = []
    statements = traced(store, lambda: queued.append(store.queue_delivery(delivery(10), "me", 100.0, 30.0)))
    assert queued == [True]
    writes = [sql.split()[0] for sql in statements if sql.split()[0] in {"INSERT", "UPDATE", "DELETE"}]
    assert writes == ["INSERT", "DELETE"]
    assert store.claim_delivery("d10", "other", 100.0, 30.0) is None  # claimed for "me" until 130
    assert store.claim_delivery("d10", "other", 131.0, 30.0) is not None
    assert len([d for d in store.deliveries() if d.status == "delivered"]) <= 5


def test_a_large_delivery_log_is_trimmed_in_steps_never_past_a_sixteenth_of_its_cap(tmp_path):
    """Cap 320: the final rows are trimmed once every 20 outbox rows, so the table holds at most
    320 + 19 final rows at any time and exactly the cap after a trim; pending rows stay."""
    store = SqliteStore([SHOP_A, SHOP_B], Clock(), FakeData(), delivery_log_size=320,
                        path=str(tmp_path / "s.db"))
    assert trim_step(320) == 20 and trim_step(10) == 1 and trim_step(5000) == 64
    store.save_delivery(delivery(0, "pending"))
    most = 0
    for n in range(1, 1000):
        statements = traced(store, lambda n=n: store.save_delivery(delivery(n, "delivered")))
        final = [d for d in store.deliveries() if d.status == "delivered"]
        most = max(most, len(final))
        if any(sql.startswith("DELETE FROM deliveries") for sql in statements):
            assert len(final) == 320 and final[-1].id == f"d{n}"
    assert 320 < most <= 320 + 19
    assert [d.id for d in store.deliveries() if d.status == "pending"] == ["d0"]


def test_version_6_indexes_final_deliveries(tmp_path):
    path = tmp_path / "s.db"
    open_file(path).close()
    with sqlite3.connect(path) as db:
        db.execute("DROP INDEX deliveries_final")
        db.execute("UPDATE schema_version SET version = 5")
    store = open_file(path)
    names = {row[0] for row in store._all("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert schema_version(store._db) == SCHEMA_VERSION and "deliveries_final" in names


def test_a_claim_returns_the_claimed_row_in_one_statement(tmp_path):
    store = open_file(tmp_path / "s.db")
    store.save_delivery(delivery(1))
    claimed = store.claim_delivery("d1", "me", 100.0, 30.0)
    assert claimed is not None and claimed.id == "d1" and claimed.status == "pending"
    assert store.claim_delivery("d1", "other", 101.0, 30.0) is None  # my lease still runs
    assert store.claim_delivery("d1", "me", 101.0, 30.0) is not None  # its owner may claim again


def test_data_version_is_read_once_per_write_transaction_and_others_are_still_seen(tmp_path):
    """Inside BEGIN IMMEDIATE no other connection can commit: one PRAGMA data_version per
    transaction; outside one, another process's write still drops the cached merchants."""
    first, second = open_file(tmp_path / "s.db"), open_file(tmp_path / "s.db")
    statements: list[str] = []
    first._db.set_trace_callback(statements.append)
    try:
        with first.atomic():
            for _ in range(3):
                assert first.merchant(SHOP_A.client_id) is not None
                first.shared_generation()
        assert sum("data_version" in s for s in statements) == 1
        second.delete_merchant_row(SHOP_B.client_id)
        assert first.merchant(SHOP_B.client_id) is None
    finally:
        first._db.set_trace_callback(None)
        first.close()
        second.close()


def test_checkpoint_restarts_a_long_wal(tmp_path, monkeypatch):
    """A WAL of RESTART_PAGES or more is finished by RESTART, so the next commit starts it over."""
    from mock_epay.store import sqlite_checkpoint

    monkeypatch.setattr(sqlite_checkpoint, "RESTART_PAGES", 10)
    path = str(tmp_path / "wal.db")
    writer = open_database(path)
    writer.execute("PRAGMA wal_autocheckpoint=0")
    writer.execute("CREATE TABLE t (v BLOB)")
    for _ in range(30):
        writer.execute("INSERT INTO t VALUES (?)", (b"x" * 3000,))
    other = sqlite3.connect(path, isolation_level=None)
    try:
        frames, copied = sqlite_checkpoint.checkpoint(other) or (0, -1)
        assert frames == copied >= 30  # copied, then restarted
        writer.execute("INSERT INTO t VALUES (?)", (b"y",))  # starts the WAL from its beginning
        _busy, pages, _copied = other.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        assert pages < 10
        assert sqlite_checkpoint.checkpoint(other) == (pages, pages)  # a short WAL: PASSIVE only
    finally:
        other.close()
        writer.close()


def test_the_wal_file_is_cut_back_after_a_burst(tmp_path, monkeypatch):
    from mock_epay.store import sqlite_schema

    monkeypatch.setattr(sqlite_schema, "WAL_SIZE_LIMIT_BYTES", 16 * 1024 * 1024)  # 64 MB: a slow burst
    limit = sqlite_schema.WAL_SIZE_LIMIT_BYTES
    db = open_database(str(tmp_path / "s.db"))
    wal = tmp_path / "s.db-wal"
    db.execute("PRAGMA wal_autocheckpoint=0")  # the server checkpoints from its own thread
    for number in range(24):  # a burst: 24 MB of WAL before any checkpoint
        db.execute("INSERT INTO kv (key, value) VALUES (?, ?)", (f"k{number}", "x" * 1024 * 1024))
    assert wal.stat().st_size > limit
    db.execute("PRAGMA wal_checkpoint(RESTART)")  # what the checkpoint thread runs on a long WAL
    db.execute("INSERT INTO kv (key, value) VALUES ('after', '')")  # the next commit starts the WAL over
    assert wal.stat().st_size <= limit
    db.close()


def test_an_idle_wal_is_emptied_by_the_checkpoint_thread_not_cut_under_load(tmp_path):
    """A round that finds the WAL changed since the last one leaves the file as it is; one that
    finds it fully copied and unchanged since the last round empties it."""
    from mock_epay.store import sqlite_checkpoint

    path = str(tmp_path / "s.db")
    wal = tmp_path / "s.db-wal"
    writer = open_database(path)
    writer.execute("PRAGMA wal_autocheckpoint=0")
    for number in range(3):  # 3 MB of WAL: over IDLE_TRUNCATE_BYTES, under RESTART_PAGES
        writer.execute("INSERT INTO kv (key, value) VALUES (?, ?)", (f"k{number}", "x" * 1024 * 1024))
    other = sqlite3.connect(path, isolation_level=None)
    try:
        seen = sqlite_checkpoint.checkpoint_round(other, str(wal), None)
        assert seen is not None and seen[0] == seen[1] > 0  # copied, but not known to stand still yet
        size = wal.stat().st_size
        writer.execute("INSERT INTO kv (key, value) VALUES ('busy', '')")  # written since that round
        seen = sqlite_checkpoint.checkpoint_round(other, str(wal), seen)
        assert seen is not None and wal.stat().st_size >= size  # still written to: left alone
        assert sqlite_checkpoint.checkpoint_round(other, str(wal), seen) is None  # stood still: emptied
        assert wal.stat().st_size == 0
        writer.execute("INSERT INTO kv (key, value) VALUES ('after', 'x')")  # the WAL starts again
        assert writer.execute("SELECT count(*) FROM kv").fetchone()[0] == 5
        assert wal.stat().st_size > 0
    finally:
        other.close()
        writer.close()


def test_tokens_are_capped_in_steps_never_past_a_sixteenth_of_the_cap(tmp_path):
    """Cap 320: the oldest tokens go once every 20 issued, so the file holds at most 320 + 19 and
    exactly the newest 320 after each trim; a token dropped by the cap is not found."""
    store = SqliteStore([SHOP_A, SHOP_B], Clock(), FakeData(), max_tokens=320, path=str(tmp_path / "s.db"))
    most = 0
    for n in range(1000):
        statements = traced(store, lambda n=n: store.add_token(token(store, f"T{n}", ttl=3600)))
        count = store._one("SELECT COUNT(*) FROM tokens")[0]
        most = max(most, count)
        if any(sql.startswith("DELETE FROM tokens WHERE seq") for sql in statements):
            assert count == 320
    assert 320 < most <= 320 + 19
    store._tokens.clear()  # the process's cache: read the file
    assert store.token("T999") is not None and store.token("T0") is None


def test_tokens_are_capped_again_after_a_reset_numbers_them_from_one(tmp_path):
    store = SqliteStore([SHOP_A, SHOP_B], Clock(), FakeData(), max_tokens=20, path=str(tmp_path / "s.db"))
    for n in range(100):
        store.add_token(token(store, f"T{n}", ttl=3600))
    store.reset()
    for n in range(100):
        store.add_token(token(store, f"U{n}", ttl=3600))
    assert store._one("SELECT COUNT(*) FROM tokens")[0] <= 20 + trim_step(20) - 1


def test_version_7_rebuilds_the_busy_tables_without_autoincrement_and_keeps_their_rows(tmp_path, monkeypatch):
    """A version 6 file: tokens, transactions, deliveries and the journal numbered by AUTOINCREMENT.
    After the upgrade their rows, generated columns and indexes are all there, and new rows are
    numbered after the kept ones."""
    path = tmp_path / "s.db"
    monkeypatch.setattr(sqlite_schema, "SCHEMA_VERSION", 6)
    first = open_file(path)
    first.add_token(token(first, "OLD", ttl=3600))
    paid = pay(first, "000000700")
    first.journal_request((1, "GET", "/old", 200, 0.1, b"", b"", "a"))
    first.flush_journal()
    for table in PLAIN_ROWID_TABLES:
        assert "AUTOINCREMENT" in first._one("SELECT sql FROM sqlite_master WHERE name = ?", (table,))[0]
    first.close()
    monkeypatch.undo()
    store = open_file(path)
    assert schema_version(store._db) == SCHEMA_VERSION
    for table in PLAIN_ROWID_TABLES:
        assert "AUTOINCREMENT" not in store._one("SELECT sql FROM sqlite_master WHERE name = ?", (table,))[0]
    names = {row[0] for row in store._all("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert {"tokens_expiry", "transactions_invoice", "transactions_statement", "deliveries_final"} <= names
    assert store.token("OLD") is not None and store.find_transaction(paid.id) == paid
    assert store._one("SELECT stmt_status FROM transactions WHERE id = ?", (paid.id,))[0] == paid.status.value
    assert [e[2] for e in store.journal()] == ["/old"]
    with pytest.raises(Exception, match="dublicate"):
        store.reserve_invoice("a", "000000700")
    kept = store._one("SELECT MAX(seq) FROM transactions")[0]
    again = pay(store, "000000701")
    assert store._one("SELECT seq FROM transactions WHERE id = ?", (again.id,))[0] == kept + 1
