"""Invoice links: a merchant sends a link, the buyer reads it in the outbox, opens it, pays, and the
merchant's real loopback server receives the post_link; expiry, duplicates, search and isolation."""

from __future__ import annotations

import re
from html import unescape
from typing import Any
from urllib.parse import urlsplit

import pytest

from mock_epay.settings import TEST_CABINET_LOGIN, TEST_CABINET_PASSWORD, TEST_SHOP_ID, Settings
from tests.conftest import get_service_token
from tests.test_callbacks import FakeMerchant


@pytest.fixture
async def shop() -> Any:
    """The merchant's real callback server on 127.0.0.1."""
    server = FakeMerchant()
    await server.start()
    yield server
    await server.stop()

PAY_CARD = {"cardNumber": "4405 6397 0401 5096", "expiry": "01/27", "cvc": "321", "holder": "TEST BUYER"}


async def password_token(client: Any) -> dict[str, Any]:
    response = await client.post("/oauth2/token", data={
        "grant_type": "password", "username": TEST_CABINET_LOGIN, "password": TEST_CABINET_PASSWORD,
        "client_id": "test", "client_secret": "ignored", "scope": ""})
    assert response.status == 200
    return await response.json()


def link_body(**overrides: Any) -> dict[str, Any]:
    body = {"shop_id": TEST_SHOP_ID, "account_id": "7026207447", "invoice_id": "121738945359",
            "amount": 1180, "currency": "KZT", "language": "rus", "description": "Order #121738945359",
            "expire_period": "1d", "recipient_contact": "buyer@example.com",
            "recipient_contact_sms": "+77022363206", "back_link": "https://shop.example/paid"}
    body.update(overrides)
    return body


async def send_link(client: Any, token: str, path: str = "/invoice", **overrides: Any) -> Any:
    return await client.post(path, json=link_body(**overrides), headers={"Authorization": f"Bearer {token}"})


async def test_the_password_grant_answers_as_its_doc_page_and_refreshes(client):
    token = await password_token(client)
    assert token["expires_in"] == "900" and token["refresh_token"] and token["token_type"] == "Bearer"
    refreshed = await client.post("/oauth2/token", data={"grant_type": "refresh_token",
                                                         "refresh_token": token["refresh_token"]})
    assert refreshed.status == 200
    assert (await refreshed.json())["access_token"] != token["access_token"]
    as_bearer = await send_link(client, token["refresh_token"])  # a refresh token is not a bearer token
    assert as_bearer.status == 401 and "Token is not valid" in (await as_bearer.json())["message"]
    wrong = await client.post("/oauth2/token", data={"grant_type": "password", "username": TEST_CABINET_LOGIN,
                                                     "password": "nope"})
    assert wrong.status == 401


async def test_a_buyer_pays_a_link_from_the_outbox_and_the_merchant_gets_the_post_link(client, shop):
    token = (await password_token(client))["access_token"]
    response = await send_link(client, token, path="/api/invoice", post_link=shop.url("/ok"),
                               failure_post_link=shop.url("/fail"))
    assert response.status == 200
    link = await response.json()
    assert link["status"] == "ACTIVE"
    assert link["invoice_url"].endswith("/api/redirect/invoice-link/" + link["id"])
    assert link["updated_date"] == "0001-01-01T00:00:00Z" and link["expire_date"].endswith("+05:00")

    mail = (await (await client.get("/_mock/outbox", params={"recipient": "buyer@example.com"})).json())
    [email] = mail["messages"]
    assert email["channel"] == "email" and link["invoice_url"] in email["text"]
    sms = (await (await client.get("/_mock/outbox", params={"invoice": "121738945359"})).json())["messages"]
    assert {m["channel"] for m in sms} == {"email", "sms"}

    page = await client.get(urlsplit(email["invoice_url"]).path)
    assert page.status == 200
    found = re.search(r'href="([^"]+)" data-testid="invoice-link-pay"', await page.text())
    pay_url = unescape(found.group(1))
    params = urlsplit(pay_url).query.split("=", 1)[1]
    opened = await client.get(urlsplit(pay_url).path + "?" + urlsplit(pay_url).query)
    assert opened.status == 200
    paid = await client.post("/payform/pay", data={"params": _unquote(params), **PAY_CARD},
                             allow_redirects=False)
    assert paid.status == 303 and paid.headers["Location"] == "https://shop.example/paid"

    [callback] = await shop.wait_for_requests(1)
    body = callback.json()
    assert callback.path == "/ok" and body["invoiceId"] == "121738945359" and body["code"] == "ok"
    assert "4405639704015096" not in callback.raw.decode()

    search = await client.post("/invoice-links", headers={"Authorization": f"Bearer {token}"}, json={
        "paging": {"skip": 0, "limit": 1},
        "searchParameters": [{"name": "invoice_id", "method": "=", "searchParameter": ["121738945359"]}],
        "orderParameters": {"field": "id", "typeOrder": "DESC"}})
    found = await search.json()
    assert found["TotalCount"] == 1 and found["Records"][0]["status"] == "CHARGED"
    assert (await client.get(urlsplit(link["invoice_url"]).path)).status == 200  # "already paid"


def _unquote(text: str) -> str:
    from urllib.parse import unquote

    return unquote(text)


async def test_an_expired_link_is_refused_after_the_clock_moves(client):
    token = await get_service_token(client)  # a client-credentials token works too
    link = await (await send_link(client, token, expire_period="30m", invoice_id="000000777")).json()
    path = urlsplit(link["invoice_url"]).path
    assert (await client.get(path)).status == 200
    await client.post("/_mock/clock/advance", params={"seconds": "1801"})
    expired = await client.get(path)
    assert expired.status == 410 and "expired" in await expired.text()
    again = await send_link(client, token, expire_period="1w", invoice_id="000000777")
    assert again.status == 200  # an expired link no longer blocks a new one for the invoice


@pytest.mark.parametrize(("overrides", "code"), [
    ({"recipient_contact_sms": "8702236320"}, 1079),
    ({"recipient_contact_sms": "+7702236320x"}, 1079),
    ({"expire_period": "1y"}, 100),
    ({"shop_id": "00000000-0000-0000-0000-000000000000"}, -1),
    ({"amount": 0}, -1),
])
async def test_bad_links_answer_the_banks_error(client, overrides, code):
    token = await get_service_token(client)
    response = await send_link(client, token, **overrides)
    assert response.status == 400
    assert (await response.json())["code"] == code


async def test_a_second_live_link_for_the_same_shop_and_invoice_is_refused(client):
    token = await get_service_token(client)
    assert (await send_link(client, token)).status == 200
    second = await send_link(client, token)
    assert second.status == 400 and (await second.json())["code"] == -1


async def test_links_are_scoped_to_their_merchant(make_client):
    from mock_epay.gateway.models import Merchant, Terminal
    from mock_epay.settings import DEFAULT_MERCHANT

    other = Merchant("other", "other-secret", "Other", (Terminal("11111111-2222-3333-4444-555555555555",
                                                                 "98129999"),), shop_id="shop-other")
    client = await make_client(Settings(merchants=(DEFAULT_MERCHANT, other)))
    mine = await get_service_token(client)
    theirs = await get_service_token(client, client_id="other", client_secret="other-secret")
    assert (await send_link(client, mine)).status == 200
    refused = await send_link(client, theirs)  # the test merchant's shop is not theirs
    assert refused.status == 400
    search = await client.post("/invoice-links", headers={"Authorization": f"Bearer {theirs}"}, json={})
    assert (await search.json()) == {"TotalCount": 0, "Records": []}
    assert (await send_link(client, theirs, shop_id="shop-other")).status == 200  # same invoice, own shop


async def test_the_merchant_list_shows_the_shop_id(client):
    merchants = (await (await client.get("/_mock/merchants")).json())["merchants"]
    assert merchants[0]["shopId"] == TEST_SHOP_ID
