"""The callback admin API: delivery log, replay, forged callbacks, waiting; plus retry policy units."""
# ruff: noqa: F811  (the `merchant` and `gateway` fixtures are imported from tests.test_callbacks)

from __future__ import annotations

from typing import Any

import pytest

from mock_epay.callbacks.dispatcher import CallbackDispatcher
from mock_epay.callbacks.targets import TargetPolicy
from mock_epay.core.clock import Clock
from mock_epay.core.fakedata import FakeData
from mock_epay.settings import Settings
from mock_epay.store.memory import Store
from mock_epay.web.app_keys import DISPATCHER
from tests.test_callbacks import WAIT, gateway, merchant, pay_invoice, wait_callback  # noqa: F401
from tests.test_cards_auth import LOCKED_CARD

FORGE = "/_mock/callbacks/forge"


async def forge(client: Any, payload: dict[str, Any]) -> dict[str, Any]:
    response = await client.post(FORGE, json=payload)
    assert response.status == 202, await response.text()
    return await response.json()


# -- delivery log -------------------------------------------------------------------------


async def test_the_log_lists_filters_and_shows_deliveries(gateway, merchant):
    client = await gateway()
    merchant.fail_next = 100
    await pay_invoice(client, "300000001", postLink=merchant.url(), failurePostLink=None)
    await wait_callback(client, "300000001")
    merchant.fail_next = 0
    await pay_invoice(client, "300000002", card=LOCKED_CARD, postLink=merchant.url(),
                      failurePostLink=None)
    await wait_callback(client, "300000002")

    everything = await (await client.get("/_mock/deliveries")).json()
    assert [d["invoiceId"] for d in everything["deliveries"]] == ["300000002", "300000001"]
    failed = await (await client.get("/_mock/deliveries", params={"status": "failed"})).json()
    assert [d["invoiceId"] for d in failed["deliveries"]] == ["300000001"]
    one_invoice = await (await client.get("/_mock/deliveries", params={"invoiceId": "300000002"})).json()
    [delivered] = one_invoice["deliveries"]
    assert delivered["status"] == "delivered" and delivered["kind"] == "payment"
    assert delivered["url"] == merchant.url() and delivered["body"]["code"] == "error"

    shown = await (await client.get(f"/_mock/deliveries/{delivered['id']}")).json()
    assert shown == delivered
    attempt = shown["attempts"][0]
    assert set(attempt) == {"attempt", "startedAt", "durationMs", "responseStatus", "responseBody", "error"}


async def test_unknown_delivery_ids_and_bad_filters_get_clear_errors(gateway):
    client = await gateway()
    missing = await client.get("/_mock/deliveries/nope")
    assert missing.status == 404
    assert (await missing.json())["message"] == "no delivery with id 'nope' in the delivery log"
    assert (await client.post("/_mock/deliveries/nope/replay")).status == 404
    bad = await client.get("/_mock/deliveries", params={"status": "lost"})
    assert bad.status == 400 and "status" in (await bad.json())["message"]


async def test_the_log_keeps_only_the_newest_deliveries(gateway, merchant):
    client = await gateway(callback_log_size=10)
    for n in range(15):
        await forge(client, {"url": merchant.url(), "body": {"n": n}})
    await merchant.wait_for_requests(15)
    dispatcher = client.app[DISPATCHER]
    assert len(dispatcher.log) == 10
    listed = await (await client.get("/_mock/deliveries")).json()
    assert [d["body"]["n"] for d in listed["deliveries"]][-1] == 5


# -- replay and forged callbacks ------------------------------------------------------------


async def test_a_delivery_can_be_replayed_on_demand(gateway, merchant):
    client = await gateway()
    await pay_invoice(client, "300000010", postLink=merchant.url(), failurePostLink=None)
    original = await wait_callback(client, "300000010")
    response = await client.post(f"/_mock/deliveries/{original['id']}/replay")
    assert response.status == 202
    replay = await response.json()
    assert replay["kind"] == "replay" and replay["replayOf"] == original["id"]
    done = await (await client.get(WAIT, params={"deliveryId": replay["id"]})).json()
    assert done["status"] == "delivered"
    first, second = merchant.requests
    assert first.raw == second.raw


async def test_a_forged_callback_sends_any_body_to_the_given_url(gateway, merchant):
    client = await gateway()
    forged = await forge(client, {"url": merchant.url("/hook"), "body": {"code": "ok", "amount": 1}})
    assert forged["kind"] == "forged" and forged["status"] == "pending"
    done = await (await client.get(WAIT, params={"deliveryId": forged["id"]})).json()
    assert done["status"] == "delivered"
    [request] = merchant.requests
    assert request.path == "/hook" and request.json() == {"code": "ok", "amount": 1}
    assert request.headers["Content-Type"] == "application/json"


async def test_a_forged_string_body_is_sent_verbatim(gateway, merchant):
    client = await gateway()
    forged = await forge(client, {"url": merchant.url(), "body": "{not json"})
    await client.get(WAIT, params={"deliveryId": forged["id"]})
    assert merchant.requests[0].raw == b"{not json"


async def test_a_forged_callback_can_start_from_an_invoices_real_body(gateway, merchant):
    client = await gateway()
    await pay_invoice(client, "300000011", token_fields={"secret_hash": "s3cr3t"},
                      postLink=merchant.url(), failurePostLink=None)
    real = (await wait_callback(client, "300000011"))["body"]

    await forge(client, {"invoiceId": "300000011", "overrides": {"amount": 1}})
    await forge(client, {"invoiceId": "300000011", "overrides": {"secret_hash": "wrong"}})
    await forge(client, {"invoiceId": "300000011", "omit": ["secret_hash"]})
    await merchant.wait_for_requests(4)
    log = await (await client.get(WAIT, params={"invoiceId": "300000011"})).json()
    assert log["kind"] == "forged" and log["status"] == "delivered"

    _, wrong_amount, wrong_hash, no_hash = (r.json() for r in merchant.requests)
    assert wrong_amount == {**real, "amount": 1}
    assert wrong_hash == {**real, "secret_hash": "wrong"}
    assert "secret_hash" not in no_hash and no_hash["id"] == real["id"]


async def test_forging_checks_its_input(gateway):
    client = await gateway()
    cases = [
        ({"body": {}}, 400, "'url' is required"),
        ({"url": "ftp://x/y", "body": {}}, 400, "http or https"),
        ({"url": "http://127.0.0.1/", "body": 5}, 400, "'body' must be"),
        ({}, 400, "give either"),
        ({"invoiceId": "999999999"}, 404, "no transaction"),
    ]
    for payload, status, text in cases:
        response = await client.post(FORGE, json=payload)
        assert response.status == status, payload
        assert text in (await response.json())["message"]


async def test_a_forged_callback_to_a_refused_host_is_logged_as_failed(gateway):
    client = await gateway(callback_allowed_hosts=("shop.example",))
    forged = await forge(client, {"url": "http://127.0.0.1:9/x", "body": {}})
    done = await (await client.get(WAIT, params={"deliveryId": forged["id"]})).json()
    assert done["status"] == "failed" and done["error"].startswith("target refused")


# -- waiting ------------------------------------------------------------------------------


async def test_wait_answers_408_in_the_bank_format_when_nothing_arrives(gateway):
    client = await gateway()
    response = await client.get(WAIT, params={"invoiceId": "300000099", "timeout": "0"})
    assert response.status == 408
    body = await response.json()
    assert set(body) == {"code", "message"}
    assert "no callback was queued" in body["message"]


async def test_wait_checks_its_parameters(gateway):
    client = await gateway()
    assert (await client.get(WAIT)).status == 400
    bad = await client.get(WAIT, params={"invoiceId": "1", "timeout": "soon"})
    assert bad.status == 400 and "timeout" in (await bad.json())["message"]


async def test_wait_by_transaction_id(gateway, merchant):
    client = await gateway()
    answer = await pay_invoice(client, "300000012", postLink=merchant.url(), failurePostLink=None)
    response = await client.get(WAIT, params={"transactionId": answer["id"]})
    assert (await response.json())["transactionId"] == answer["id"]


# -- policy units -----------------------------------------------------------------------------


@pytest.mark.parametrize(("hosts", "url", "allowed"), [
    ((), "http://127.0.0.1:8000/cb", True),
    ((), "https://shop.example/cb", True),
    ((), "http://10.1.2.3/cb", True),
    ((), "http://169.254.169.254/latest", False),
    ((), "http://[fe80::1]/cb", False),
    ((), "ftp://127.0.0.1/cb", False),
    ((), "http://127.0.0.1:99999/cb", False),
    (("shop.example",), "https://shop.example/cb", True),
    (("shop.example",), "https://evil.example/cb", False),
    (("*.shop.example",), "https://api.shop.example/cb", True),
    (("*.shop.example",), "https://shop.example/cb", False),
    (("[::1]",), "http://[::1]:8000/cb", True),
])
def test_target_policy(hosts, url, allowed):
    assert (TargetPolicy(hosts).refusal(url) is None) is allowed


def test_backoff_doubles_with_jitter_and_fits_the_window():
    def schedule(**settings: Any) -> list[float]:
        values = Settings(seed=1, **settings)
        dispatcher = CallbackDispatcher(Store(values.merchants, Clock(), FakeData(1)), values)
        return [dispatcher._backoff(n) for n in range(1, values.callback_max_attempts)]

    default = schedule()
    assert all(5.0 * 2 ** n * 0.5 <= d <= 5.0 * 2 ** n for n, d in enumerate(default))
    assert sum(default) > 30  # a 30-second outage is covered by default
    squeezed = schedule(callback_backoff=10, callback_max_attempts=8, callback_window=60)
    assert sum(squeezed) <= 60


async def test_reset_forgets_finished_deliveries(gateway, merchant):
    client = await gateway()
    await pay_invoice(client, "300000020", postLink=merchant.url(), failurePostLink=None)
    await wait_callback(client, "300000020")
    assert (await client.post("/_mock/reset")).status == 200
    listed = await (await client.get("/_mock/deliveries")).json()
    assert listed["deliveries"] == []


async def test_the_clock_endpoint_makes_a_waiting_retry_due_at_once(gateway):
    from tests.test_callbacks import FakeMerchant, free_port

    client = await gateway(callback_backoff=5.0)
    port = free_port()
    await pay_invoice(client, "300000021", postLink=f"http://127.0.0.1:{port}/cb", failurePostLink=None)
    [delivery] = client.app[DISPATCHER].select(invoice_id="300000021")
    early = await client.get(WAIT, params={"invoiceId": "300000021", "timeout": "0.2"})
    assert early.status == 408 and delivery.waiting  # refused once, next try seconds away
    shop = FakeMerchant()
    await shop.start(port)
    try:
        assert (await client.post("/_mock/clock/advance", params={"seconds": "60"})).status == 200
        assert (await wait_callback(client, "300000021"))["status"] == "delivered"
    finally:
        await shop.stop()
