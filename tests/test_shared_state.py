"""Two stores on one database (as two processes have): the outbox claims, scenario state and clock are shared.

Each test opens the same SQLite file or PostgreSQL schema twice, each with its own connection and
clock, which is what two server processes on one store see.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from mock_epay.core.clock import Clock
from mock_epay.core.fakedata import FakeData
from mock_epay.scenarios.engine import ScenarioEngine
from mock_epay.settings import DEFAULT_MERCHANT
from mock_epay.store.base import StoredDelivery
from mock_epay.store.open import StoreArgs, open_store
from tests.pg_cluster import fresh_url, postgres_url  # noqa: F401  (fixture)
from tests.test_scenario_matching import attempt as attempt_for

CLIENT = DEFAULT_MERCHANT.client_id
OTHER = {"name": "unrelated", "description": "a rule nothing here matches", "match": {"amount": 1},
         "outcome": {"result": "approve"}}
SEQUENCE = {"name": "decline-then-approve", "description": "first declined, then approved",
            "match": {"amount": 4321},
            "outcomes": [{"result": "decline", "reasonCode": 465}, {"result": "approve"}]}


@pytest.fixture(params=["sqlite", "postgresql"])
def open_twice(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[..., Any]]:
    """Opens the same durable store again on each call (a new connection and, unless given, clock)."""
    if request.param == "postgresql":
        request.getfixturevalue("postgres_url")
        url = fresh_url()
    else:
        url = f"sqlite://{tmp_path / 'shared.db'}"
    opened: list[Any] = []

    def again(clock: Clock | None = None, delivery_log_size: int = 5000) -> Any:
        store = open_store(url, StoreArgs([DEFAULT_MERCHANT], clock or Clock(), FakeData(),
                                          delivery_log_size=delivery_log_size))
        opened.append(store)
        return store

    yield again
    for store in opened:
        store.close()


def delivery(number: int, status: str = "pending", due_at: float = 0.0) -> StoredDelivery:
    return StoredDelivery(f"d{number}", CLIENT, f"inv{number}", f"tx{number}", status, due_at, b"{}")


def test_one_attempt_is_claimed_by_exactly_one_of_two_stores_racing(open_twice):
    first, second = open_twice(), open_twice()
    first.save_delivery(delivery(1))
    won: list[str] = []
    barrier = threading.Barrier(8)

    def claim(store: Any, owner: str) -> None:
        barrier.wait()
        if store.claim_delivery("d1", owner, 100.0, 30.0) is not None:
            won.append(owner)

    threads = [threading.Thread(target=claim, args=((first, second)[n % 2], f"owner{n}")) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(won) == 1
    # nobody else while the lease runs; another owner once it ran out
    assert second.claim_delivery("d1", "late", 120.0, 30.0) is None
    assert second.claimable_delivery_ids(120.0) == []
    assert second.claimable_delivery_ids(131.0) == ["d1"]
    assert second.claim_delivery("d1", "late", 131.0, 30.0) is not None


def test_a_delivery_not_yet_due_or_final_is_not_claimed(open_twice):
    store = open_twice()
    store.save_delivery(delivery(1, due_at=500.0))
    store.save_delivery(delivery(2, status="delivered"))
    assert store.claim_delivery("d1", "me", 100.0, 30.0) is None
    assert store.claim_delivery("d2", "me", 100.0, 30.0) is None
    assert store.claim_delivery("d1", "me", 500.0, 30.0) is not None


def test_the_delivery_log_keeps_its_size_but_never_drops_a_pending_delivery(open_twice):
    store = open_twice(delivery_log_size=10)
    store.save_delivery(delivery(0))
    for number in range(1, 31):
        store.save_delivery(delivery(number, status="delivered"))
    kept = store.deliveries()
    assert kept[0].id == "d0" and kept[0].status == "pending"
    assert [d.id for d in kept[1:]] == [f"d{n}" for n in range(21, 31)]
    store.forget_deliveries(CLIENT)
    assert [d.id for d in store.deliveries()] == ["d0"]


def test_sequence_positions_are_shared_and_counted_once_each(open_twice):
    first, second = open_twice(), open_twice()
    steps = [(first, second)[n % 2].take_scenario_step("rule", CLIENT, "inv") for n in range(6)]
    assert steps == [0, 1, 2, 3, 4, 5]
    assert second.take_scenario_step("rule", CLIENT, "other") == 0
    first.forget_scenario_steps(CLIENT)
    assert second.take_scenario_step("rule", CLIENT, "inv") == 0


def test_a_sequence_over_two_engines_gives_one_of_each(open_twice):
    engines = []
    for store in (open_twice(), open_twice()):
        engine = ScenarioEngine.from_rules([SEQUENCE])
        engine.use_store(store)
        engines.append(engine)
    outcomes = [engine.decide(attempt_for(amount=4321, invoice_id="000000777")) for engine in engines]
    assert [(o.kind.value, o.reason_code) for o in outcomes] == [("decline", 465), ("approve", 0)]


def test_an_override_added_on_one_engine_is_used_once_across_both_and_survives_reopening(open_twice):
    first_engine, second_engine = ScenarioEngine.from_rules([OTHER]), ScenarioEngine.from_rules([OTHER])
    first_engine.use_store(open_twice())
    second_engine.use_store(open_twice())
    first_engine.add_override({"name": "blocked", "match": {"amount": 555},
                               "outcome": {"result": "decline", "reasonCode": 465}}, times=3)
    assert [r.name for r in second_engine.overrides] == ["blocked"]
    decided = [engine.decide(attempt_for(amount=555)).kind.value
               for engine in (first_engine, second_engine, second_engine, first_engine, second_engine)]
    assert decided == ["decline", "decline", "decline", "approve", "approve"]
    assert first_engine.overrides == () and second_engine.overrides == ()

    later = {"name": "later", "match": {"amount": 556}, "outcome": {"result": "decline", "reasonCode": 465}}
    second_engine.add_override(later, times=2)
    reopened = ScenarioEngine.from_rules([OTHER])
    reopened.use_store(open_twice())
    assert [(r.name, r.remaining) for r in reopened.overrides] == [("later", 2)]
    assert reopened.clear_overrides() == 1
    assert first_engine.overrides == ()


def test_racing_uses_of_an_override_count_exactly_its_times(open_twice):
    engines = []
    for _ in range(2):
        engine = ScenarioEngine.from_rules([OTHER])
        engine.use_store(open_twice())
        engines.append(engine)
    engines[0].add_override({"name": "five", "match": {"amount": 557},
                             "outcome": {"result": "decline", "reasonCode": 465}}, times=5)
    engines[1].overrides  # noqa: B018 - the second engine takes the list now
    declined: list[int] = []
    barrier = threading.Barrier(12)

    def pay(engine: ScenarioEngine) -> None:
        barrier.wait()
        if engine.decide(attempt_for(amount=557)).kind.value == "decline":
            declined.append(1)

    threads = [threading.Thread(target=pay, args=(engines[n % 2],)) for n in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(declined) == 5


def test_the_clock_offset_moved_by_one_store_is_followed_by_the_other(open_twice):
    first_clock, second_clock = Clock(), Clock()
    first, second = open_twice(first_clock), open_twice(second_clock)
    first_clock.advance(3600)
    second.merchant(CLIENT)  # any call: on PostgreSQL the notification comes with its answer
    second.sync_shared()
    assert second_clock.offset == 3600
    third_clock = Clock()
    open_twice(third_clock)
    assert third_clock.offset == 3600  # and a store opened later starts there
    first.clear()
    second.sync_shared()
    assert second_clock.offset == 0
    assert second.deliveries() == [] and second.scenario_overrides() == []


def test_only_rules_with_state_reach_the_store(open_twice):
    store = open_twice()
    calls: list[str] = []
    for name in ("take_scenario_step", "change_scenario_overrides", "scenario_overrides"):
        real = getattr(store, name)
        setattr(store, name, lambda *a, _real=real, _name=name: calls.append(_name) or _real(*a))
    engine = ScenarioEngine.from_rules([OTHER, SEQUENCE])
    engine.use_store(store)
    calls.clear()
    engine.decide(attempt_for(amount=1))  # one outcome, no use count: the compiled matcher alone
    engine.decide(attempt_for(amount=100))  # no rule at all
    assert calls == []
    engine.decide(attempt_for(amount=4321))
    assert calls == ["take_scenario_step"]


def test_a_queued_delivery_due_now_is_saved_and_claimed_in_one_call(open_twice):
    first, second = open_twice(), open_twice()
    assert first.queue_delivery(delivery(1), "first", 100.0, 30.0) is True
    assert first.stored_delivery("d1").status == "pending"
    assert second.claim_delivery("d1", "second", 100.0, 30.0) is None  # the queuing claim holds
    assert second.claim_delivery("d1", "second", 131.0, 30.0) is not None  # until its lease ends


def test_a_queued_delivery_not_due_or_known_already_is_claimed_only_as_claim_delivery_would(open_twice):
    store = open_twice()
    assert store.queue_delivery(delivery(2, due_at=500.0), "me", 100.0, 30.0) is False  # not due
    assert store.claim_delivery("d2", "me", 500.0, 30.0) is not None
    store.save_delivery(delivery(3))
    assert store.claim_delivery("d3", "other", 100.0, 30.0) is not None
    # the same id queued again is saved (its claim released) and then claimed as usual
    assert store.queue_delivery(delivery(3), "me", 100.0, 30.0) is True
    assert store.claim_delivery("d3", "other", 100.0, 30.0) is None
