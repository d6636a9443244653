"""The transfer pages of `halyk.p2p`, `halyk.aft` and `halyk.oct` in headless Chromium.

A shop's page loads the mock's payment-api.js and calls the widget function with a transfer
token; the buyer fills the cards from the test-card panel and presses the button. The transfer
then shows in GET /check-status/p2p/transaction/{order}, its callback reaches a real loopback
receiver, a lock card declines, a typo is refused next to its field by the API's rules, and each
kind shows only its own card parts. Uses the Sandbox of test_dashboard_browser.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp import web

from mock_epay.settings import TEST_CLIENT_ID, TEST_CLIENT_SECRET, TEST_P2P_TERMINAL_ID
from tests.browser import ARTIFACTS, browser_fixtures, playwright_sync
from tests.test_dashboard_browser import Sandbox

expect = playwright_sync.expect
VISA, MASTERCARD, LOCKED = "4405639704015096", "5522042705066736", "4003032704547597"
SHOP_HTML = """<!doctype html><html><head><meta charset="utf-8"><title>Wallet shop</title>
<script src="{mock}/payform/payment-api.js"></script></head><body><p>Top up your wallet</p></body></html>"""


class TransferSandbox(Sandbox):
    """The dashboard tests' sandbox plus a shop page that loads the mock's payment-api.js."""

    async def _start(self) -> None:
        await super()._start()

        async def shop(request: web.Request) -> web.Response:
            return web.Response(text=SHOP_HTML.replace("{mock}", self.mock), content_type="text/html")

        app = web.Application()
        app.router.add_get("/shop", shop)
        self.shop = await self.serve(app)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[TransferSandbox]:
    box = TransferSandbox()
    box.start()
    box.merchant_status = 200
    yield box
    box.stop()


browser, page = browser_fixtures(900, 1000)


def transfer_token(sandbox: Sandbox, order_id: str | None = None, amount: int = 5000,
                   scope: str = "transfer") -> dict[str, Any]:
    form = {"grant_type": "client_credentials", "scope": scope, "client_id": TEST_CLIENT_ID,
            "client_secret": TEST_CLIENT_SECRET, "terminal": TEST_P2P_TERMINAL_ID}
    if order_id:
        form.update(invoiceID=order_id, amount=str(amount), currency="KZT")
    status, answer = sandbox.call("POST", "/oauth2/token", form=form)
    assert status == 200, answer
    return dict(answer)


def open_widget(page: Any, sandbox: TransferSandbox, function: str, order_id: str, amount: int = 5000,
                scope: str = "transfer", **extra: Any) -> None:
    """The shop's button: load payment-api.js and call halyk.<function>(payment object)."""
    page.goto(sandbox.shop + "/shop")
    token = transfer_token(sandbox, order_id, amount, scope)
    payment = {"invoiceId": order_id, "amount": amount, "currency": "KZT", "terminal": TEST_P2P_TERMINAL_ID,
               "description": "Top up <b>wallet</b>", "auth": token,
               "postLink": sandbox.merchant + "/epay/callback",
               "failurePostLink": sandbox.merchant + "/epay/callback", **extra}
    with page.expect_navigation():
        page.evaluate(f"payment => halyk.{function}(payment)", payment)


def callback_for(sandbox: Sandbox, order_id: str) -> dict[str, Any]:
    status, delivery = sandbox.call("GET", f"/_mock/callbacks/wait?invoiceId={order_id}&timeout=5")
    assert status == 200, delivery
    return next(body for body in sandbox.received if body.get("invoiceId") == order_id)


def p2p_status(sandbox: Sandbox, order_id: str) -> dict[str, Any]:
    token = transfer_token(sandbox)["access_token"]
    status, answer = sandbox.call("GET", f"/check-status/p2p/transaction/{order_id}", token=token)
    assert status == 200, answer
    return dict(answer)


def test_a_p2p_transfer_paid_on_the_page_shows_in_p2p_status_and_calls_back(page, sandbox):
    open_widget(page, sandbox, "p2p", "880000001")
    assert "isTransfer=true" in page.url
    expect(page.get_by_test_id("transfer-title")).to_have_text("Card to card transfer")
    expect(page.get_by_test_id("description")).to_have_text("Top up <b>wallet</b>")  # text, not markup
    expect(page.get_by_test_id("sender")).to_be_visible()
    expect(page.get_by_test_id("receiver-card")).to_be_visible()
    page.get_by_test_id("test-cards").locator("summary").click()
    page.get_by_test_id(f"use-sender-{VISA}").click()
    page.get_by_test_id(f"use-receiver-{MASTERCARD}").click()
    expect(page.get_by_test_id("sender-card")).to_have_value("4405 6397 0401 5096")
    page.screenshot(path=str(ARTIFACTS / "transfer-page.png"), full_page=True)
    page.get_by_test_id("transfer-button").click()

    expect(page.get_by_test_id("result-message")).to_have_text("Transfer successful")
    expect(page.get_by_test_id("result-from")).to_have_text("440563...5096")
    expect(page.get_by_test_id("result-to")).to_have_text("552204...6736")
    expect(page.get_by_test_id("result-fee")).to_have_text("0.00 KZT")
    assert VISA not in page.content() and MASTERCARD not in page.content()

    p2p = p2p_status(sandbox, "880000001")["transaction"]["p2p"]
    assert (p2p["statusName"], p2p["transferType"], p2p["amount"]) == ("CHARGE", "P2P", 5000)
    assert (p2p["senderCardMask"], p2p["receiverCardMask"]) == ("440563...5096", "552204...6736")
    callback = callback_for(sandbox, "880000001")
    assert (callback["code"], callback["cardMask"]) == ("ok", "440563...5096")


def test_a_lock_card_declines_on_the_page_with_its_code(page, sandbox):
    open_widget(page, sandbox, "p2p", "880000002")
    page.get_by_test_id("test-cards").locator("summary").click()
    page.get_by_test_id(f"use-sender-{LOCKED}").click()
    page.get_by_test_id(f"use-receiver-{MASTERCARD}").click()
    page.get_by_test_id("transfer-button").click()
    expect(page.get_by_test_id("result")).to_have_attribute("data-success", "false")
    expect(page.get_by_test_id("result-message")).to_contain_text("Transfer declined")
    p2p = p2p_status(sandbox, "880000002")["transaction"]["p2p"]
    assert (p2p["statusName"], p2p["reasonCode"]) == ("REJECT", "465")
    assert callback_for(sandbox, "880000002")["reasonCode"] == 465


def test_a_typo_is_refused_next_to_its_field_by_the_apis_rules_and_nothing_is_recorded(page, sandbox):
    open_widget(page, sandbox, "p2p", "880000003")
    page.get_by_test_id("sender-card").fill("4405 6397 0401 5097")  # check digit off by one
    page.get_by_test_id("sender-expiry").fill("01/27")
    page.get_by_test_id("sender-cvc").fill("321")
    page.get_by_test_id("receiver-card").fill(MASTERCARD)
    page.get_by_test_id("transfer-button").click()
    expect(page.get_by_test_id("error-senderCard")).to_contain_text("Luhn check failed")
    expect(page.get_by_test_id("receiver-card")).to_have_value("5522 0427 0506 6736")  # kept for a retry
    assert p2p_status(sandbox, "880000003")["result"]["code"] == "102"


def test_aft_shows_only_the_senders_card_and_oct_pays_out_by_phone(page, sandbox):
    open_widget(page, sandbox, "aft", "880000004", amount=1500)
    expect(page.get_by_test_id("transfer-title")).to_have_text("Pay from your card")
    expect(page.get_by_test_id("sender-card")).to_be_visible()
    expect(page.get_by_test_id("receiver")).to_have_count(0)
    page.get_by_test_id("test-cards").locator("summary").click()
    page.get_by_test_id(f"use-sender-{VISA}").click()
    page.get_by_test_id("transfer-button").click()
    expect(page.get_by_test_id("result-message")).to_have_text("Transfer successful")
    assert p2p_status(sandbox, "880000004")["transaction"]["p2p"]["transferType"] == "AFT"

    open_widget(page, sandbox, "oct", "880000005", amount=2000)
    expect(page.get_by_test_id("sender")).to_have_count(0)
    expect(page.get_by_test_id("receiver-phone")).to_be_hidden()
    page.get_by_test_id("receiver-type-phone").check()
    expect(page.get_by_test_id("receiver-card")).to_be_hidden()
    page.get_by_test_id("receiver-phone").fill("77001234567")
    page.get_by_test_id("receiver-iin").fill("12345678")  # too short: the API's rule
    page.get_by_test_id("transfer-button").click()
    expect(page.get_by_test_id("error-receiverIin")).to_contain_text("12-digit IIN")
    page.get_by_test_id("receiver-iin").fill("880101300123")
    page.get_by_test_id("transfer-button").click()
    expect(page.get_by_test_id("result-message")).to_have_text("Transfer successful")
    expect(page.get_by_test_id("result-to")).to_have_text("77001234567")
    assert p2p_status(sandbox, "880000005")["transaction"]["p2p"]["transferType"] == "OCT"


def test_a_token_without_the_transfer_scope_opens_an_error_page(page, sandbox):
    open_widget(page, sandbox, "p2p", "880000006", scope="webapi payment")
    expect(page.get_by_test_id("payform-error-message")).to_contain_text("insufficient scope")
    expect(page.get_by_test_id("transfer-form")).to_have_count(0)
