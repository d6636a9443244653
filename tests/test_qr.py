"""QR by API: a merchant generates a bill, polls NEW, the buyer's phone (the admin API or the
Homebank-app simulator) scans and pays, the merchant polls PAID and gets its callback; the
20-minute rule, scenario declines and isolation."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest

from mock_epay.gateway.models import Merchant, Terminal
from mock_epay.settings import DEFAULT_MERCHANT, Settings
from tests.conftest import get_service_token, get_token
from tests.test_callbacks import FakeMerchant


@pytest.fixture
async def shop() -> Any:
    """The merchant's real callback server on 127.0.0.1."""
    server = FakeMerchant()
    await server.start()
    yield server
    await server.stop()


async def generate(client: Any, token: str, **body: Any) -> Any:
    return await client.post("/payment/qr/generate", json=body, headers={"Authorization": f"Bearer {token}"})


async def poll(client: Any, token: str, bill: str | None = None) -> dict[str, Any]:
    response = await client.get("/qr", params={"billNumber": bill} if bill else None,
                                headers={"Authorization": f"Bearer {token}"})
    assert response.status == 200
    return await response.json()


async def test_a_bill_is_scanned_and_paid_and_the_merchant_gets_the_callback(client, shop):
    token = await get_token(client, invoiceID="000000501", amount="2500")
    response = await generate(client, token, postLink=shop.url("/ok"), failurePostLink=shop.url("/fail"),
                              description="Consultation", language="ru", accountId="42")
    assert response.status == 200
    bill = await response.json()
    assert set(bill) == {"billNumber", "qrcode", "homebankLink", "onlinebankLink"}
    assert len(bill["billNumber"]) == 12 and bill["billNumber"].isdigit()
    again = await (await generate(client, token)).json()
    assert again["billNumber"] == bill["billNumber"]  # the same token gets the same bill

    status = await poll(client, token)
    assert status["status"] == "NEW" and status["secure3D"] is False and status["amount"] == 0
    assert (await client.post(f"/_mock/qr/{bill['billNumber']}/scan")).status == 200
    assert (await poll(client, token, bill["billNumber"]))["status"] == "SCANNED"
    approved = await client.post(f"/_mock/qr/{bill['billNumber']}/approve")
    assert approved.status == 200
    paid = await poll(client, token, bill["billNumber"])
    assert paid["status"] == "PAID" and paid["amount"] == 2500 and paid["retCode"] == "0"

    [callback] = await shop.wait_for_requests(1)
    assert callback.path == "/ok" and callback.json()["invoiceId"] == "000000501"
    status = await (await client.get("/check-status/payment/transaction/000000501",
                                     headers={"Authorization": f"Bearer {token}"})).json()
    assert status["transaction"]["statusName"] == "CHARGE"


async def test_an_unfinished_bill_is_rejected_after_twenty_minutes(client, shop):
    token = await get_token(client, invoiceID="000000502", amount="100")
    bill = (await (await generate(client, token, failurePostLink=shop.url("/fail"))).json())["billNumber"]
    await client.post(f"/_mock/qr/{bill}/scan")
    await client.post("/_mock/clock/advance", params={"seconds": "1199"})
    assert (await poll(client, token, bill))["status"] == "SCANNED"
    await client.post("/_mock/clock/advance", params={"seconds": "2"})
    fresh = await get_token(client, invoiceID="000000502", amount="100")  # the first token has expired
    rejected = await poll(client, fresh, bill)
    assert rejected["status"] == "REJECTED" and rejected["retCode"] == "499"
    [callback] = await shop.wait_for_requests(1)
    assert callback.path == "/fail"
    late = await client.post(f"/_mock/qr/{bill}/approve")
    assert late.status == 400


async def test_a_scenario_rule_for_source_qr_declines_on_approve(client, shop):
    rule = {"name": "qr-declines", "description": "QR payments decline",
            "match": {"source": "qr"}, "outcome": {"result": "decline", "reasonCode": 465}}
    assert (await client.post("/_mock/scenarios", json=rule)).status in (200, 201)
    token = await get_token(client, invoiceID="000000503", amount="100")
    bill = (await (await generate(client, token, postLink=shop.url("/ok"))).json())["billNumber"]
    await client.post(f"/_mock/qr/{bill}/scan")
    await client.post(f"/_mock/qr/{bill}/approve")
    rejected = await poll(client, token, bill)
    assert rejected["status"] == "REJECTED" and rejected["retCode"] == "465"
    [callback] = await shop.wait_for_requests(1)
    assert callback.json()["code"] != "ok"


async def test_the_homebank_app_page_scans_pays_and_rejects(client):
    token = await get_token(client, invoiceID="000000504", amount="100")
    bill = await (await generate(client, token)).json()
    page = await client.get(urlsplit(bill["qrcode"]).path)
    assert page.status == 200 and 'data-testid="homebank-qr-scan"' in await page.text()
    scanned = await client.post(urlsplit(bill["qrcode"]).path + "/scan")
    assert "SCANNED" in await scanned.text()
    rejected = await client.post(urlsplit(bill["qrcode"]).path + "/reject")
    assert "REJECTED" in await rejected.text()
    assert (await poll(client, token))["status"] == "REJECTED"
    again = await client.post(urlsplit(bill["qrcode"]).path + "/approve")
    assert again.status == 400


async def test_bad_requests_answer_the_banks_error(client):
    service = await get_service_token(client)
    assert (await generate(client, service)).status == 401  # generate needs a payment token
    token = await get_token(client, invoiceID="000000505", amount="100")
    bad = await generate(client, token, postLink="not a url")
    assert bad.status == 400 and (await bad.json()) == {"code": 100, "message": "postLink is not a valid URL"}
    missing = await client.get("/qr", headers={"Authorization": f"Bearer {token}"})
    assert missing.status == 404 and (await missing.json())["code"] == 102
    assert (await client.post("/_mock/qr/123456789012/scan")).status == 404


async def test_bills_are_scoped_to_their_merchant(make_client):
    other = Merchant("other", "other-secret", "Other",
                     (Terminal("11111111-2222-3333-4444-555555555555", "98129999"),))
    client = await make_client(Settings(merchants=(DEFAULT_MERCHANT, other)))
    token = await get_token(client, invoiceID="000000506", amount="100")
    bill = (await (await generate(client, token)).json())["billNumber"]
    theirs = await get_service_token(client, client_id="other", client_secret="other-secret")
    response = await client.get("/qr", params={"billNumber": bill},
                                headers={"Authorization": f"Bearer {theirs}"})
    assert response.status == 404
