"""The outbox writes the deliveries that end in one turn of the event loop with one store call.

Against real stores (a SQLite file, a PostgreSQL schema of tests/pg_cluster.py): final saves wait
for the loop's next turn and go together (`DeliveryStore.save_deliveries`), readers of the outbox
see them written, and outside an event loop a final save is written at once.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from mock_epay.callbacks.delivery_log import DeliveryStatus
from mock_epay.callbacks.outbox import Outbox
from tests.pg_cluster import pg_store_url, postgres_url  # noqa: F401 (fixtures)
from tests.test_store_atomic import postgres_store, queued, record, sqlite_store


@pytest.fixture(params=["sqlite", "postgresql"])
def durable(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    store = (sqlite_store(tmp_path / "s.db") if request.param == "sqlite"
             else postgres_store(request.getfixturevalue("pg_store_url")))
    yield store
    store.close()


def spy_on_batches(store: Any) -> list[list[str]]:
    calls: list[list[str]] = []
    real = store.save_deliveries

    def save_deliveries(deliveries: list[Any]) -> None:
        calls.append([d.id for d in deliveries])
        real(deliveries)

    store.save_deliveries = save_deliveries
    return calls


def queue_three(store: Any, outbox: Outbox, first_invoice: int) -> list[Any]:
    deliveries = []
    for number in range(3):
        delivery = queued(store, record(store, f"{first_invoice + number:09d}"))
        outbox.save(delivery)
        deliveries.append(delivery)
    return deliveries


async def test_deliveries_ending_in_one_loop_turn_are_saved_with_one_call(durable):
    outbox = Outbox(durable, durable.clock, callback_timeout=10)
    calls = spy_on_batches(durable)
    deliveries = queue_three(durable, outbox, 710)
    for delivery in deliveries:
        delivery.status = DeliveryStatus.DELIVERED
        outbox.save(delivery)
    assert calls == [] and {d.status for d in durable.deliveries()} == {"pending"}  # claimed, not yet written
    await asyncio.sleep(0)
    assert calls == [[d.id for d in deliveries]]
    assert {d.id: d.status for d in durable.deliveries()} == {d.id: "delivered" for d in deliveries}


async def test_the_outbox_writes_what_waits_before_it_reads_or_forgets(durable):
    outbox = Outbox(durable, durable.clock, callback_timeout=10)
    deliveries = queue_three(durable, outbox, 720)
    deliveries[0].status = DeliveryStatus.FAILED
    outbox.save(deliveries[0])
    assert [d.status for d in outbox.load()] == [DeliveryStatus.FAILED, DeliveryStatus.PENDING,
                                                  DeliveryStatus.PENDING]
    deliveries[1].status = DeliveryStatus.DELIVERED
    outbox.save(deliveries[1])
    outbox.forget(None)  # final ones go, even the one saved just now; pending ones stay
    assert [d.id for d in durable.deliveries()] == [deliveries[2].id]


def test_without_an_event_loop_a_final_save_is_written_at_once(durable):
    outbox = Outbox(durable, durable.clock, callback_timeout=10)
    calls = spy_on_batches(durable)
    delivery = queue_three(durable, outbox, 730)[0]
    delivery.status = DeliveryStatus.DELIVERED
    outbox.save(delivery)
    assert calls == [] and durable.stored_delivery(delivery.id).status == "delivered"
