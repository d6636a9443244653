"""Chains waiting for a retry are parked without a task and restarted when due
(mock_epay/callbacks/parking.py), against a real merchant server on loopback."""
# ruff: noqa: F811  (the `merchant` and `gateway` fixtures are imported from tests.test_callbacks)

from __future__ import annotations

import asyncio

from mock_epay.callbacks.parking import PARK_AFTER_SECONDS, ParkedChains
from mock_epay.core.clock import Clock
from mock_epay.gateway.models import CallbackMode, CallbackPlan
from mock_epay.web.app_keys import DISPATCHER
from tests.test_callbacks import (  # noqa: F401
    FakeMerchant,
    free_port,
    gateway,
    merchant,
    pay_invoice,
    until,
    wait_callback,
)


async def test_a_chain_waiting_for_its_retry_has_no_task_and_keeps_its_order(gateway, clock):
    client = await gateway(plan=CallbackPlan(CallbackMode.TWICE), callback_backoff=5.0)
    dispatcher = client.app[DISPATCHER]
    port = free_port()  # the merchant is down
    await pay_invoice(client, "300000001", postLink=f"http://127.0.0.1:{port}/cb", failurePostLink=None)
    first, second = sorted(dispatcher.select(invoice_id="300000001"), key=lambda d: d.note)
    await until(lambda: len(first.attempts) == 1 and first.waiting and len(dispatcher._parked) == 1)
    assert dispatcher._workers == {}  # nothing but the parked key holds the chain
    assert second.attempts == [] and second.status == "pending"  # waits behind the first

    shop = FakeMerchant()
    await shop.start(port)
    try:
        clock.advance(60)  # the retry is due: the chain starts again where it stopped
        assert (await wait_callback(client, "300000001"))["status"] == "delivered"
        await until(lambda: first.status == second.status == "delivered")
        assert [r.json()["invoiceId"] for r in shop.requests] == ["300000001"] * 2
        assert first.finished_at <= second.finished_at
        assert len(dispatcher._parked) == 0 and dispatcher._chains == {}
    finally:
        await shop.stop()


async def test_a_parked_chain_of_a_removed_merchant_moves_on_at_once(gateway, clock):
    client = await gateway(callback_backoff=5.0)
    dispatcher = client.app[DISPATCHER]
    down = f"http://127.0.0.1:{free_port()}/cb"
    await pay_invoice(client, "300000002", postLink=down, failurePostLink=None)
    [delivery] = dispatcher.select(invoice_id="300000002")
    await until(lambda: len(dispatcher._parked) == 1)
    dispatcher.forget_merchant(delivery.client_id)
    await until(lambda: dispatcher._chains == {} and dispatcher._workers == {})
    assert delivery.status == "skipped" and len(delivery.attempts) == 1
    assert len(dispatcher._parked) == 0


async def test_a_short_wait_stays_in_its_task(gateway, merchant):
    client = await gateway(plan=CallbackPlan(CallbackMode.DELAY, delay_ms=int(PARK_AFTER_SECONDS * 500)))
    dispatcher = client.app[DISPATCHER]
    await pay_invoice(client, "300000003", postLink=merchant.url(), failurePostLink=None)
    assert len(dispatcher._parked) == 0 and len(dispatcher._workers) == 1
    assert (await wait_callback(client, "300000003"))["status"] == "delivered"


async def test_parked_keys_come_back_in_due_order_and_a_re_park_replaces_the_old_time():
    clock = Clock()
    parked = ParkedChains(clock)
    now = clock.monotonic()
    parked.park("b", now + 20)
    parked.park("a", now + 10)
    parked.park("c", now + 30)
    parked.park("c", now + 5)  # parked again with an earlier time: the older entry is stale
    assert parked.take_due() == []
    clock.advance(12)
    assert parked.take_due() == ["c", "a"]
    assert parked.release(["b", "zzz"]) == ["b"]
    clock.advance(100)
    assert parked.take_due() == [] and len(parked) == 0


async def test_the_timer_restarts_a_key_once_the_clock_jumps_past_its_due_time():
    clock = Clock()
    parked = ParkedChains(clock)
    started: list[str] = []
    runner = asyncio.get_running_loop().create_task(parked.run(started.append))
    try:
        parked.park("late", clock.monotonic() + 3600)
        await asyncio.sleep(0.01)
        assert started == []
        clock.advance(3601)
        parked.wake()  # what the dispatcher's clock listener does
        await until(lambda: started == ["late"], timeout=2)
    finally:
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
