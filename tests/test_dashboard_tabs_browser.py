"""The dashboard's product tabs in headless Chromium: a cryptopay payment told apart from the others, a
subscription, an invoice link (whose hostile description stays text), its e-mail in the outbox, and a
QR bill paid by pressing Scan and Approve.

Each record is made over real HTTP through the bank's paths; the page only reads the admin API and
presses its buttons. Uses the Sandbox of test_dashboard_browser.py (the mock and a merchant on loopback).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from mock_epay.settings import (
    TEST_CABINET_LOGIN,
    TEST_CABINET_PASSWORD,
    TEST_CLIENT_ID,
    TEST_CLIENT_SECRET,
    TEST_SHOP_ID,
    TEST_TERMINAL_ID,
)
from tests.browser import ARTIFACTS, browser_fixtures, playwright_sync
from tests.test_dashboard_browser import Sandbox

expect = playwright_sync.expect
VISA = "4405639704015096"
HOSTILE = '<img src=x onerror="window.__xss=1">Order 42'


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    box = Sandbox()
    box.start()
    yield box
    box.stop()


browser, page = browser_fixtures(1400, 900)


def payment_token(sandbox: Sandbox, invoice_id: str, amount: int) -> str:
    form = {"grant_type": "client_credentials", "scope": "webapi payment", "client_id": TEST_CLIENT_ID,
            "client_secret": TEST_CLIENT_SECRET, "invoiceID": invoice_id, "amount": str(amount),
            "currency": "KZT", "terminal": TEST_TERMINAL_ID}
    status, answer = sandbox.call("POST", "/oauth2/token", form=form)
    assert status == 200, answer
    return str(answer["access_token"])


def service_token(sandbox: Sandbox) -> str:
    form = {"grant_type": "client_credentials", "scope": "webapi payment", "client_id": TEST_CLIENT_ID,
            "client_secret": TEST_CLIENT_SECRET}
    return str(sandbox.call("POST", "/oauth2/token", form=form)[1]["access_token"])


def cryptopay(sandbox: Sandbox, invoice_id: str) -> dict[str, Any]:
    """A payment by a plain JSON cryptogram (spec 2.2 allows it for tests), saving the card."""
    cryptogram = json.dumps({"hpan": VISA, "expDate": "0127", "cvc": "321", "terminalId": TEST_TERMINAL_ID})
    body = {"amount": 2990, "currency": "KZT", "name": "JON JONSON", "cryptogram": cryptogram,
            "invoiceId": invoice_id, "description": "monthly plan", "accountId": "buyer-1", "cardSave": True,
            "email": "jj@example.com", "phone": "77777777777"}
    status, answer = sandbox.call("POST", "/payment/cryptopay", body=body,
                                  token=payment_token(sandbox, invoice_id, 2990))
    assert status == 200 and answer["code"] == 0, answer
    return dict(answer)


def subscribe(sandbox: Sandbox, transaction_id: str) -> None:
    status, answer = sandbox.call("POST", "/recurrent/subscribe", token=service_token(sandbox),
                                  body={"transactionId": transaction_id, "paymentFrequency": "MONTHLY"})
    assert status == 200, answer


def send_link(sandbox: Sandbox, invoice_id: str) -> dict[str, Any]:
    form = {"grant_type": "password", "username": TEST_CABINET_LOGIN, "password": TEST_CABINET_PASSWORD,
            "client_id": TEST_CLIENT_ID, "client_secret": "ignored", "scope": ""}
    token = sandbox.call("POST", "/oauth2/token", form=form)[1]["access_token"]
    body = {"shop_id": TEST_SHOP_ID, "invoice_id": invoice_id, "amount": 1180, "currency": "KZT",
            "description": HOSTILE, "expire_period": "1d", "recipient_contact": "buyer@example.com"}
    status, answer = sandbox.call("POST", "/invoice", body=body, token=token)
    assert status == 200, answer
    return dict(answer)


def generate_bill(sandbox: Sandbox, invoice_id: str) -> str:
    status, answer = sandbox.call("POST", "/payment/qr/generate", body={},
                                  token=payment_token(sandbox, invoice_id, 2500))
    assert status == 200, answer
    return str(answer["billNumber"])


def test_each_product_shows_in_its_tab_and_a_qr_bill_is_paid_from_the_dashboard(page, sandbox):
    paid = cryptopay(sandbox, "000700001")
    sandbox.pay("000700002", 500, post_link=False)  # by saved card: source cards/auth
    subscribe(sandbox, paid["id"])
    link = send_link(sandbox, "000700003")
    bill = generate_bill(sandbox, "000700004")
    page.goto(sandbox.mock + "/_mock/ui/")

    by_crypto = page.locator('[data-testid="tx-row"][data-invoice-id="000700001"]')
    expect(by_crypto.get_by_test_id("tx-source")).to_have_text("cryptopay")
    expect(page.locator('[data-testid="tx-row"][data-invoice-id="000700002"]').get_by_test_id(
        "tx-source")).to_have_text("cards/auth")
    page.get_by_test_id("filter-source").select_option("cryptopay")
    expect(page.get_by_test_id("tx-row")).to_have_count(1)
    expect(page.get_by_test_id("tx-row")).to_have_attribute("data-invoice-id", "000700001")
    page.get_by_test_id("filter-source").select_option("")

    page.get_by_test_id("tab-subscriptions").click()
    subscription = page.get_by_test_id("panel-subscriptions").get_by_test_id("subscription-row")
    expect(subscription).to_have_attribute("data-transaction-id", paid["id"])
    expect(subscription.get_by_test_id("subscription-frequency")).to_have_text("MONTHLY")
    expect(subscription.get_by_test_id("subscription-state")).to_have_text("ACTIVE")
    expect(subscription.get_by_test_id("subscription-renewals")).to_have_text("0")
    expect(subscription.get_by_test_id("subscription-next")).not_to_have_text("–")

    page.get_by_test_id("tab-links").click()
    row = page.get_by_test_id("panel-links").locator('[data-testid="link-row"][data-invoice-id="000700003"]')
    expect(row.get_by_test_id("link-status")).to_have_text("ACTIVE")
    expect(row.get_by_test_id("link-description")).to_have_text(HOSTILE)  # shown as text
    expect(row.get_by_test_id("link-url")).to_have_attribute("href", link["invoice_url"])
    assert page.locator("[data-testid=products] img").count() == 0
    assert page.evaluate("window.__xss") is None

    page.get_by_test_id("tab-outbox").click()
    outbox = page.get_by_test_id("panel-outbox")
    message = outbox.locator('[data-testid="outbox-row"][data-invoice-id="000700003"]')
    expect(message.get_by_test_id("outbox-to")).to_have_text("buyer@example.com")
    expect(message.get_by_test_id("outbox-link")).to_have_text(link["invoice_url"])

    page.get_by_test_id("tab-qr").click()
    qr_row = page.get_by_test_id("panel-qr").locator(f'[data-testid="qr-row"][data-bill-number="{bill}"]')
    expect(qr_row.get_by_test_id("qr-status")).to_have_text("NEW")
    expect(qr_row.get_by_test_id("qr-approve")).to_be_disabled()  # the buyer scans first
    sent: list[str | None] = []
    page.on("request", lambda request: sent.append(request.headers.get("content-type"))
            if "/_mock/qr/" in request.url else None)
    qr_row.get_by_test_id("qr-scan").click()
    expect(qr_row.get_by_test_id("qr-status")).to_have_text("SCANNED")
    qr_row.get_by_test_id("qr-approve").click()
    expect(qr_row.get_by_test_id("qr-status")).to_have_text("PAID")
    assert sent == ["application/json", "application/json"]  # as the guarded admin API wants
    bills = {b["billNumber"]: b for b in sandbox.call("GET", "/_mock/qr")[1]["bills"]}
    assert bills[bill]["status"] == "PAID"
    expect(page.locator('[data-testid="tx-row"][data-invoice-id="000700004"]').get_by_test_id(
        "tx-source")).to_have_text("qr")

    assert VISA not in page.content()  # masked card numbers only
    page.screenshot(path=str(ARTIFACTS / "dashboard-tabs.png"), full_page=True)


def test_cancelling_a_subscription_from_its_tab_stops_it(page, sandbox):
    paid = cryptopay(sandbox, "000700011")
    subscribe(sandbox, paid["id"])
    page.goto(sandbox.mock + "/_mock/ui/")
    page.get_by_test_id("tab-subscriptions").click()
    row = page.locator(f'[data-testid="subscription-row"][data-transaction-id="{paid["id"]}"]')
    row.get_by_test_id("subscription-cancel").click()
    expect(row.get_by_test_id("subscription-state")).to_have_text("CANCELLED")
    expect(row.get_by_test_id("subscription-cancel")).to_be_disabled()
    listed = {s["transactionId"]: s for s in sandbox.call("GET", "/_mock/subscriptions")[1]["subscriptions"]}
    assert listed[paid["id"]]["active"] is False
