"""The mock's clock and reset controls, and the auto-cancel of old authorisations they drive."""

from __future__ import annotations

import pytest

from mock_epay.gateway.models import Terminal
from mock_epay.web.app_keys import ENGINE
from tests.conftest import get_service_token
from tests.test_cards_auth import VISA_CARD
from tests.test_operations import (
    SHOP_CREDENTIALS,
    SHOP_TERMINAL,
    assert_refused,
    operate,
    pay_shop,
    pay_test,
    status_of,
    two_stage_settings,
)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def advance(client, seconds) -> dict:
    response = await client.post("/_mock/clock/advance", params={"seconds": str(seconds)})
    assert response.status == 200, await response.text()
    return await response.json()


async def test_clock_advance_by_query_and_by_json(client, clock):
    assert await advance(client, 30) == {"offset": 30}
    response = await client.post("/_mock/clock/advance", json={"seconds": 12.5})
    assert await response.json() == {"offset": 42.5}
    assert clock.offset == 42.5


@pytest.mark.parametrize("seconds", ["-1", "soon", "nan", "inf", ""])
async def test_clock_advance_refuses_bad_values(client, seconds):
    response = await client.post("/_mock/clock/advance", params={"seconds": seconds})
    assert response.status == 400
    assert "'seconds'" in (await response.json())["message"]


async def test_advancing_the_clock_expires_service_tokens(client):
    token = await get_service_token(client)
    await advance(client, 7201)
    response = await client.get("/cards/testuser1", headers=bearer(token))
    assert response.status == 401
    assert (await response.json())["message"] == "access token expired"


async def test_an_old_auth_is_cancelled_automatically(make_client):
    terminal = Terminal(id=SHOP_TERMINAL, number="90000001", two_stage=True, auto_cancel_seconds=3600)
    client = await make_client(two_stage_settings(terminals=(terminal,)))
    tx_id = await pay_shop(client)
    token = await get_service_token(client, **SHOP_CREDENTIALS)
    await advance(client, 3599)
    assert (await status_of(client, token, "000000101"))["statusName"] == "AUTH"
    await advance(client, 2)
    assert (await status_of(client, token, "000000101"))["statusName"] == "CANCEL_OLD"
    await assert_refused(await operate(client, token, tx_id, "charge"), 100, "status is CANCEL_OLD")


async def test_without_auto_cancel_an_auth_waits_forever(make_client):
    client = await make_client(two_stage_settings())
    tx_id = await pay_shop(client)
    await advance(client, 30 * 24 * 3600)
    token = await get_service_token(client, **SHOP_CREDENTIALS)
    assert (await operate(client, token, tx_id, "charge")).status == 200


async def test_reset_forgets_everything(client, clock):
    tx_id = await pay_test(client)
    token = await get_service_token(client)
    await client.post(f"/card/deactivate/{VISA_CARD}", headers=bearer(token))
    await advance(client, 100)
    response = await client.post("/_mock/reset")
    assert response.status == 200
    assert await response.json() == {"status": "reset", "client_id": None}
    assert clock.offset == 0
    assert (await client.get("/cards/testuser1", headers=bearer(token))).status == 401  # tokens gone
    token = await get_service_token(client)
    await assert_refused(await operate(client, token, tx_id, "refund"), 102)
    cards = await (await client.get("/cards/testuser1", headers=bearer(token))).json()
    assert VISA_CARD in {card["ID"] for card in cards}  # config cards are seeded again
    assert (await pay_test(client))  # the invoice number can be paid again


async def test_reset_of_one_merchant_keeps_the_others(make_client):
    client = await make_client(two_stage_settings())
    await pay_test(client)
    await pay_shop(client)
    response = await client.post("/_mock/reset", params={"client_id": "shop"})
    assert response.status == 200
    test_token = await get_service_token(client)
    shop_token = await get_service_token(client, **SHOP_CREDENTIALS)
    assert (await status_of(client, test_token, "000000001"))["statusName"] == "CHARGE"
    missing = await client.get("/check-status/payment/transaction/000000101", headers=bearer(shop_token))
    assert (await missing.json())["resultCode"] == "102"


async def test_reset_of_an_unknown_merchant_is_refused(client):
    response = await client.post("/_mock/reset", json={"client_id": "ghost"})
    assert response.status == 400
    assert "ghost" in (await response.json())["message"]


async def test_reset_also_resets_the_engine_when_it_can(client, monkeypatch):
    calls: list[str] = []
    monkeypatch.setattr(client.app[ENGINE], "reset", lambda client_id=None: calls.append("engine"))
    assert (await client.post("/_mock/reset")).status == 200
    assert calls == ["engine"]


async def test_clock_advance_with_curl_style_json(client):
    # `curl -d '{...}'` labels JSON as a form, which is what any web page can send: refused with a hint.
    response = await client.post("/_mock/clock/advance", data=b'{"seconds": 60}',
                                 headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status == 403
    assert "-H 'Content-Type: application/json'" in (await response.json())["message"]
    response = await client.post("/_mock/clock/advance", data=b'{"seconds": 60}',
                                 headers={"Content-Type": "application/json"})
    assert await response.json() == {"offset": 60}
