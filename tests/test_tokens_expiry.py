"""Tokens stop working when they expire; time is moved with the injectable clock."""

from __future__ import annotations

from tests.conftest import get_service_token, get_token

STATUS = "/check-status/payment/transaction/000000001"


async def test_service_token_works_until_it_expires(client, clock):
    token = await get_service_token(client)
    headers = {"Authorization": f"Bearer {token}"}
    assert (await client.get(STATUS, headers=headers)).status in (200, 400)
    clock.advance(7199)
    assert (await client.get(STATUS, headers=headers)).status in (200, 400)
    clock.advance(2)
    response = await client.get(STATUS, headers=headers)
    assert response.status == 401
    assert (await response.json())["message"] == "access token expired"


async def test_payment_token_expires_after_1200_seconds(client, clock):
    token = await get_token(client)
    clock.advance(1201)
    response = await client.post(
        "/payments/cards/auth", json={}, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status == 401
    assert "expired" in (await response.json())["message"]
