"""What real merchant clients send and decode, sent exactly so over HTTP (issue 11).

Each test is one client's shape: a mobile backend's app deep link as backLink, a card-binding
page without accountId, a Go client's strict token decode, a TypeScript client's status
decode and a FastAPI client's saved-card list.
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlsplit

import pytest
from aiohttp import web

from mock_epay.settings import DEFAULT_MERCHANT, Settings
from tests.conftest import TOKEN_PATH, service_form, token_form
from tests.test_cards_auth import VISA_CARD, pay, payment_body
from tests.test_widget import open_page, payment_object, submit
from tests.test_widget_secure3d import SHOP as SHOP_3DS

DEEP_LINK = "vinksim://payment-return?order=000000001&status=ok"
DEEP_LINK_FAIL = "vinksim://payment-return?order=000000001&status=fail"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
async def shop_client(make_client):
    """The mock with a second merchant whose saved card always asks for 3-D Secure."""
    return await make_client(Settings(log_requests=False, merchants=(DEFAULT_MERCHANT, SHOP_3DS)))


@pytest.fixture
async def postlink(aiohttp_server):
    """The merchant's postLink on loopback: `url`, and `next()` waits for the next callback body."""
    bodies: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def receive(request: web.Request) -> web.Response:
        await bodies.put(await request.json())
        return web.Response(text="OK")

    app = web.Application()
    app.router.add_post("/epay/callback", receive)
    server = await aiohttp_server(app, host="127.0.0.1")

    async def next_body() -> dict[str, Any]:
        return await asyncio.wait_for(bodies.get(), 5)

    return {"url": str(server.make_url("/epay/callback")), "next": next_body}


class StrictDecodeError(Exception):
    """What Go's encoding/json reports when a JSON value does not fit the struct field's type."""


JSON_TYPES = {str: "string", bool: "bool", int: "number", float: "number", dict: "object", list: "array"}


def strict_decode(body: dict[str, Any], struct: dict[str, type | tuple[type, ...]]) -> dict[str, Any]:
    """Decode `body` into `struct` as Go does: a present field must have the declared JSON type
    (int and float are both numbers, bool is never one); unknown fields are ignored."""
    for name, expected in struct.items():
        if name not in body or body[name] is None:
            continue
        value = body[name]
        kinds = expected if isinstance(expected, tuple) else (expected,)
        fits = any(isinstance(value, kind) and not (kind in (int, float) and isinstance(value, bool))
                   for kind in kinds)
        if not fits:
            raise StrictDecodeError(f"json: cannot unmarshal {JSON_TYPES[type(value)]} into Go struct "
                                    f"field .{name} of type {JSON_TYPES[kinds[0]]}")
    return body


# type TokenResponse struct { AccessToken string; ExpiresIn string; RefreshToken string; Scope string;
# TokenType string } -- and the bank's iOS SDK declares expires_in a String too.
GO_TOKEN = {"access_token": str, "expires_in": str, "refresh_token": str, "scope": str, "token_type": str}


# -- app deep links as backLink ------------------------------------------------------------------


async def test_cards_auth_takes_an_app_deep_link_as_back_link(client):
    token = (await (await client.post(TOKEN_PATH, data=token_form())).json())["access_token"]
    response = await pay(client, token, payment_body(backLink=DEEP_LINK, failureBackLink=DEEP_LINK_FAIL))
    assert response.status == 200, await response.text()
    assert (await response.json())["cardID"] == VISA_CARD


async def test_a_three_d_secure_step_of_cards_auth_returns_to_the_deep_link(shop_client):
    token = (await (await shop_client.post(TOKEN_PATH, data=token_form(
        client_id="shop3d", client_secret="s3cret", terminal=SHOP_3DS.terminals[0].id,
        invoiceID="000000303", amount="250"))).json())["access_token"]
    response = await shop_client.post("/payments/cards/auth", headers=bearer(token), json={
        "amount": 250, "currency": "KZT", "terminalId": SHOP_3DS.terminals[0].id,
        "invoiceId": "000000303", "description": "3ds", "accountId": "buyer", "paymentType": "cardId",
        "cardId": {"id": SHOP_3DS.saved_cards[0].id}, "backLink": DEEP_LINK})
    assert response.status == 200, await response.text()
    secure = (await response.json())["secure3D"]
    term = urlsplit(secure["termURL"])
    done = await shop_client.post(f"{term.path}?{term.query}", data={"MD": secure["md"], "PaRes": "Y"},
                                  allow_redirects=False)
    assert done.status == 303
    assert done.headers["Location"].startswith(DEEP_LINK + "&reference=")


async def test_the_payment_page_takes_a_deep_link_and_redirects_the_app_to_it(client):
    auth = await (await client.post(TOKEN_PATH, data=token_form())).json()
    obj = payment_object(auth, backLink=DEEP_LINK, failureBackLink=DEEP_LINK_FAIL)
    page = await open_page(client, obj)
    assert page.status == 200, await page.text()
    assert f'href="{DEEP_LINK_FAIL.replace("&", "&amp;")}"' in await page.text()  # the cancel link
    paid = await submit(client, obj)
    assert paid.status == 303
    assert paid.headers["Location"] == DEEP_LINK


@pytest.mark.parametrize("link", [
    "javascript:alert(document.cookie)", "JavaScript:alert(1)", "java\tscript:alert(1)",
    "data:text/html,<script>alert(1)</script>", "vbscript:msgbox(1)", "not a url", "/relative/path",
    "vinksim://", "https:///no-host",
])
async def test_script_uris_and_garbage_are_refused_as_back_link(client, link):
    auth = await (await client.post(TOKEN_PATH, data=token_form())).json()
    page = await open_page(client, payment_object(auth, backLink=link))
    assert page.status == 400
    assert "backLink" in await page.text()
    token = auth["access_token"]
    response = await pay(client, token, payment_body(failureBackLink=link))
    assert response.status == 400
    body = await response.json()
    assert body["code"] == -1 and "failureBackLink" in body["message"]


async def test_post_link_stays_http_only(client):
    token = (await (await client.post(TOKEN_PATH, data=token_form())).json())["access_token"]
    response = await pay(client, token, payment_body(postLink="vinksim://callback"))
    assert response.status == 400
    assert (await response.json())["message"].startswith("field 'postLink' must be an http or https URL")


# -- a card-binding page without accountId --------------------------------------------------------


async def test_card_save_without_account_id_saves_the_card_and_it_pays_through_cards_auth(
        client, postlink):
    auth = await (await client.post(TOKEN_PATH, data=token_form())).json()
    obj = payment_object(auth, cardSave="true", accountId=None, postLink=postlink["url"])
    paid = await submit(client, obj, cardNumber="5522042705066736", expiry="01/27", cvc="775")
    assert paid.status == 303
    callback = await postlink["next"]()
    card_id = callback["cardId"]
    assert isinstance(card_id, str) and card_id
    assert callback["accountId"] == ""
    assert "5522042705066736" not in str(callback)

    service = (await (await client.post(TOKEN_PATH, data=service_form())).json())["access_token"]
    status = await (await client.get("/check-status/payment/transaction/000000001",
                                     headers=bearer(service))).json()
    assert status["transaction"]["cardID"] == card_id

    token = (await (await client.post(TOKEN_PATH, data=token_form(invoiceID="000000002"))).json())
    again = await pay(client, token["access_token"], payment_body(
        invoiceId="000000002", accountId=None, cardId={"id": card_id}, postLink=None,
        failurePostLink=None))
    assert again.status == 200, await again.text()
    answer = await again.json()
    assert answer["cardID"] == card_id and answer["status"] == "CHARGE"

    token = (await (await client.post(TOKEN_PATH, data=token_form(invoiceID="000000003"))).json())
    someone = await pay(client, token["access_token"], payment_body(
        invoiceId="000000003", accountId="someone-else", cardId={"id": card_id}, postLink=None,
        failurePostLink=None))
    assert someone.status == 400
    assert "does not belong to accountId 'someone-else'" in (await someone.json())["message"]


# -- strict decoders ----------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/epay2/oauth2/token", "/oauth2/token"])
@pytest.mark.parametrize(("kind", "form", "expires_in"), [
    ("payment", token_form(), "1200"),
    ("service", service_form(), "7200"),
])
async def test_every_token_answer_decodes_into_a_go_struct_of_strings(client, path, kind, form, expires_in):
    response = await client.post(path, data=form)
    assert response.status == 200
    body = strict_decode(await response.json(), GO_TOKEN)
    assert set(body) == set(GO_TOKEN)
    assert body["expires_in"] == expires_in
    assert body["token_type"] == "Bearer"


def test_the_strict_decoder_refuses_a_number_where_a_string_is_declared():
    with pytest.raises(StrictDecodeError, match="cannot unmarshal number into Go struct field .expires_in"):
        strict_decode({"expires_in": 7200}, GO_TOKEN)


# interface StatusResponse { resultCode: string; resultMessage: string; transaction: Transaction | null }
TS_STATUS = {"resultCode": str, "resultMessage": str, "transaction": dict}


@pytest.mark.parametrize("prefix", ["", "/api"])
async def test_an_unknown_invoice_answers_200_with_result_code_102_and_a_null_transaction(client, prefix):
    service = (await (await client.post(TOKEN_PATH, data=service_form())).json())["access_token"]
    response = await client.get(f"{prefix}/check-status/payment/transaction/424242424",
                                headers=bearer(service))
    assert response.status == 200
    body = strict_decode(await response.json(), TS_STATUS)
    assert "transaction" in body and body["transaction"] is None
    assert body["resultCode"] == "102"


# class SavedCard(BaseModel) list, or ErrorBody(code: int, message: str) on a 2xx answer.
async def test_an_empty_card_list_answers_2xx_with_code_1373(client):
    service = (await (await client.post(TOKEN_PATH, data=service_form())).json())["access_token"]
    response = await client.get("/api/cards/nobody-yet", headers=bearer(service))
    assert 200 <= response.status < 300
    body = strict_decode(await response.json(), {"code": int, "message": str})
    assert body["code"] == 1373 and set(body) == {"code", "message"}


async def test_the_widget_result_page_links_back_to_the_deep_link(client):
    # The same mobile backend with the page in widget mode (isShortForm=true): no redirect, a link.
    auth = await (await client.post(TOKEN_PATH, data=token_form())).json()
    obj = payment_object(auth, backLink=DEEP_LINK)
    response = await submit(client, obj, widget=True)
    assert response.status == 200
    html = await response.text()
    assert f'href="{DEEP_LINK.replace("&", "&amp;")}"' in html
