"""End to end in headless Chromium: a merchant page, the mock's payment-api.js, the widget, the page.

The mock and a small merchant site (shop page, postLink receiver, back links) run on
loopback in a background thread; Playwright drives Debian's /usr/bin/chromium (no
browser download). Skipped when Chromium is missing, unless MOCK_EPAY_REQUIRE_BROWSER=1.
Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import itertools
import json
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp import web

from mock_epay.app import create_app
from mock_epay.settings import TEST_CLIENT_ID, TEST_CLIENT_SECRET, TEST_TERMINAL_ID, Settings
from mock_epay.web.payform.params import payform_url
from tests.browser import ARTIFACTS, LoopbackSites, browser_fixtures, playwright_sync
from tests.test_readme_commands import ReadmeDemo, readme_demo

VISA = "4405639704015096"
LOCKED = "4003032704547597"
SECURE3D = "4000000000003220"


SHOP_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Demo shop</title>
<script src="{mock}/payform/payment-api.js"></script></head>
<body style="font-family:sans-serif;padding:24px;background:#f8fafc">
<h1>Demo shop</h1><p>Order: a very nice teapot.</p>
<pre id="result" data-testid="shop-result"></pre>
<script>
  window.widgetResults = [];
  function openWidget(paymentObject) {{
    halyk.showPaymentWidget(paymentObject, function (result) {{
      window.widgetResults.push(result);
      document.getElementById("result").textContent = JSON.stringify(result);
    }});
  }}
</script></body></html>"""


class Sandbox(LoopbackSites):
    """The mock gateway and a merchant site, served from a background event loop on 127.0.0.1."""

    def __init__(self) -> None:
        super().__init__()
        self.callbacks: list[tuple[str, dict[str, Any]]] = []
        self.arrived = threading.Condition()
        self.invoices = itertools.count(710000001)

    async def _start(self) -> None:
        bound = self.bind()
        self.mock = bound[1]  # the page's public URL must be known before the app is built
        await self.serve(create_app(Settings(public_url=self.mock, log_requests=False, seed=7)), bound)
        self.shop = await self.serve(self._merchant_app())

    def _merchant_app(self) -> web.Application:
        async def shop(request: web.Request) -> web.Response:
            return web.Response(text=SHOP_PAGE.format(mock=self.mock), content_type="text/html")

        async def hook(request: web.Request) -> web.Response:
            body = await request.json()
            with self.arrived:
                self.callbacks.append((request.path, body))
                self.arrived.notify_all()
            return web.Response(text="OK")

        async def back(request: web.Request) -> web.Response:
            return web.Response(text=f"<h1 data-testid='back'>{request.path}</h1>", content_type="text/html")

        app = web.Application()
        app.router.add_get("/shop", shop)
        app.router.add_post("/post", hook)
        app.router.add_post("/fail", hook)
        app.router.add_get("/back/{kind}", back)
        return app

    # -- what a merchant's backend does -------------------------------------------------

    def token(self, invoice_id: str, amount: str = "100", currency: str = "KZT") -> dict[str, Any]:
        form = {"grant_type": "client_credentials", "scope": "webapi payment", "client_id": TEST_CLIENT_ID,
                "client_secret": TEST_CLIENT_SECRET, "invoiceID": invoice_id, "amount": amount,
                "currency": currency, "terminal": TEST_TERMINAL_ID}
        return self._call("POST", "/oauth2/token", form=form)

    def status(self, invoice_id: str) -> dict[str, Any]:
        form = {"grant_type": "client_credentials", "scope": "webapi", "client_id": TEST_CLIENT_ID,
                "client_secret": TEST_CLIENT_SECRET}
        token = self._call("POST", "/oauth2/token", form=form)["access_token"]
        return self._call("GET", f"/check-status/payment/transaction/{invoice_id}", token=token)

    def _call(self, method: str, path: str, *, form: dict | None = None, body: dict | None = None,
              token: str | None = None) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        data = None
        if form is not None:
            data = urllib.parse.urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        elif body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(self.mock + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return {"http_status": exc.code, **json.loads(exc.read())}

    def payment_object(self, **overrides: Any) -> dict[str, Any]:
        invoice_id = overrides.pop("invoiceId", None) or f"{next(self.invoices):09d}"
        amount = overrides.get("amount", 100)
        currency = overrides.get("currency", "KZT")
        obj = {
            "invoiceId": invoice_id,
            "backLink": self.shop + "/back/ok",
            "failureBackLink": self.shop + "/back/fail",
            "postLink": self.shop + "/post",
            "failurePostLink": self.shop + "/fail",
            "language": "RU",
            "description": "Оплата заказа №1 — чайник",
            "accountId": "testuser1",
            "terminal": TEST_TERMINAL_ID,
            "amount": amount,
            "currency": currency,
            "name": "Arman Ali",
            "email": "buyer@example.com",
            "auth": self.token(invoice_id, str(amount), currency),
        }
        obj.update(overrides)
        return {k: v for k, v in obj.items() if v is not None}

    def wait_callback(self, invoice_id: str, timeout: float = 10.0) -> tuple[str, dict[str, Any]]:
        def found() -> tuple[str, dict[str, Any]] | None:
            return next(((p, b) for p, b in self.callbacks if b.get("invoiceId") == invoice_id), None)

        with self.arrived:
            assert self.arrived.wait_for(found, timeout=timeout), f"no callback for {invoice_id}"
            return found()


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    box = Sandbox()
    box.start()
    yield box
    box.stop()


browser, page = browser_fixtures(1000, 800)


def open_widget(page: Any, sandbox: Sandbox, obj: dict[str, Any]) -> Any:
    page.goto(sandbox.shop + "/shop")
    page.evaluate("obj => openWidget(obj)", obj)
    return page.frame_locator("[data-testid=epay-widget-frame]")


def fill_card(frame: Any, number: str, expiry: str, cvc: str) -> None:
    frame.get_by_test_id("card-number").fill(number)
    frame.get_by_test_id("card-expiry").fill(expiry)
    frame.get_by_test_id("card-cvc").fill(cvc)


def widget_result(page: Any) -> list[dict[str, Any]]:
    page.wait_for_function("window.widgetResults.length > 0")
    playwright_sync.expect(page.get_by_test_id("epay-widget")).to_have_count(0)
    return page.evaluate("window.widgetResults")


# -- widget -----------------------------------------------------------------------------------


def test_widget_payment_succeeds_calls_back_and_shows_in_status(page, sandbox):
    obj = sandbox.payment_object()
    frame = open_widget(page, sandbox, obj)
    playwright_sync.expect(frame.get_by_test_id("amount")).to_contain_text("100.00 KZT")
    playwright_sync.expect(frame.get_by_test_id("description")).to_have_text("Оплата заказа №1 — чайник")
    fill_card(frame, VISA, "01/27", "321")
    page.screenshot(path=str(ARTIFACTS / "payform.png"))
    frame.get_by_test_id("pay-button").click()
    assert widget_result(page) == [{"success": True}]
    path, body = sandbox.wait_callback(obj["invoiceId"])
    assert path == "/post" and body["code"] == "ok" and body["cardMask"] == "440563...5096"
    assert sandbox.status(obj["invoiceId"])["transaction"]["statusName"] == "CHARGE"


def test_widget_declined_card_reports_failure_and_calls_failure_post_link(page, sandbox):
    obj = sandbox.payment_object()
    frame = open_widget(page, sandbox, obj)
    frame.get_by_test_id("test-cards").locator("summary").click()
    frame.get_by_test_id(f"test-card-{LOCKED}").click()  # the panel fills in the form
    frame.get_by_test_id("pay-button").click()
    assert widget_result(page) == [{"success": False}]
    path, body = sandbox.wait_callback(obj["invoiceId"])
    assert path == "/fail" and body["code"] == "error" and body["reasonCode"] == 465
    tx = sandbox.status(obj["invoiceId"])["transaction"]
    assert tx["statusName"] == "REJECT" and tx["reasonCode"] == "465"


@pytest.mark.parametrize("button", ["overlay", "page"])
def test_closing_the_widget_without_paying_reports_failure(page, sandbox, button):
    frame = open_widget(page, sandbox, sandbox.payment_object())
    frame.get_by_test_id("card-number").wait_for()
    if button == "overlay":
        page.get_by_test_id("epay-widget-close").click()
    else:
        frame.get_by_test_id("payform-close").click()
    assert widget_result(page) == [{"success": False}]


def test_widget_secure3d_step(page, sandbox):
    obj = sandbox.payment_object()
    frame = open_widget(page, sandbox, obj)
    fill_card(frame, SECURE3D, "12/30", "123")
    frame.get_by_test_id("pay-button").click()
    frame.get_by_test_id("secure3d-code").fill("123456")
    assert sandbox.status(obj["invoiceId"])["transaction"]["statusName"] == "NEW"
    page.screenshot(path=str(ARTIFACTS / "payform-3ds.png"))
    frame.get_by_test_id("secure3d-submit").click()
    assert widget_result(page) == [{"success": True}]
    _, body = sandbox.wait_callback(obj["invoiceId"])
    assert body["secure"] == "yes"
    tx = sandbox.status(obj["invoiceId"])["transaction"]
    assert tx["statusName"] == "CHARGE" and tx["secure"] is True


def test_card_saved_in_the_widget_then_pays_through_cards_auth(page, sandbox):
    obj = sandbox.payment_object(cardSave=True, accountId="browser-customer")
    frame = open_widget(page, sandbox, obj)
    fill_card(frame, "5522042705066736", "01/27", "775")
    frame.get_by_test_id("pay-button").click()
    assert widget_result(page) == [{"success": True}]
    _, body = sandbox.wait_callback(obj["invoiceId"])
    card_id = body["cardId"]
    assert sandbox.status(obj["invoiceId"])["transaction"]["cardID"] == card_id
    invoice_id = f"{next(sandbox.invoices):09d}"
    token = sandbox.token(invoice_id)["access_token"]
    paid = sandbox._call("POST", "/payments/cards/auth", token=token, body={
        "amount": 100, "currency": "KZT", "terminalId": TEST_TERMINAL_ID, "invoiceId": invoice_id,
        "description": "repeat order", "accountId": "browser-customer", "paymentType": "cardId",
        "cardId": {"id": card_id}})
    assert paid.get("cardID") == card_id and paid["status"] == "CHARGE", paid


def test_unattended_mode_pays_without_any_click(page, sandbox):
    obj = sandbox.payment_object(autoPay={"card": VISA, "afterMs": 50})
    open_widget(page, sandbox, obj)
    assert widget_result(page) == [{"success": True}]
    assert sandbox.wait_callback(obj["invoiceId"])[0] == "/post"


# -- full page (halyk.pay) -------------------------------------------------------------------


@pytest.mark.parametrize(("card", "expiry", "cvc", "back", "hook"), [
    (VISA, "01/27", "321", "/back/ok", "/post"),
    (LOCKED, "09/20", "170", "/back/fail", "/fail"),
])
def test_halyk_pay_redirects_to_back_link_or_failure_back_link(page, sandbox, card, expiry, cvc, back, hook):
    obj = sandbox.payment_object()
    page.goto(sandbox.shop + "/shop")
    page.evaluate("obj => halyk.pay(obj)", obj)
    page.wait_for_url(sandbox.mock + "/payform/?params=*")
    fill_card(page, card, expiry, cvc)
    page.get_by_test_id("pay-button").click()
    page.wait_for_url(sandbox.shop + back)
    assert sandbox.wait_callback(obj["invoiceId"])[0] == hook


def test_result_pages_and_client_side_validation(page, sandbox):
    """Without backLink the page shows its own result screen; screenshots for the docs."""
    for card, expiry, cvc, shot in [(VISA, "01/27", "321", "payform-success.png"),
                                    (LOCKED, "09/20", "170", "payform-decline.png")]:
        obj = sandbox.payment_object(backLink=None, failureBackLink=None)
        page.goto(payform_url(sandbox.mock + "/payform/", obj))
        fill_card(page, card, expiry, cvc)
        page.get_by_test_id("pay-button").click()
        playwright_sync.expect(page.get_by_test_id("result")).to_be_visible()
        page.screenshot(path=str(ARTIFACTS / shot))
    page.goto(payform_url(sandbox.mock + "/payform/", sandbox.payment_object()))
    fill_card(page, "4405639704015097", "01/20", "12")
    page.get_by_test_id("pay-button").click()
    playwright_sync.expect(page.get_by_test_id("error-cardNumber")).to_contain_text("not valid")
    playwright_sync.expect(page.get_by_test_id("error-cvc")).to_contain_text("3 digits")
    page.screenshot(path=str(ARTIFACTS / "payform-validation.png"))
    assert "/payform/?params=" in page.url  # nothing was submitted


# -- the demo shop (/_mock/demo): the README's five-minute declined-payment demo ----------------


def walk_the_readme_demo(page: Any, base: str, demo: ReadmeDemo) -> None:
    """Do what the README's demo paragraph says, on the demo shop at `base`, up to the shop's answer."""
    page.goto(base + "/_mock/demo")
    page.get_by_test_id("demo-amount").fill(demo.amount)
    page.get_by_role("button", name="Pay", exact=True).click()
    frame = page.frame_locator("[data-testid=epay-widget-frame]")
    fill_card(frame, demo.card, demo.expiry, demo.cvc)
    button = frame.get_by_test_id("pay-button")
    playwright_sync.expect(button).to_be_enabled()
    assert button.inner_text() == demo.button  # the README quotes the page exactly, to the character
    button.click()
    playwright_sync.expect(page.get_by_test_id("demo-result")).to_have_attribute("data-success", "false")


def test_demo_shop_declined_payment_as_the_readme_walks_through_it(page, sandbox):
    demo = readme_demo()
    walk_the_readme_demo(page, sandbox.mock, demo)
    playwright_sync.expect(page.get_by_test_id("demo-result")).to_contain_text(demo.shop_gets)
    playwright_sync.expect(page.get_by_test_id("demo-status")).to_contain_text(demo.status_line)
    page.screenshot(path=str(ARTIFACTS / "demo-declined.png"))


def test_demo_shop_full_page_payment_comes_back_paid(page, sandbox):
    page.goto(sandbox.mock + "/_mock/demo?amount=250")
    page.get_by_test_id("demo-mode").select_option("page")
    page.get_by_test_id("demo-pay").click()
    page.get_by_test_id("card-number").fill(VISA)
    page.get_by_test_id("card-expiry").fill("01/27")
    page.get_by_test_id("card-cvc").fill("321")
    page.get_by_test_id("pay-button").click()
    playwright_sync.expect(page.get_by_test_id("demo-result")).to_have_attribute("data-success", "true")
    playwright_sync.expect(page.get_by_test_id("demo-status")).to_contain_text("CHARGE")
