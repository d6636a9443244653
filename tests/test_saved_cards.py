"""Saved cards: listing a customer's cards, deactivating one, and what a deactivated card can no longer do."""

from __future__ import annotations

import pytest

from mock_epay.settings import ConfigError, Settings, build_settings
from tests.conftest import get_service_token, get_token
from tests.test_cards_auth import LOCKED_CARD, MASTERCARD_CARD, VISA_CARD, pay, payment_body
from tests.test_operations import (
    NO_CALLBACKS,
    SHOP_CARD,
    SHOP_CREDENTIALS,
    assert_refused,
    two_stage_settings,
)

CARD_FIELDS = {"ID", "TransactionId", "MerchantID", "CardHash", "CardMask", "PayerName", "Reference",
               "IntReference", "Token", "Terminal", "CreatedDate", "PaymentAvailable", "AccountID"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize("prefix", ["", "/api"])
async def test_list_a_customers_saved_cards(client, prefix):
    token = await get_service_token(client)
    response = await client.get(f"{prefix}/cards/testuser1", headers=bearer(token))
    assert response.status == 200
    cards = await response.json()
    assert isinstance(cards, list)
    assert {card["ID"] for card in cards} == {VISA_CARD, MASTERCARD_CARD, LOCKED_CARD}
    visa = next(card for card in cards if card["ID"] == VISA_CARD)
    assert set(visa) == CARD_FIELDS
    assert visa["CardMask"] == "440563...5096"
    assert visa["AccountID"] == "testuser1"
    assert visa["PaymentAvailable"] is True
    assert visa["MerchantID"] == "test"


async def assert_no_cards(response, status: int = 200) -> None:
    """The bank's "no saved cards" object, `{"code": 1373, ...}`, where the card array would be."""
    assert response.status == status, await response.text()
    body = await response.json()
    assert set(body) == {"code", "message"}
    assert body["code"] == 1373


async def test_an_account_without_cards_answers_1373_with_http_200(client):
    token = await get_service_token(client)
    response = await client.get("/cards/nobody", headers=bearer(token))
    await assert_no_cards(response)
    assert (await response.json())["message"] == "no saved cards for accountId 'nobody'"


async def test_the_http_status_of_an_empty_card_list_is_switchable(make_client):
    client = await make_client(Settings(log_requests=False, empty_cards_http=400))
    token = await get_service_token(client)
    await assert_no_cards(await client.get("/cards/nobody", headers=bearer(token)), 400)


@pytest.mark.parametrize(("config", "env", "expected"), [
    ("empty_cards_http: 400\n", {}, 400),
    ("", {"MOCK_EPAY_EMPTY_CARDS_HTTP": "400"}, 400),
    ("empty_cards_http: 400\n", {"MOCK_EPAY_EMPTY_CARDS_HTTP": "200"}, 200),
])
def test_the_empty_card_list_switch_comes_from_config_and_env(tmp_path, config, env, expected):
    path = tmp_path / "mock-epay.yaml"
    path.write_text(config, encoding="utf-8")
    assert build_settings({"config_file": path}, env).empty_cards_http == expected


def test_a_bad_empty_card_list_status_is_refused():
    with pytest.raises(ConfigError, match="MOCK_EPAY_EMPTY_CARDS_HTTP"):
        build_settings({}, {"MOCK_EPAY_EMPTY_CARDS_HTTP": "404"})


async def test_listing_needs_a_service_token(client):
    assert (await client.get("/cards/testuser1")).status == 401
    response = await client.get("/cards/testuser1", headers=bearer(await get_token(client)))
    assert response.status == 401
    assert "service token" in (await response.json())["message"]


@pytest.mark.parametrize("prefix", ["", "/api"])
async def test_deactivate_a_card(client, prefix):
    token = await get_service_token(client)
    response = await client.post(f"{prefix}/card/deactivate/{MASTERCARD_CARD}", headers=bearer(token))
    assert response.status == 200
    assert await response.json() == {"status": "card successfully deactivated"}
    cards = await (await client.get("/cards/testuser1", headers=bearer(token))).json()
    assert MASTERCARD_CARD not in {card["ID"] for card in cards}
    again = await client.post(f"/card/deactivate/{MASTERCARD_CARD}", headers=bearer(token))
    await assert_refused(again, -1, "already deactivated")


async def test_a_deactivated_card_cannot_pay(client):
    token = await get_service_token(client)
    await client.post(f"/card/deactivate/{VISA_CARD}", headers=bearer(token))
    body = payment_body(cardId={"id": VISA_CARD}, **NO_CALLBACKS)
    response = await pay(client, await get_token(client), body)
    await assert_refused(response, -1, f"card {VISA_CARD} is deactivated")


async def test_deactivating_every_card_leaves_1373(client):
    token = await get_service_token(client)
    for card in (VISA_CARD, MASTERCARD_CARD, LOCKED_CARD):
        assert (await client.post(f"/card/deactivate/{card}", headers=bearer(token))).status == 200
    await assert_no_cards(await client.get("/cards/testuser1", headers=bearer(token)))


async def test_unknown_card_cannot_be_deactivated(client):
    token = await get_service_token(client)
    response = await client.post("/card/deactivate/no-such-card", headers=bearer(token))
    await assert_refused(response, -1, "'no-such-card' not found")


async def test_another_merchants_card_is_invisible(make_client):
    client = await make_client(two_stage_settings())
    test_token = await get_service_token(client)
    shop_token = await get_service_token(client, **SHOP_CREDENTIALS)
    await assert_refused(await client.post(f"/card/deactivate/{SHOP_CARD}", headers=bearer(test_token)),
                         -1, "not found")
    await assert_no_cards(await client.get("/cards/u1", headers=bearer(test_token)))
    cards = await (await client.get("/cards/u1", headers=bearer(shop_token))).json()
    assert [card["ID"] for card in cards] == [SHOP_CARD]
    assert cards[0]["MerchantID"] == "shop"
