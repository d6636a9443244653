"""Transaction status: the full field set with its types, not-found answers and merchant isolation."""

from __future__ import annotations

import re

import pytest

from mock_epay.gateway.models import Merchant, Terminal
from mock_epay.settings import DEFAULT_MERCHANT, Settings, build_settings
from tests.conftest import get_service_token, get_token
from tests.test_cards_auth import LOCKED_CARD, pay, payment_body

STATUS_FIELDS = {
    "id", "createdDate", "invoiceID", "amount", "amountBonus", "payoutAmount", "orgAmount",
    "approvalCode", "data", "currency", "terminal", "terminalID", "accountID", "description",
    "language", "cardMask", "cardType", "issuer", "reference", "reason", "reasonCode",
    "intReference", "secure", "secureDetails", "statusID", "statusName", "name", "email",
    "phone", "cardID", "xlsRRN", "ip", "ipCountry", "ipCity", "ipRegion", "ipDistrict",
    "ipLatitude", "ipLongitude",
}
RFC3339_KZ = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+\+0[56]:00$")


def status_path(invoice_id: str, api: bool = False) -> str:
    return ("/api" if api else "") + f"/check-status/payment/transaction/{invoice_id}"


@pytest.mark.parametrize("api", [False, True])
async def test_status_of_a_paid_invoice(client, api):
    paid = await (await pay(client, await get_token(client), payment_body())).json()
    token = await get_service_token(client)
    response = await client.get(status_path("000000001", api),
                                headers={"Authorization": f"Bearer {token}"})
    assert response.status == 200
    body = await response.json()
    assert body["resultCode"] == "100"
    assert body["resultMessage"] == "SUCCESS"
    tx = body["transaction"]
    assert set(tx) == STATUS_FIELDS
    assert tx["id"] == paid["id"]
    assert tx["invoiceID"] == "000000001"
    assert tx["statusName"] == "CHARGE"
    assert tx["reasonCode"] == "0" and isinstance(tx["reasonCode"], str)
    assert isinstance(tx["secure"], bool)
    assert RFC3339_KZ.match(tx["createdDate"]), tx["createdDate"]
    assert tx["amount"] == 100 and tx["orgAmount"] == 100
    assert tx["cardMask"] == "440563...5096"
    assert tx["cardType"] == "VISA"
    assert tx["cardID"] == "e7e2587f-de26-4f41-ae1f-80c1fea31728"
    assert tx["terminalID"] == "67e34d63-102f-4bd1-898e-370781d0074d"
    assert len(tx["terminal"]) == 8
    assert tx["approvalCode"] == paid["approvalCode"]
    assert tx["reference"] == paid["reference"]


async def test_status_of_a_declined_payment(client):
    await pay(client, await get_token(client), payment_body(cardId={"id": LOCKED_CARD}))
    token = await get_service_token(client)
    body = await (await client.get(status_path("000000001"),
                                   headers={"Authorization": f"Bearer {token}"})).json()
    assert body["transaction"]["statusName"] == "REJECT"
    assert body["transaction"]["reasonCode"] == "465"
    assert body["transaction"]["approvalCode"] == ""


async def test_unknown_invoice_answers_102_with_http_200_and_a_null_transaction(client):
    token = await get_service_token(client)
    response = await client.get(status_path("999999999"),
                                headers={"Authorization": f"Bearer {token}"})
    assert response.status == 200
    body = await response.json()
    assert body == {"resultCode": "102", "resultMessage": "transaction not found", "transaction": None}


async def test_unknown_invoice_http_status_and_null_transaction_are_switchable(make_client):
    client = await make_client(Settings(log_requests=False, status_unknown_http=400,
                                        status_unknown_transaction_null=False))
    token = await get_service_token(client)
    response = await client.get(status_path("999999999"),
                                headers={"Authorization": f"Bearer {token}"})
    assert response.status == 400
    body = await response.json()
    assert body["resultCode"] == "102"
    assert "transaction" not in body


@pytest.mark.parametrize(
    ("config", "env", "expected"),
    [
        ("status_unknown_http: 400\nstatus_unknown_transaction_null: false\n", {}, (400, False)),
        ("status_error_http: 400\n", {}, (400, True)),  # the setting's older name
        ("", {"MOCK_EPAY_STATUS_UNKNOWN_HTTP": "400",
              "MOCK_EPAY_STATUS_UNKNOWN_TRANSACTION_NULL": "false"}, (400, False)),
        ("status_unknown_http: 400\n", {"MOCK_EPAY_STATUS_UNKNOWN_HTTP": "200"}, (200, True)),
    ],
)
def test_unknown_invoice_switches_come_from_config_and_env(tmp_path, config, env, expected):
    path = tmp_path / "mock-epay.yaml"
    path.write_text(config, encoding="utf-8")
    settings = build_settings({"config_file": path}, env)
    assert (settings.status_unknown_http, settings.status_unknown_transaction_null) == expected


async def test_payment_token_reads_its_own_invoice_only(client):
    token = await get_token(client)
    await pay(client, token, payment_body())
    own = await client.get(status_path("000000001"), headers={"Authorization": f"Bearer {token}"})
    assert (await own.json())["resultCode"] == "100"
    other_token = await get_token(client, invoiceID="000000002")
    await pay(client, other_token, payment_body(invoiceId="000000002"))
    other = await client.get(status_path("000000002"),
                             headers={"Authorization": f"Bearer {token}"})
    assert (await other.json())["resultCode"] == "102"


async def test_status_without_token_is_401(client):
    response = await client.get(status_path("000000001"))
    assert response.status == 401
    assert set(await response.json()) == {"code", "message"}


async def test_one_merchant_never_sees_anothers_transactions(make_client):
    other = Merchant(
        client_id="other", client_secret="pw", name="Other",
        terminals=(Terminal(id="99999999-2222-3333-4444-555555555555", number="90000009"),),
    )
    client = await make_client(Settings(log_requests=False, merchants=(DEFAULT_MERCHANT, other)))
    await pay(client, await get_token(client), payment_body())
    token = await get_service_token(client, client_id="other", client_secret="pw")
    response = await client.get(status_path("000000001"),
                                headers={"Authorization": f"Bearer {token}"})
    body = await response.json()
    assert body["resultCode"] == "102"
    assert body["transaction"] is None
