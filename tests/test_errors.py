"""Every error is rendered in the bank's format with a 4xx status, never a traceback."""

from __future__ import annotations

import pytest

from tests.conftest import TOKEN_PATH, get_token
from tests.test_cards_auth import payment_body

CARDS_AUTH = "/payments/cards/auth"


async def assert_bank_error(response, status: int, text: str) -> None:
    assert response.status == status
    assert response.content_type == "application/json"
    body = await response.json()
    assert set(body) == {"code", "message"}
    assert isinstance(body["code"], int)
    assert text in body["message"]


async def auth_headers(client) -> dict[str, str]:
    return {"Authorization": f"Bearer {await get_token(client)}"}


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        ("{", "malformed JSON"),
        ("{'single': 'quotes'}", "malformed JSON"),
        ("[1, 2]", "JSON object"),
        ("\"just a string\"", "JSON object"),
        ("", "empty"),
        ("[" * 100000, "malformed JSON"),
    ],
)
async def test_malformed_json(client, raw, text):
    headers = await auth_headers(client)
    headers["Content-Type"] = "application/json"
    response = await client.post(CARDS_AUTH, data=raw, headers=headers)
    await assert_bank_error(response, 400, text)


async def test_invalid_utf8_body(client):
    headers = await auth_headers(client)
    headers["Content-Type"] = "application/json"
    response = await client.post(CARDS_AUTH, data=b"{\"a\": \"\xff\xfe\"}", headers=headers)
    await assert_bank_error(response, 400, "UTF-8")


async def test_form_body_on_a_json_endpoint_is_415(client):
    response = await client.post(CARDS_AUTH, data={"amount": "100"},
                                 headers=await auth_headers(client))
    await assert_bank_error(response, 415, "application/json")


async def test_json_without_content_type_is_accepted(client):
    import json

    headers = await auth_headers(client)
    response = await client.post(CARDS_AUTH, data=json.dumps(payment_body()).encode(),
                                 headers={**headers, "Content-Type": ""})
    assert response.status == 200


async def test_body_over_one_mebibyte_is_413(client):
    headers = await auth_headers(client)
    huge = b"{\"description\": \"" + b"x" * (1024 * 1024 + 10) + b"\"}"
    response = await client.post(CARDS_AUTH, data=huge,
                                 headers={**headers, "Content-Type": "application/json"})
    await assert_bank_error(response, 413, "larger than")


async def test_huge_token_form_is_413(client):
    response = await client.post(TOKEN_PATH, data={"grant_type": "x" * (1024 * 1024 + 1)})
    await assert_bank_error(response, 413, "larger than")


@pytest.mark.parametrize(
    "path", ["/api/unknown", "/payments/cards/nothing", "/epay2/oauth2/other", "/", "/api/"]
)
async def test_unknown_paths_are_404_in_bank_format(client, path):
    response = await client.post(path, json={})
    await assert_bank_error(response, 404, "no such endpoint")


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", CARDS_AUTH), ("DELETE", TOKEN_PATH),
     ("POST", "/check-status/payment/transaction/000001")],
)
async def test_wrong_methods_are_405(client, method, path):
    response = await client.request(method, path)
    await assert_bank_error(response, 405, "not allowed")
    assert "Allow" in response.headers


async def test_unicode_everywhere_is_handled(client):
    headers = await auth_headers(client)
    body = payment_body(name="Әлия Нұрланқызы 😀", email="ә@пример.kz", accountId="testuser1")
    response = await client.post(CARDS_AUTH, json=body, headers=headers)
    assert response.status == 200
    assert (await response.json())["email"] == "ә@пример.kz"


async def test_null_bytes_and_control_characters_do_not_crash(client):
    headers = await auth_headers(client)
    body = payment_body(description="a\u0000b\u001f", name="\u0000")
    response = await client.post(CARDS_AUTH, json=body, headers=headers)
    assert response.status in (200, 400)


async def test_wrong_json_types_for_every_field(client):
    headers = await auth_headers(client)
    for field in ("amount", "currency", "terminalId", "invoiceId", "description", "cardId",
                  "accountId", "name", "email", "phone", "language", "postLink"):
        for bad in ({"nested": True}, [1], 1.5e300, False):
            response = await client.post(CARDS_AUTH, json=payment_body(**{field: bad}),
                                         headers=headers)
            assert response.status in (200, 400), (field, bad, await response.text())
            if response.status == 400:
                assert set(await response.json()) == {"code", "message"}
