"""The admin API for scenarios: list rules, decline the next N payments of an invoice, clear, reload."""

from __future__ import annotations

import pytest

from tests.test_scenario_library import trigger


async def test_list_shows_rules_with_their_source_and_index(client):
    response = await client.get("/_mock/scenarios")
    assert response.status == 200
    listing = await response.json()
    first = listing["rules"][0]
    assert first["name"] == "locked-visa"
    assert first["source"].endswith("default.yaml") and first["index"] == 0
    assert first["match"] == {"cardNumber": "4003032704547597"}
    assert {r["name"] for r in listing["rules"]} >= {"insufficient-funds", "hang", "refund-flaky"}
    assert listing["overrides"] == [] and listing["last_error"] is None


async def test_next_payment_for_an_invoice_is_declined_with_465(client):
    response = await client.post("/_mock/scenarios", json={
        "match": {"invoiceId": "000000465"}, "outcome": {"result": "decline", "reasonCode": 465}})
    assert response.status == 201
    override = (await response.json())["override"]
    assert override["remaining"] == 1 and override["name"].startswith("override-")

    other = await trigger(client, {"amount": 100})  # another invoice is not affected
    assert other.status == 200
    declined = await trigger(client, {"amount": 100}, invoice="000000465")
    assert declined.status == 400
    assert await declined.json() == {"code": 465, "message": "Card is blocked"}
    assert declined.headers["X-Mock-Rule"] == override["name"]
    retried = await trigger(client, {"amount": 100}, invoice="000000465")
    assert retried.status == 200  # used up after one matching payment
    assert (await (await client.get("/_mock/scenarios")).json())["overrides"] == []


async def test_override_for_n_payments_sits_above_every_file(client):
    await client.post("/_mock/scenarios", json={
        "name": "three-503s", "description": "next three payments fail",
        "match": {}, "outcome": {"result": "server_error", "http_status": 503}, "times": 3})
    statuses = [(await trigger(client, {"amount": 4840})).status for _ in range(4)]
    assert statuses == [503, 503, 503, 400]  # then the shipped insufficient-funds rule again


async def test_override_can_be_picked_by_header(client):
    await client.post("/_mock/scenarios", json={
        "name": "my-pick", "header_only": True, "outcome": {"preset": "lost_card"}})
    response = await trigger(client, {"header": "my-pick"})
    assert (await response.json())["code"] == 481


async def test_clear_overrides(client):
    for _ in range(2):
        await client.post("/_mock/scenarios", json={"match": {}, "outcome": {"result": "duplicate"},
                                                    "times": 10})
    response = await client.delete("/_mock/scenarios/overrides")
    assert await response.json() == {"cleared": 2}
    assert (await trigger(client, {"amount": 100})).status == 200


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"match": {}, "outcome": {"result": "explode"}}, "key 'outcome.result': 'explode' is not one of"),
        ({"match": {}, "outcome": {"result": "decline", "reasonCode": 1}}, "1 is not a reason code"),
        ({"match": {"amout": 1}, "outcome": {"result": "approve"}}, "unknown key 'amout'"),
        ({"match": {}, "outcome": {"result": "approve"}, "times": 0}, "field 'times' must be"),
        ({"match": {}, "outcome": {"result": "approve"}, "times": "2"}, "field 'times' must be"),
        ({"name": "insufficient-funds", "match": {}, "outcome": {"result": "approve"}},
         "name 'insufficient-funds' is already used"),
        ({"match": {"invoiceId": {"regex": "("}}, "outcome": {"result": "approve"}},
         "bad regular expression"),
    ],
)
async def test_bad_override_is_a_clear_400(client, body, message):
    response = await client.post("/_mock/scenarios", json=body)
    assert response.status == 400
    answer = await response.json()
    assert answer["code"] == -1 and message in answer["message"]


async def test_override_body_must_be_json(client):
    response = await client.post("/_mock/scenarios", data="match: {}", headers={"Content-Type": "text/yaml"})
    assert response.status == 415
    assert set(await response.json()) == {"code", "message"}


async def test_reload_with_good_files(client):
    response = await client.post("/_mock/scenarios/reload")
    assert response.status == 200
    body = await response.json()
    assert body["status"] == "reloaded" and body["rules"] > 40


async def test_full_reset_clears_overrides_and_sequences(client):
    from mock_epay.web.app_keys import ENGINE

    statuses = [(await trigger(client, {"amount": 7222}, invoice="000722299")).status for _ in range(2)]
    await client.post("/_mock/scenarios", json={"match": {}, "outcome": {"result": "duplicate"}, "times": 5})
    client.app[ENGINE].reset()
    statuses += [(await trigger(client, {"amount": 7222}, invoice="000722299")).status for _ in range(3)]
    assert statuses == [503, 503, 503, 503, 200]  # the sequence starts again; the override is gone


@pytest.mark.parametrize("outcomes", [5, 1.5, True])
async def test_an_override_whose_outcomes_is_a_number_is_a_400_naming_the_field(client, outcomes):
    response = await client.post("/_mock/scenarios", json={"match": {}, "outcomes": outcomes})
    assert response.status == 400
    assert await response.json() == {
        "code": -1, "message": f"field 'outcomes' must be a list of outcome objects, got {outcomes!r}"}
