"""Namespaces on a shared sandbox: CI jobs create their own merchant through `POST /_mock/merchants`,
pay the same invoice numbers without seeing each other, and `DELETE /_mock/merchants/{id}` takes a
merchant away with everything it owns."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from aiohttp import web

from mock_epay.settings import TEST_CLIENT_ID, TEST_CLIENT_SECRET, Settings
from tests.conftest import TOKEN_PATH
from tests.pg_cluster import pg_store_url, postgres_url  # noqa: F401  (fixtures)

VISA = "4405639704015096"
MASTERCARD = "5522042705066736"
INVOICE = "000000777"


@pytest.fixture
def settings() -> Settings:
    return Settings(seed=1234, log_requests=False, callback_max_attempts=1)


@pytest.fixture
async def receiver(aiohttp_server: Any) -> Any:
    """A merchant backend on loopback that keeps every callback it receives."""
    received: list[dict[str, Any]] = []

    async def postlink(request: web.Request) -> web.Response:
        received.append(await request.json())
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/epay/postlink", postlink)
    server = await aiohttp_server(app)
    server.received = received
    return server


async def create(client: Any, **fields: Any) -> Any:
    return await client.post("/_mock/merchants", json=fields)


async def created(client: Any, **fields: Any) -> dict[str, Any]:
    response = await create(client, **fields)
    assert response.status == 201, await response.text()
    return await response.json()


async def token_for(client: Any, merchant: dict[str, Any], invoice_id: str | None = INVOICE) -> str:
    form = {"grant_type": "client_credentials", "scope": "webapi payment",
            "client_id": merchant["clientId"], "client_secret": merchant["clientSecret"]}
    if invoice_id:
        form.update(invoiceID=invoice_id, amount="100", currency="KZT", terminal=merchant["terminalId"])
    response = await client.post(TOKEN_PATH, data=form)
    assert response.status == 200, await response.text()
    return (await response.json())["access_token"]


async def pay(client: Any, merchant: dict[str, Any], invoice_id: str = INVOICE, post_link: str = "") -> Any:
    token = await token_for(client, merchant, invoice_id)
    body = {"amount": 100, "currency": "KZT", "terminalId": merchant["terminalId"], "invoiceId": invoice_id,
            "description": "order", "accountId": "buyer", "paymentType": "cardId",
            "cardId": {"id": merchant["savedCards"][0]["id"]}, "name": "BUYER", "email": "b@example.com"}
    if post_link:
        body.update(postLink=post_link, failurePostLink=post_link)
    return await client.post("/payments/cards/auth", json=body, headers={"Authorization": f"Bearer {token}"})


async def status_of(client: Any, token: str, invoice_id: str = INVOICE) -> Any:
    return await client.get(f"/check-status/payment/transaction/{invoice_id}",
                            headers={"Authorization": f"Bearer {token}"})


def shop(name: str, card: str = VISA) -> dict[str, Any]:
    return {"name": name, "savedCards": [{"accountId": "buyer", "cardNumber": card}]}


# -- creating ---------------------------------------------------------------------------------------


async def test_a_created_merchant_gets_credentials_a_terminal_and_masked_cards(client):
    response = await create(client, name="CI job 1", twoStage=True, autoCancelSeconds=60,
                            savedCards=[{"accountId": "u1", "cardNumber": VISA, "id": "job1-visa",
                                         "payerName": "ANNA A", "expiry": "12/29"}])
    assert response.status == 201
    body = await response.json()
    assert body["clientId"].startswith("m-") and len(body["clientSecret"]) >= 32
    assert body["name"] == "CI job 1"
    assert body["terminals"] == [{"id": body["terminalId"], "number": body["terminals"][0]["number"],
                                  "twoStage": True, "autoCancelSeconds": 60}]
    assert body["savedCards"] == [{"id": "job1-visa", "accountId": "u1", "cardMask": "440563...5096",
                                   "cardType": "VISA", "payerName": "ANNA A", "expiry": "12/29"}]
    assert VISA not in await response.text()
    listed = await (await client.get("/_mock/merchants")).json()
    mine = [m for m in listed["merchants"] if m["clientId"] == body["clientId"]]
    assert mine and mine[0]["terminals"][0]["twoStage"] is True
    assert body["clientSecret"] not in json.dumps(listed)


async def test_an_empty_body_makes_a_merchant_with_everything_generated(client):
    first = await (await client.post("/_mock/merchants")).json()
    second = await created(client)
    assert first["clientId"] != second["clientId"] and first["terminalId"] != second["terminalId"]
    assert first["savedCards"] == [] and first["terminals"][0]["twoStage"] is False
    await token_for(client, first, invoice_id=None)  # its credentials work at once


async def test_a_given_client_id_and_secret_are_used_and_a_taken_one_is_refused(client):
    mine = await created(client, clientId="job-42", clientSecret="s3cret-of-job-42")
    assert (mine["clientId"], mine["clientSecret"]) == ("job-42", "s3cret-of-job-42")
    again = await create(client, clientId="job-42")
    assert again.status == 409
    assert await again.json() == {"code": -1, "message": "merchant not created: client id 'job-42' is taken"}
    builtin = await create(client, clientId=TEST_CLIENT_ID)
    assert builtin.status == 409


@pytest.mark.parametrize(("fields", "message"), [
    ({"savedCards": [{"accountId": "u1", "cardNumber": "4405639704015097"}]},
     "field 'savedCards[0].cardNumber' fails the Luhn check (not a card number)"),
    ({"savedCards": [{"accountId": "u1", "cardNumber": "4405-6397"}]},
     "field 'savedCards[0].cardNumber' must be 12-19 digits"),
    ({"savedCards": [{"cardNumber": VISA}]},
     "merchant not created: field 'savedCards[0]': Object missing required field `accountId`"),
    ({"twoStage": "yes"}, "merchant not created: field 'twoStage': Expected `bool`, got `str`"),
    ({"clientID": "typo"}, "merchant not created: Object contains unknown field `clientID`"),
    ({"clientId": "a/b"}, "field 'clientId' must be 1-64 letters, digits, '.', '_' or '-' "
                          "(starting with a letter or digit)"),
    ({"autoCancelSeconds": 0}, "field 'autoCancelSeconds' must be a number above 0 and at most 315360000"),
    ({"callbackFormat": "xml"}, "merchant not created: field 'callbackFormat': Invalid enum value 'xml'"),
])
async def test_a_bad_field_is_refused_with_a_clear_400_and_nothing_is_created(client, fields, message):
    before = len((await (await client.get("/_mock/merchants")).json())["merchants"])
    response = await create(client, **fields)
    assert response.status == 400
    body = await response.json()
    assert body["code"] == -1 and body["message"].startswith(message), body
    assert "4405639704015097" not in body["message"]
    assert len((await (await client.get("/_mock/merchants")).json())["merchants"]) == before


async def test_a_saved_card_id_of_another_merchant_is_refused(client):
    response = await create(client, savedCards=[{"accountId": "u1", "cardNumber": VISA,
                                                 "id": "e7e2587f-de26-4f41-ae1f-80c1fea31728"}])
    assert response.status == 409
    assert "is taken" in (await response.json())["message"]


async def test_merchant_bodies_must_be_json(client):
    form = await client.post("/_mock/merchants", data={"name": "x"})
    assert form.status == 403  # the open admin API refuses what any web page could send
    xml = await client.post("/_mock/merchants", data=b"<x/>", headers={"Content-Type": "application/xml"})
    assert xml.status == 415


async def test_with_an_admin_token_both_endpoints_need_it(make_client):
    client = await make_client(Settings(admin_token="t0ken", log_requests=False))
    assert (await client.post("/_mock/merchants", json={})).status == 401
    assert (await client.delete("/_mock/merchants/test")).status == 401
    made = await client.post("/_mock/merchants", json={}, headers={"X-Mock-Admin-Token": "t0ken"})
    assert made.status == 201
    client_id = (await made.json())["clientId"]
    gone = await client.delete(f"/_mock/merchants/{client_id}", headers={"X-Mock-Admin-Token": "t0ken"})
    assert gone.status == 204


# -- isolation --------------------------------------------------------------------------------------


async def test_two_merchants_pay_the_same_invoice_once_each_and_never_see_each_other(client, receiver):
    first, second = await created(client, **shop("job A")), await created(client, **shop("job B", MASTERCARD))
    post_link = str(receiver.make_url("/epay/postlink"))
    paid = [await (await pay(client, m, post_link=post_link)).json() for m in (first, second)]
    assert [p["status"] for p in paid] == ["CHARGE", "CHARGE"] and paid[0]["id"] != paid[1]["id"]
    again = await pay(client, first)
    assert again.status == 400 and (await again.json())["message"] == "dublicate transaction"

    for merchant, payment in zip((first, second), paid, strict=True):
        status = await (await status_of(client, await token_for(client, merchant, None))).json()
        assert status["transaction"]["id"] == payment["id"]
        listed = await (await client.get(f"/_mock/transactions?clientId={merchant['clientId']}")).json()
        assert [tx["id"] for tx in listed["transactions"]] == [payment["id"]]
        waited = await client.get(f"/_mock/callbacks/wait?invoiceId={INVOICE}&clientId={merchant['clientId']}"
                                  f"&timeout=5")
        assert (await waited.json())["transactionId"] == payment["id"]
    assert sorted(c["id"] for c in receiver.received) == sorted(p["id"] for p in paid)


async def test_one_merchants_saved_card_cannot_be_used_by_another(client):
    first, second = await created(client, **shop("job A")), await created(client, **shop("job B"))
    stolen = {**second, "savedCards": first["savedCards"]}
    response = await pay(client, stolen)
    assert response.status == 400
    listed = await (await client.get(f"/_mock/transactions?clientId={second['clientId']}")).json()
    assert [tx["status"] for tx in listed["transactions"] if tx["status"] == "CHARGE"] == []


# -- deleting ---------------------------------------------------------------------------------------


async def test_deleting_a_merchant_removes_its_data_and_its_tokens_stop_working(client, receiver):
    gone, kept = await created(client, **shop("job A")), await created(client, **shop("job B"))
    post_link = str(receiver.make_url("/epay/postlink"))
    for merchant in (gone, kept):
        assert (await pay(client, merchant, post_link=post_link)).status == 200
    service = await token_for(client, gone, None)
    for merchant in (gone, kept):
        await client.get("/_mock/callbacks/wait",
                         params={"invoiceId": INVOICE, "clientId": merchant["clientId"], "timeout": 5})

    response = await client.delete(f"/_mock/merchants/{gone['clientId']}")
    assert response.status == 204 and await response.read() == b""
    requests = (await (await client.get("/_mock/requests?limit=500")).json())["requests"]
    journal = json.dumps(requests)
    assert gone["clientId"] not in journal and kept["clientId"] in journal
    assert [r["path"] for r in requests].count("/payments/cards/auth") == 1  # kept's; gone's went too

    assert (await status_of(client, service)).status == 401
    form = {"grant_type": "client_credentials", "scope": "webapi", "client_id": gone["clientId"],
            "client_secret": gone["clientSecret"]}
    assert (await client.post(TOKEN_PATH, data=form)).status == 401
    listed = await (await client.get("/_mock/transactions")).json()
    assert {tx["clientId"] for tx in listed["transactions"]} == {kept["clientId"]}
    deliveries = await (await client.get("/_mock/deliveries")).json()
    assert {d["clientId"] for d in deliveries["deliveries"]} == {kept["clientId"]}
    merchants = await (await client.get("/_mock/merchants")).json()
    assert gone["clientId"] not in {m["clientId"] for m in merchants["merchants"]}
    assert (await status_of(client, await token_for(client, kept, None))).status == 200

    again = await client.delete(f"/_mock/merchants/{gone['clientId']}")
    assert again.status == 404
    assert await again.json() == {"code": 102, "message": f"no merchant with client id {gone['clientId']!r}"}


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_deleting_a_merchant_on_a_durable_store_removes_its_journal_entries_too(
        make_client, tmp_path, request, backend):
    url = (f"sqlite:///{tmp_path / 'sandbox.db'}" if backend == "sqlite"
           else request.getfixturevalue("pg_store_url"))
    client = await make_client(Settings(seed=1234, store=url, callback_max_attempts=1))
    gone, kept = await created(client, **shop("job A")), await created(client, **shop("job B"))
    for merchant in (gone, kept):
        assert (await pay(client, merchant)).status == 200
    assert (await client.delete(f"/_mock/merchants/{gone['clientId']}")).status == 204
    requests = (await (await client.get("/_mock/requests?limit=500")).json())["requests"]
    journal = json.dumps(requests)
    assert gone["clientId"] not in journal and kept["clientId"] in journal
    assert [r["path"] for r in requests].count("/payments/cards/auth") == 1  # kept's; gone's went too
    listed = await (await client.get("/_mock/transactions")).json()
    assert {tx["clientId"] for tx in listed["transactions"]} == {kept["clientId"]}


async def test_a_deleted_client_id_can_be_created_again_fresh(client):
    first = await created(client, clientId="job-7", **shop("job 7"))
    assert (await pay(client, first)).status == 200
    assert (await client.delete("/_mock/merchants/job-7")).status == 204
    second = await created(client, clientId="job-7", **shop("job 7"))
    assert (await pay(client, second)).status == 200  # the invoice is not a duplicate any more


async def test_the_built_in_test_merchant_is_deleted_only_when_forced(client):
    refused = await client.delete(f"/_mock/merchants/{TEST_CLIENT_ID}")
    assert refused.status == 409
    assert "?force=true" in (await refused.json())["message"]
    bad = await client.delete(f"/_mock/merchants/{TEST_CLIENT_ID}?force=maybe")
    assert bad.status == 400
    forced = await client.delete(f"/_mock/merchants/{TEST_CLIENT_ID}?force=true")
    assert forced.status == 204
    form = {"grant_type": "client_credentials", "scope": "webapi", "client_id": TEST_CLIENT_ID,
            "client_secret": TEST_CLIENT_SECRET}
    assert (await client.post(TOKEN_PATH, data=form)).status == 401


async def test_scenario_overrides_aimed_at_a_deleted_merchants_terminal_go_with_it(client):
    gone, kept = await created(client, **shop("job A")), await created(client, **shop("job B"))
    for merchant in (gone, kept):
        rule = {"match": {"terminal": merchant["terminalId"]}, "outcome": {"result": "decline",
                                                                           "reasonCode": 484}, "times": 5}
        assert (await client.post("/_mock/scenarios", json=rule)).status == 201
    assert (await client.delete(f"/_mock/merchants/{gone['clientId']}")).status == 204
    overrides = (await (await client.get("/_mock/scenarios")).json())["overrides"]
    assert [o["match"]["terminal"] for o in overrides] == [kept["terminalId"]]


async def test_a_pending_callback_of_a_deleted_merchant_is_never_sent(make_client, aiohttp_server):
    hits: list[str] = []

    async def failing(request: web.Request) -> web.Response:
        hits.append(request.path)
        return web.Response(status=503)

    app = web.Application()
    app.router.add_post("/epay/postlink", failing)
    server = await aiohttp_server(app)
    client = await make_client(Settings(log_requests=False, callback_max_attempts=5, callback_backoff=30))
    merchant = await created(client, **shop("job A"))
    assert (await pay(client, merchant, post_link=str(server.make_url("/epay/postlink")))).status == 200
    for _ in range(100):
        if hits:
            break
        await asyncio.sleep(0.02)
    assert hits == ["/epay/postlink"]  # the first attempt failed; the next is 15-30 s away
    pending = await (await client.get("/_mock/deliveries?status=pending")).json()
    assert pending["total"] == 1

    assert (await client.delete(f"/_mock/merchants/{merchant['clientId']}")).status == 204
    await client.post("/_mock/clock/advance", json={"seconds": 3600})
    await asyncio.sleep(0.2)
    assert hits == ["/epay/postlink"]
    assert (await (await client.get("/_mock/deliveries")).json())["total"] == 0



# -- the pytest plugin: a merchant per test on the session server ------------------------------------

_CONFTEST = """
from importlib.metadata import entry_points
_installed = any(ep.value == "mock_epay.pytest_plugin" for ep in entry_points(group="pytest11"))
pytest_plugins = [] if _installed else ["mock_epay.pytest_plugin"]
"""

_SUITE = """
import dataclasses

import pytest
import requests

seen = []


def pay(epay, invoice_id):
    token = requests.post(epay.oauth_url, data={
        "grant_type": "client_credentials", "scope": "webapi payment", "client_id": epay.client_id,
        "client_secret": epay.client_secret, "invoiceID": invoice_id, "amount": "100", "currency": "KZT",
        "terminal": epay.terminal_id}, timeout=10).json()["access_token"]
    return requests.post(f"{epay.api_url}/payments/cards/auth", json={
        "amount": 100, "currency": "KZT", "terminalId": epay.terminal_id, "invoiceId": invoice_id,
        "description": "order", "accountId": epay.account_id, "paymentType": "cardId",
        "cardId": {"id": epay.card_ids["0"]}}, headers={"Authorization": f"Bearer {token}"}, timeout=10)


CARDS = [{"accountId": "buyer", "cardNumber": "4405639704015096"}]


@pytest.mark.mock_epay_merchant(savedCards=CARDS)
@pytest.mark.parametrize("job", ["one", "two"])
def test_each_test_pays_invoice_1_on_a_merchant_of_its_own(mock_epay_merchant, mock_epay_session, job):
    assert mock_epay_merchant.base_url == mock_epay_session.base_url
    assert mock_epay_merchant.client_id != "test"
    seen.append(mock_epay_merchant.client_id)
    assert pay(mock_epay_merchant, "000000001").json()["status"] == "CHARGE"
    mock_epay_merchant.add_scenario(outcome={"result": "decline", "reasonCode": 484})
    assert pay(mock_epay_merchant, "000000002").json()["code"] == 484
    builtin = dataclasses.replace(mock_epay_session, card_ids=mock_epay_merchant.card_ids,
                                  account_id=mock_epay_merchant.account_id)
    assert pay(builtin, "000000003").status_code == 400  # the card is not the test merchant's


def test_the_merchants_are_deleted_after_their_tests(mock_epay_session):
    import json, urllib.request
    listed = json.load(urllib.request.urlopen(mock_epay_session.url("/_mock/merchants")))
    assert len(set(seen)) == 2
    assert set(seen).isdisjoint(m["clientId"] for m in listed["merchants"])
"""


def test_the_plugin_hands_each_test_its_own_merchant_and_deletes_it_after(pytester):
    pytester.makeconftest(_CONFTEST)
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(_SUITE)
    pytester.runpytest_inprocess("-p", "no:cacheprovider").assert_outcomes(passed=3)
