"""The hosted payment page over HTTP: opening it, paying, declines, 3-D Secure, saved cards, the script."""

from __future__ import annotations

import asyncio
import re
from datetime import date
from typing import Any

import pytest
from aiohttp import web

from mock_epay.gateway import sandbox_cards
from mock_epay.gateway.models import PaymentAttempt
from mock_epay.settings import TEST_CLIENT_ID, TEST_TERMINAL_ID, Settings
from mock_epay.web.payform.params import payform_url
from tests.conftest import TOKEN_PATH, token_form

VISA = "4405639704015096"
LOCKED = "4003032704547597"
SECURE3D = "4000000000003220"
SHOP = "https://shop.example.kz"


async def token_response(client, **overrides: Any) -> dict[str, Any]:
    response = await client.post(TOKEN_PATH, data=token_form(**overrides))
    assert response.status == 200, await response.text()
    return await response.json()


def payment_object(auth: Any, **overrides: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "invoiceId": "000000001",
        "backLink": f"{SHOP}/success",
        "failureBackLink": f"{SHOP}/failure",
        "postLink": None,
        "failurePostLink": None,
        "language": "RU",
        "description": "Оплата в интернет магазине",
        "accountId": "testuser1",
        "terminal": TEST_TERMINAL_ID,
        "amount": 100,
        "currency": "KZT",
        "name": "Arman Ali",
        "email": "buyer@example.com",
        "phone": "77777777777",
        "auth": auth,
    }
    obj.update(overrides)
    return {k: v for k, v in obj.items() if v is not None}


async def open_page(client, obj: dict[str, Any], *, widget: bool = False, extra: str = ""):
    url = payform_url("/payform/", obj, widget=widget) + extra
    return await client.get(url)


def params_of(html: str) -> str:
    return re.search(r'name="params" value="([^"]+)"', html).group(1)


async def submit(client, obj: dict[str, Any], *, widget: bool = False, **card: str):
    form = {"params": params_of(await (await open_page(client, obj, widget=widget)).text()),
            "isShortForm": "true" if widget else "false",
            "cardNumber": VISA, "expiry": "01/27", "cvc": "321", "holder": "ARMAN ALI"}
    form.update(card)
    return await client.post("/payform/pay", data=form, allow_redirects=False)


async def status_of(client, invoice_id: str = "000000001") -> dict[str, Any]:
    form = token_form(invoiceID=None, amount=None, currency=None, terminal=None)
    token = (await (await client.post(TOKEN_PATH, data={k: v for k, v in form.items() if v})).json())
    response = await client.get(f"/check-status/payment/transaction/{invoice_id}",
                                headers={"Authorization": f"Bearer {token['access_token']}"})
    return await response.json()


@pytest.fixture
async def merchant(aiohttp_server):
    """A merchant's callback endpoints on loopback; `received` collects (path, body)."""
    received: list[tuple[str, dict]] = []
    arrived = asyncio.Event()

    async def hook(request: web.Request) -> web.Response:
        received.append((request.path, await request.json()))
        arrived.set()
        return web.Response(text="OK")

    app = web.Application()
    app.router.add_post("/post", hook)
    app.router.add_post("/fail", hook)
    server = await aiohttp_server(app, host="127.0.0.1")

    async def wait(count: int = 1) -> list[tuple[str, dict]]:
        async with asyncio.timeout(5):
            while len(received) < count:
                arrived.clear()
                await arrived.wait()
        return received

    base = str(server.make_url("")).rstrip("/")
    return {"post": base + "/post", "fail": base + "/fail", "wait": wait, "received": received}


# -- the script ------------------------------------------------------------------------


@pytest.mark.parametrize("prefix", ["/payform/", "/redesign-payform/"])
async def test_script_is_served_with_the_mock_page_address_baked_in(make_client, prefix):
    client = await make_client(Settings(log_requests=False, public_url="http://epay.mock:9000/"))
    response = await client.get(prefix + "payment-api.js")
    assert response.status == 200
    assert response.content_type == "application/javascript"
    script = await response.text()
    assert 'var BASE_URL = "http://epay.mock:9000";' in script
    assert f'var PAGE_PATH = "{prefix}";' in script
    assert "__MOCK_EPAY" not in script
    for member in ("showPaymentWidget", "cardverification", "p2p", "aft", "oct", "Config"):
        assert member in script


async def test_script_uses_the_request_origin_without_public_url(client):
    script = await (await client.get("/payform/payment-api.js")).text()
    origin = str(client.make_url("")).rstrip("/")
    assert f'var BASE_URL = "{origin}";' in script


# -- opening the page ------------------------------------------------------------------


async def test_page_shows_merchant_amount_description_and_the_card_form(client):
    auth = await token_response(client)
    response = await open_page(client, payment_object(auth))
    assert response.status == 200
    html = await response.text()
    assert "Test merchant" in html
    assert "100.00 KZT" in html
    assert "Оплата в интернет магазине" in html
    for testid in ("card-number", "card-expiry", "card-cvc", "card-holder", "payer-email", "payer-phone",
                   "pay-button", "test-cards", f"test-card-{VISA}", "cancel-link"):
        assert f'data-testid="{testid}' in html, testid


@pytest.mark.parametrize("form", ["bare", "bearer", "token-alias"])
async def test_auth_may_be_a_bare_token_a_bearer_string_or_named_token(client, form):
    access_token = (await token_response(client))["access_token"]
    if form == "bare":
        obj = payment_object(access_token)
    elif form == "bearer":
        obj = payment_object(f"Bearer {access_token}")
    else:
        obj = payment_object(None, token={"access_token": access_token})
        obj.pop("auth", None)
    response = await open_page(client, obj)
    assert response.status == 200, await response.text()


async def test_unknown_token_gets_a_readable_error_page(client):
    response = await open_page(client, payment_object("NOSUCHTOKEN"))
    assert response.status == 401
    html = await response.text()
    assert 'data-testid="payform-error"' in html
    assert "invalid access token" in html


async def test_expired_token_is_refused(client, clock):
    auth = await token_response(client)
    clock.advance(1201)
    response = await open_page(client, payment_object(auth))
    assert response.status == 401
    assert "expired" in await response.text()


async def test_payment_object_must_match_its_token(client):
    auth = await token_response(client)
    response = await open_page(client, payment_object(auth, amount=150))
    assert response.status == 400
    assert "amount 150 vs the token&#39;s 100" in await response.text()


async def test_garbage_params_get_an_error_page_not_a_500(client):
    for url in ("/payform/", "/payform/?params=%24%24%24", "/payform/?params=not*lz"):
        response = await client.get(url)
        assert response.status == 400, url
        assert 'data-testid="payform-error"' in await response.text()


# -- paying ------------------------------------------------------------------------------


async def test_approved_payment_redirects_to_back_link_and_calls_post_link(client, merchant):
    auth = await token_response(client)
    obj = payment_object(auth, postLink=merchant["post"], failurePostLink=merchant["fail"])
    response = await submit(client, obj)
    assert response.status == 303
    assert response.headers["Location"] == f"{SHOP}/success"
    [(path, body)] = await merchant["wait"]()
    assert path == "/post"
    assert body["code"] == "ok" and body["invoiceId"] == "000000001"
    assert body["cardMask"] == "440563...5096" and body["name"] == "ARMAN ALI"
    assert body["description"] == "Оплата в интернет магазине"
    tx = (await status_of(client))["transaction"]
    assert tx["statusName"] == "CHARGE" and tx["cardMask"] == "440563...5096"


async def test_declined_card_redirects_to_failure_back_link_and_calls_failure_post_link(client, merchant):
    auth = await token_response(client)
    obj = payment_object(auth, postLink=merchant["post"], failurePostLink=merchant["fail"])
    response = await submit(client, obj, cardNumber=LOCKED, expiry="09/20", cvc="170")
    assert response.headers["Location"] == f"{SHOP}/failure"
    [(path, body)] = await merchant["wait"]()
    assert path == "/fail" and body["code"] == "error" and body["reasonCode"] == 465
    tx = (await status_of(client))["transaction"]
    assert tx["statusName"] == "REJECT" and tx["reasonCode"] == "465"


async def test_failure_without_failure_back_link_falls_back_to_back_link(client):
    auth = await token_response(client)
    obj = payment_object(auth, failureBackLink=None)
    response = await submit(client, obj, cardNumber=LOCKED, expiry="09/20", cvc="170")
    assert response.headers["Location"] == f"{SHOP}/success"


async def test_post_link_of_the_token_is_used_when_the_object_has_none(client, merchant):
    auth = await token_response(client, postLink=merchant["post"])
    response = await submit(client, payment_object(auth))
    assert response.status == 303
    [(path, _)] = await merchant["wait"]()
    assert path == "/post"


async def test_widget_mode_shows_the_result_and_tells_the_parent(client):
    auth = await token_response(client)
    response = await submit(client, payment_object(auth), widget=True)
    assert response.status == 200
    html = await response.text()
    assert 'data-testid="result" data-success="true"' in html
    assert '"result": {"success": true}' in html


async def test_a_paid_invoice_cannot_be_paid_again(client):
    auth = await token_response(client)
    obj = payment_object(auth)
    form_html = await (await open_page(client, obj)).text()
    await submit(client, obj)
    again = await client.post("/payform/pay", allow_redirects=False, data={
        "params": params_of(form_html), "cardNumber": VISA, "expiry": "01/27", "cvc": "321"})
    assert again.status == 409
    assert "already been paid" in await again.text()


# -- validation and test cards -------------------------------------------------------------


@pytest.mark.parametrize(("field", "value", "message"), [
    ("cardNumber", "4405639704015097", "check digit"),
    ("cardNumber", "12345", "12 to 19 digits"),
    ("expiry", "13/27", "month from 01 to 12"),
    ("expiry", "01/20", "expired"),
    ("cvc", "12", "3 digits"),
    ("holder", "Арман", "Latin letters"),
])
async def test_bad_card_data_is_explained_on_the_page_without_a_transaction(client, field, value, message):
    auth = await token_response(client)
    card = {"cardNumber": "4111111111111111", "expiry": "12/30", "cvc": "123", field: value}
    response = await submit(client, payment_object(auth), **card)
    assert response.status == 400
    html = await response.text()
    error = re.search(rf'data-testid="error-{field}" role="alert">([^<]*)<', html).group(1)
    assert message in error
    assert (await status_of(client))["resultCode"] == "102"  # nothing was recorded


@pytest.mark.parametrize(("card", "code"), [
    ({"cvc": "999"}, 462),
    ({"expiry": "02/29"}, 457),
    ({"expiry": "01/25", "cvc": "815"}, 478),
    ({"cardNumber": "5578342710750560", "expiry": "09/20", "cvc": "254"}, 465),
    ({"cardNumber": "4000000000009995", "expiry": "12/30", "cvc": "123"}, 484),
])
async def test_test_cards_decline_as_documented(client, card, code):
    auth = await token_response(client)
    response = await submit(client, payment_object(auth), **card)
    assert response.headers["Location"] == f"{SHOP}/failure"
    assert (await status_of(client))["transaction"]["reasonCode"] == str(code)


def test_published_expiry_keeps_working_after_the_printed_date():
    attempt = PaymentAttempt(client_id="test", invoice_id="1", amount=1, currency="KZT", terminal_id="t",
                             card_pan="377514500000794", card_expiry="09/23", card_cvc="1687")
    assert sandbox_cards.decide(attempt, today=date(2030, 1, 1)) is None  # approve


# -- 3-D Secure ---------------------------------------------------------------------------


async def test_secure3d_step_with_the_right_code_completes_the_payment(client, merchant):
    auth = await token_response(client)
    obj = payment_object(auth, postLink=merchant["post"], failurePostLink=merchant["fail"])
    response = await submit(client, obj, cardNumber=SECURE3D, expiry="12/30", cvc="123")
    assert response.status == 200
    html = await response.text()
    assert 'data-testid="secure3d-code"' in html
    assert (await status_of(client))["transaction"]["statusName"] == "NEW"
    assert merchant["received"] == []
    # the invoice stays reserved meanwhile
    duplicate = await submit(client, obj, widget=True)
    assert 'data-success="false"' in await duplicate.text()
    tx_id = re.search(r'name="transaction" value="([^"]+)"', html).group(1)
    done = await client.post("/payform/3ds", data={"transaction": tx_id, "code": "123456"},
                             allow_redirects=False)
    assert done.headers["Location"] == f"{SHOP}/success"
    [(path, body)] = await merchant["wait"]()
    assert path == "/post" and body["secure"] == "yes" and body["code"] == "ok"
    tx = (await status_of(client))["transaction"]
    assert tx["statusName"] == "CHARGE" and tx["secure"] is True


async def test_secure3d_wrong_code_declines_with_473(client, merchant):
    auth = await token_response(client)
    obj = payment_object(auth, postLink=merchant["post"], failurePostLink=merchant["fail"])
    html = await (await submit(client, obj, cardNumber=SECURE3D, expiry="12/30", cvc="123")).text()
    tx_id = re.search(r'name="transaction" value="([^"]+)"', html).group(1)
    done = await client.post("/payform/3ds", data={"transaction": tx_id, "code": "000000"},
                             allow_redirects=False)
    assert done.headers["Location"] == f"{SHOP}/failure"
    [(path, body)] = await merchant["wait"]()
    assert path == "/fail" and body["reasonCode"] == 473
    tx = (await status_of(client))["transaction"]
    assert tx["statusName"] == "3D" and tx["reasonCode"] == "473"
    again = await client.post("/payform/3ds", data={"transaction": tx_id, "code": "123456"})
    assert again.status == 400


async def test_abandoned_secure3d_step_frees_the_invoice_after_the_token_lifetime(client, clock):
    auth = await token_response(client)
    obj = payment_object(auth)
    await submit(client, obj, cardNumber=SECURE3D, expiry="12/30", cvc="123")
    clock.advance(1201)
    tx = (await status_of(client))["transaction"]
    auth = await token_response(client)  # the old token expired as well
    response = await submit(client, payment_object(auth))
    assert response.headers["Location"] == f"{SHOP}/success"
    assert tx["statusName"] == "NEW"
    assert (await status_of(client))["transaction"]["statusName"] == "CHARGE"


# -- saved cards -----------------------------------------------------------------------------


async def test_card_save_returns_card_id_which_then_pays_through_cards_auth(client, merchant):
    auth = await token_response(client)
    obj = payment_object(auth, cardSave=True, accountId="newcustomer", postLink=merchant["post"])
    await submit(client, obj, cardNumber="5522042705066736", expiry="01/27", cvc="775")
    [(_, body)] = await merchant["wait"]()
    card_id = body["cardId"]
    assert card_id
    assert (await status_of(client))["transaction"]["cardID"] == card_id
    token = (await token_response(client, invoiceID="000000002"))["access_token"]
    response = await client.post("/payments/cards/auth", headers={"Authorization": f"Bearer {token}"}, json={
        "amount": 100, "currency": "KZT", "terminalId": TEST_TERMINAL_ID, "invoiceId": "000000002",
        "description": "again", "accountId": "newcustomer", "paymentType": "cardId",
        "cardId": {"id": card_id}})
    assert response.status == 200, await response.text()
    assert (await response.json())["cardID"] == card_id


async def test_card_verification_with_amount_zero_saves_the_card_without_charging(client, merchant):
    auth = await token_response(client, amount="0", currency="USD")
    obj = payment_object(auth, amount=0, currency="USD", paymentType="cardVerification", cardSave=True,
                         accountId="verify1", postLink=merchant["post"])
    page = await (await open_page(client, obj)).text()
    assert "Verify card" in page
    await submit(client, obj)
    [(_, body)] = await merchant["wait"]()
    assert body["amount"] == 0 and body["cardId"]
    tx = (await status_of(client))["transaction"]
    assert tx["statusName"] == "VERIFIED" and tx["payoutAmount"] == 0


async def test_payment_type_card_id_pays_with_a_saved_card(client):
    auth = await token_response(client)
    obj = payment_object(auth, paymentType="cardId", cardId={"id": "22f2c5db-64d8-475f-8066-af3de3dc8233"})
    html = await (await open_page(client, obj)).text()
    assert "552204...6736" in html and 'data-testid="card-number"' not in html
    response = await client.post("/payform/pay", data={"params": params_of(html)}, allow_redirects=False)
    assert response.headers["Location"] == f"{SHOP}/success"
    tx = (await status_of(client))["transaction"]
    assert tx["cardID"] == "22f2c5db-64d8-475f-8066-af3de3dc8233"


async def test_payment_type_card_id_refuses_someone_elses_card(client):
    auth = await token_response(client)
    obj = payment_object(auth, paymentType="cardId", accountId="other",
                         cardId="22f2c5db-64d8-475f-8066-af3de3dc8233")
    response = await open_page(client, obj)
    assert response.status == 400
    assert "does not belong" in await response.text()


# -- unattended mode, CORS ----------------------------------------------------------------------


async def test_auto_pay_from_the_payment_object_or_the_url_reaches_the_page(client):
    auth = await token_response(client)
    html = await (await open_page(client, payment_object(auth, autoPay={"card": VISA, "afterMs": 50}))).text()
    assert '"autoPay": {"card": "4405639704015096", "afterMs": 50, "expiry": "01/27", "cvc": "321"}' in html
    html = await (await open_page(client, payment_object(auth), extra=f"&mockAutoPay={LOCKED}")).text()
    assert '"card": "4003032704547597", "afterMs": 300' in html
    assert f'<input type="hidden" name="mockAutoPay" value="{LOCKED}">' in html  # kept for the form post


async def test_url_auto_pay_completes_a_secure3d_step_too(client):
    auth = await token_response(client)
    html = await (await open_page(client, payment_object(auth), extra=f"&mockAutoPay={SECURE3D}")).text()
    response = await client.post("/payform/pay", data={
        "params": params_of(html), "mockAutoPay": SECURE3D, "cardNumber": SECURE3D, "expiry": "12/30",
        "cvc": "123"})
    step = await response.text()
    assert 'data-testid="secure3d-code"' in step
    assert '"autoOtp": {"otp": "123456", "afterMs": 300}' in step


async def test_token_endpoint_answers_cors_preflight_and_sets_allow_origin(client):
    preflight = await client.options(TOKEN_PATH, headers={
        "Origin": "http://shop.local", "Access-Control-Request-Method": "POST"})
    assert preflight.status == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == "*"
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
    ok = await client.post(TOKEN_PATH, data=token_form())
    assert ok.headers["Access-Control-Allow-Origin"] == "*"
    refused = await client.post(TOKEN_PATH, data=token_form(client_secret="wrong"))
    assert refused.status == 401 and refused.headers["Access-Control-Allow-Origin"] == "*"


def test_client_id_is_the_public_test_merchant():
    assert TEST_CLIENT_ID == "test"


@pytest.mark.parametrize(("amount", "status"), [(7500, 500), (7502, 502), (7503, 503)])
async def test_chaos_server_errors_on_the_page_show_an_error_page(client, amount, status):
    auth = await token_response(client, amount=str(amount))
    response = await submit(client, payment_object(auth, amount=amount))
    assert response.status == status
    assert "payment service is unavailable" in await response.text()
    assert (await status_of(client))["resultCode"] == "102"  # no payment was made


async def test_chaos_dropped_connection_on_the_page_answers_nothing(client):
    import aiohttp

    auth = await token_response(client, amount="7778")
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await submit(client, payment_object(auth, amount=7778))
    assert (await client.get("/_mock/health")).status == 200
