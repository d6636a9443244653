"""`store.atomic()`: a payment, its reservation and its callback's outbox row commit as one transaction.

On SQLite a token+payment costs three commits (the token, the payment with its callback, the
callback's final state), counted here with the connection's trace callback; an exception inside
a scope leaves nothing behind on the SQL backends. The callback queued inside the payment's scope
is claimed in the same transaction, so no other process can send its first attempt.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from mock_epay.callbacks.delivery_log import Delivery, DeliveryKind, to_stored
from mock_epay.callbacks.outbox import Outbox
from mock_epay.core.clock import Clock
from mock_epay.core.fakedata import FakeData
from mock_epay.gateway.models import APPROVED
from mock_epay.store.sqlite import SqliteStore
from tests.pg_cluster import pg_store_url, postgres_url  # noqa: F401 (fixtures)
from tests.test_store_contract import SHOP_A, SHOP_B, attempt, refused_as_duplicate


def sqlite_store(path: Path) -> SqliteStore:
    return SqliteStore([SHOP_A, SHOP_B], Clock(), FakeData(), path=str(path))


def postgres_store(url: str) -> Any:
    from mock_epay.store.postgres import PostgresStore

    return PostgresStore(url, [SHOP_A, SHOP_B], Clock(), FakeData())


def record(store: Any, invoice_id: str) -> Any:
    reservation = store.reserve_invoice("a", invoice_id)
    tx = store.record_payment(reservation, attempt(invoice_id), APPROVED, store.make_card("4405639704015096"))
    store.release_invoice(reservation)
    return tx


def queued(store: Any, tx: Any) -> Delivery:
    return Delivery(DeliveryKind.PAYMENT, tx.client_id, tx.invoice_id, tx.id, "http://127.0.0.1:9/cb",
                    {"invoiceId": tx.invoice_id}, created_at=datetime.now(store.clock.now().tzinfo))


@pytest.fixture(params=["sqlite", "postgresql"])
def durable(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    if request.param == "sqlite":
        store = sqlite_store(tmp_path / "s.db")
    else:
        store = postgres_store(request.getfixturevalue("pg_store_url"))
    yield store
    store.close()


def test_a_payment_and_its_callback_are_one_commit_on_sqlite(tmp_path):
    store = sqlite_store(tmp_path / "s.db")
    outbox = Outbox(store, store.clock, callback_timeout=10)
    statements: list[str] = []
    store._db.set_trace_callback(statements.append)
    with store.atomic():
        tx = record(store, "000000701")
        outbox.save(queued(store, tx))
    store._db.set_trace_callback(None)
    assert sum(s.startswith("COMMIT") for s in statements) == 1
    assert not [s for s in statements if "reservations" in s and s.startswith(("INSERT", "DELETE"))]
    assert store.transaction("a", tx.id) is not None and store.deliveries()[0].transaction_id == tx.id


def test_an_error_inside_a_scope_leaves_nothing_behind(durable):
    with pytest.raises(RuntimeError), durable.atomic():
        tx = record(durable, "000000702")
        raise RuntimeError("the process fails before the scope ends")
    assert durable.transaction("a", tx.id) is None
    assert not durable.invoice_succeeded("a", "000000702")
    assert record(durable, "000000702").invoice_id == "000000702"  # not reserved, not a duplicate


def test_a_scope_keeps_the_invariants(durable):
    with durable.atomic():
        record(durable, "000000703")
        assert refused_as_duplicate(lambda: durable.reserve_invoice("a", "000000703"))
        held = durable.reserve_invoice("a", "000000704")  # still held when the scope commits
    assert refused_as_duplicate(lambda: durable.reserve_invoice("a", "000000704"))
    durable.release_invoice(held)
    assert durable.reserve_invoice("a", "000000704").invoice_id == "000000704"


def test_nested_scopes_commit_once_with_the_outer_one(durable):
    with pytest.raises(RuntimeError), durable.atomic():
        with durable.atomic():
            tx = record(durable, "000000705")
        assert durable.transaction("a", tx.id) is not None  # visible inside the outer scope
        raise RuntimeError("the outer scope fails")
    assert durable.transaction("a", tx.id) is None


def test_a_callback_queued_with_its_payment_is_claimed_by_this_process(tmp_path):
    store = sqlite_store(tmp_path / "s.db")
    mine = Outbox(store, store.clock, callback_timeout=10)
    with store.atomic():
        delivery = queued(store, record(store, "000000706"))
        mine.save(delivery)
    now = store.clock.now().timestamp()
    assert store.claim_delivery(delivery.id, "another process", now, 20) is None
    assert mine.claim(delivery)  # its first attempt uses the claim made as it was queued
    # the claim has a lease: a dead process's runs out
    assert store.claimable_delivery_ids(now + 21) == [delivery.id]


def test_a_poll_adopts_only_unknown_deliveries_due_before_the_next_one(durable):
    """A process adopts the orphans (pending, unclaimed) due soon; one due later waits for a later
    poll, and one this process knows is never read in full."""
    store = durable
    now = store.clock.now().timestamp()
    ids = {}
    for name, due_in in (("now", 0.0), ("soon", 5.0), ("later", 3600.0)):
        delivery = queued(store, record(store, f"00000072{len(ids)}"))
        stored = to_stored(delivery, now + due_in)
        store.save_delivery(stored)  # saved with no claim: as a dead process's waiting delivery
        ids[name] = delivery.id
    outbox = Outbox(store, store.clock, callback_timeout=10)
    assert {d.id for d in outbox.orphans(set(), due_within=10)} == {ids["now"], ids["soon"]}
    assert [d.id for d in outbox.orphans({ids["now"]}, due_within=10)] == [ids["soon"]]
    assert {d.id for d in outbox.orphans(set())} == set(ids.values())
    assert store.claimable_delivery_ids(now, due_by=now + 1) == [ids["now"]]


# -- PostgreSQL: the scope's BEGIN rides with its first statements ----------------------------------


def test_a_scope_that_starts_with_another_call_than_a_reservation_is_still_one_transaction(pg_store_url):  # noqa: F811
    from mock_epay.store.base import StoredDelivery

    store = postgres_store(pg_store_url)
    with pytest.raises(RuntimeError), store.atomic():
        store.save_delivery(StoredDelivery("d1", "a", "inv", "tx", "pending", 0.0, b"{}"))
        raise RuntimeError("the scope fails")
    assert store.stored_delivery("d1") is None
    with store.atomic():
        pass  # nothing ran: nothing to commit, and the connection stays usable
    assert record(store, "000000707").invoice_id == "000000707"
    store.close()


def test_a_reservation_waiting_on_another_threads_lock_does_not_stop_that_thread(pg_store_url):  # noqa: F811
    import threading

    store = postgres_store(pg_store_url)
    held, waiting_done = threading.Event(), threading.Event()
    outcome: dict[str, Any] = {}

    def holder() -> None:
        with store.atomic():
            reservation = store.reserve_invoice("a", "000000708")
            held.set()
            waiting_done.wait(0.5)  # the other thread is blocked on this reservation's row meanwhile
            outcome["tx"] = store.record_payment(reservation, attempt("000000708"), APPROVED,
                                                 store.make_card("4405639704015096"))

    def contender() -> None:
        held.wait(10)
        outcome["duplicate"] = refused_as_duplicate(lambda: store.reserve_invoice("a", "000000708"))
        waiting_done.set()

    threads = [threading.Thread(target=holder), threading.Thread(target=contender)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not any(thread.is_alive() for thread in threads), "a blocked reservation stopped the holder"
    assert outcome["duplicate"] and store.transaction("a", outcome["tx"].id) is not None
    store.close()
