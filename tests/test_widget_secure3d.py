"""3-D Secure for saved-card payments (spec 2.4): secure3D in cards/auth, the mock ACS, confirmPayment."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from mock_epay.gateway.models import Merchant, SeedCard, Terminal
from mock_epay.settings import DEFAULT_MERCHANT, Settings
from tests.conftest import get_service_token, get_token

CARD_ID = "3d3d3d3d-0000-4000-8000-000000000001"
TERMINAL = "aaaaaaaa-1111-2222-3333-444444444444"
SHOP = Merchant(
    client_id="shop3d", client_secret="s3cret", name="3DS shop",
    terminals=(Terminal(id=TERMINAL, number="90000003"),),
    saved_cards=(SeedCard("buyer", "4000000000003220", CARD_ID),),
)


@pytest.fixture
async def shop_client(make_client):
    return await make_client(Settings(log_requests=False, seed=3, merchants=(DEFAULT_MERCHANT, SHOP)))


def body(invoice_id: str = "000000301") -> dict:
    return {"amount": 250, "currency": "KZT", "terminalId": TERMINAL, "invoiceId": invoice_id,
            "description": "3ds", "accountId": "buyer", "paymentType": "cardId", "cardId": {"id": CARD_ID},
            "backLink": "https://shop.example.kz/ok", "failureBackLink": "https://shop.example.kz/fail"}


async def start(client, invoice_id: str = "000000301") -> tuple[str, dict]:
    token = await get_token(client, client_id="shop3d", client_secret="s3cret", terminal=TERMINAL,
                            invoiceID=invoice_id, amount="250")
    response = await client.post("/payments/cards/auth", json=body(invoice_id),
                                 headers={"Authorization": f"Bearer {token}"})
    assert response.status == 200, await response.text()
    return token, await response.json()


async def status(client, invoice_id: str = "000000301") -> dict:
    token = await get_service_token(client, client_id="shop3d", client_secret="s3cret")
    response = await client.get(f"/check-status/payment/transaction/{invoice_id}",
                                headers={"Authorization": f"Bearer {token}"})
    return (await response.json())["transaction"]


async def test_cards_auth_answers_secure3d_and_keeps_the_invoice_reserved(shop_client):
    token, answer = await start(shop_client)
    secure = answer["secure3D"]
    assert set(secure) == {"action", "md", "paReq", "termURL"}
    assert secure["action"].endswith("/_mock/acs")
    assert secure["termURL"].endswith(f"/payments/cards/confirmPayment?Access={token}")
    assert answer["status"] == "NEW"
    assert (await status(shop_client))["statusName"] == "NEW"
    again = await shop_client.post("/payments/cards/auth", json=body(),
                                   headers={"Authorization": f"Bearer {token}"})
    assert again.status == 400
    assert (await again.json())["message"] == "dublicate transaction"


@pytest.mark.parametrize(("pa_res", "location", "status_name"), [
    ("Y", "https://shop.example.kz/ok?reference=", "CHARGE"),
    ("N", "https://shop.example.kz/fail?errorCode=473", "3D"),
])
async def test_acs_then_confirm_payment_finishes_and_redirects(shop_client, pa_res, location, status_name):
    _, answer = await start(shop_client)
    secure = answer["secure3D"]
    acs = await shop_client.post(urlsplit(secure["action"]).path, data={
        "MD": secure["md"], "PaReq": secure["paReq"], "TermUrl": secure["termURL"]})
    assert acs.status == 200
    html = await acs.text()
    assert 'data-testid="acs-approve"' in html and "400000...3220" in html
    term = urlsplit(secure["termURL"])
    done = await shop_client.post(f"{term.path}?{term.query}", data={"MD": secure["md"], "PaRes": pa_res},
                                  allow_redirects=False)
    assert done.status == 303
    assert done.headers["Location"].startswith(location)
    tx = await status(shop_client)
    assert tx["statusName"] == status_name and tx["secure"] is True


async def test_confirm_payment_needs_the_payment_token_and_a_pending_step(shop_client):
    _, answer = await start(shop_client)
    md = answer["secure3D"]["md"]
    wrong = await shop_client.post("/payments/cards/confirmPayment?Access=nope",
                                   data={"MD": md, "PaRes": "Y"})
    assert wrong.status == 401
    other = await get_token(shop_client)  # the default merchant's token
    response = await shop_client.post(f"/payments/cards/confirmPayment?Access={other}",
                                      data={"MD": md, "PaRes": "Y"})
    assert response.status == 400
