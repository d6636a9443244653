"""The dashboard at /_mock/ui/ in headless Chromium: transactions, callbacks, replay, scenario form, reset.

The mock and a merchant backend (whose postLink can be switched between answering 500
and 200) run on loopback in a background thread; Playwright drives Debian's
/usr/bin/chromium. Skipped when Chromium is missing, unless MOCK_EPAY_REQUIRE_BROWSER=1.
The screenshot goes to test-artifacts/dashboard.png.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp import web

from mock_epay.app import create_app
from mock_epay.settings import TEST_CLIENT_ID, TEST_CLIENT_SECRET, TEST_TERMINAL_ID, Settings
from tests.browser import ARTIFACTS, WAIT_MS, LoopbackSites, browser_fixtures, browser_page, playwright_sync
from tests.test_readme_commands import readme_demo
from tests.test_widget_browser import walk_the_readme_demo

VISA_CARD = "e7e2587f-de26-4f41-ae1f-80c1fea31728"
LOCKED_CARD = "16aae4f4-6d24-4a17-b1c6-c09ce7659efb"

expect = playwright_sync.expect


class Sandbox(LoopbackSites):
    """The mock gateway and a merchant backend on 127.0.0.1, served from a background event loop."""

    def __init__(self, admin_token: str | None = None) -> None:
        super().__init__()
        self.admin_token = admin_token
        self.merchant_status = 500  # what the merchant's postLink answers
        self.received: list[dict[str, Any]] = []

    async def _start(self) -> None:
        bound = self.bind()
        self.mock = bound[1]  # the payment page's public URL must be known before the app is built
        settings = Settings(log_requests=False, seed=11, callback_max_attempts=1, public_url=self.mock,
                            callback_allowed_hosts=("127.0.0.1",), admin_token=self.admin_token)
        await self.serve(create_app(settings), bound)

        async def hook(request: web.Request) -> web.Response:
            self.received.append(await request.json())
            return web.Response(status=self.merchant_status, text="merchant says hi")

        merchant = web.Application()
        merchant.router.add_post("/epay/callback", hook)
        self.merchant = await self.serve(merchant)

    # -- what a merchant's backend does ----------------------------------------------------

    def call(self, method: str, path: str, *, form: dict | None = None, body: dict | None = None,
             token: str | None = None) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        if path.startswith("/_mock/") and self.admin_token:
            headers["X-Mock-Admin-Token"] = self.admin_token
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
                text = response.read()
                return response.status, json.loads(text) if text else None
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    def pay(self, invoice_id: str, amount: int, card: str = VISA_CARD, post_link: bool = True) -> dict:
        form = {"grant_type": "client_credentials", "scope": "webapi payment", "client_id": TEST_CLIENT_ID,
                "client_secret": TEST_CLIENT_SECRET, "invoiceID": invoice_id, "amount": str(amount),
                "currency": "KZT", "terminal": TEST_TERMINAL_ID}
        token = self.call("POST", "/oauth2/token", form=form)[1]["access_token"]
        body = {"amount": amount, "currency": "KZT", "terminalId": TEST_TERMINAL_ID, "invoiceId": invoice_id,
                "description": "Заказ в демо-магазине", "accountId": "testuser1", "paymentType": "cardId",
                "cardId": {"id": card}, "name": "ARMAN ALI"}
        if post_link:
            body["postLink"] = self.merchant + "/epay/callback"
        return self.call("POST", "/payments/cards/auth", body=body, token=token)[1]


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    box = Sandbox()
    box.start()
    yield box
    box.stop()


browser, page = browser_fixtures(1400, 900)


def row(page: Any, invoice_id: str) -> Any:
    return page.locator(f'[data-testid="tx-row"][data-invoice-id="{invoice_id}"]')


def test_replaying_a_failed_callback_shows_the_new_attempt(page, sandbox):
    sandbox.merchant_status = 500
    paid = sandbox.pay("000500001", 12500)
    sandbox.pay("000500002", 4990, card=LOCKED_CARD, post_link=False)
    sandbox.pay("000500003", 250000)
    page.goto(sandbox.mock + "/_mock/ui/")

    first = row(page, "000500001")
    expect(first.get_by_test_id("tx-status")).to_have_text("CHARGE")
    expect(first.get_by_test_id("tx-amount")).to_have_text("12\u202f500.00 KZT")
    expect(row(page, "000500002").get_by_test_id("tx-status")).to_have_text("REJECT")
    expect(row(page, "000500003").get_by_test_id("tx-amount")).to_have_text("250\u202f000.00 KZT")
    expect(first.get_by_test_id("tx-callback-status")).to_have_text("failed")  # the merchant answered 500

    first.click()
    detail = page.get_by_test_id("tx-detail")
    expect(detail.get_by_test_id("detail-id")).to_have_text(paid["id"])
    expect(detail.get_by_test_id("history-entry")).to_have_count(1)
    failed = detail.locator('[data-testid="delivery"][data-kind="payment"]')
    expect(failed.get_by_test_id("delivery-status")).to_have_text("failed")
    expect(failed.get_by_test_id("delivery-attempt")).to_contain_text("HTTP 500")

    sandbox.merchant_status = 200  # the merchant fixed its endpoint: replay the callback
    with page.expect_request(lambda request: request.url.endswith("/replay")) as replay_request:
        failed.get_by_test_id("replay-button").click()
    assert replay_request.value.headers.get("content-type") == "application/json"
    replay = detail.locator('[data-testid="delivery"][data-kind="replay"]')
    expect(replay.get_by_test_id("delivery-status")).to_have_text("delivered")
    expect(replay.get_by_test_id("delivery-attempt")).to_contain_text("HTTP 200")
    callbacks = first.get_by_test_id("tx-callbacks").locator(".cb")
    expect(callbacks).to_have_attribute("title", "2 deliveries, 2 attempts")
    assert sorted(body["invoiceId"] for body in sandbox.received) == ["000500001", "000500001", "000500003"]
    page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)


def headers_outside(page: Any, table: str, width: int) -> list[str]:
    """The column headers of `table` that are not wholly inside the viewport and their card."""
    card = page.get_by_test_id(table).locator("xpath=ancestor::section[contains(@class, 'card')][1]")
    frame = card.bounding_box()
    outside = []
    for header in page.get_by_test_id(table).locator("th").all():
        box = header.bounding_box()
        if box is None or box["x"] < 0 or box["x"] + box["width"] > min(width, frame["x"] + frame["width"]):
            outside.append(header.inner_text())
    return outside


def test_after_the_readme_demo_every_column_fits_1280_px_and_long_paths_are_cut(browser, sandbox):
    demo = readme_demo()
    with browser_page(browser, 1280, 800) as page:
        walk_the_readme_demo(page, sandbox.mock, demo)
        sandbox.pay("000500777", 12500)  # a callback to show as well
        page.goto(sandbox.mock + "/_mock/ui/")
        declined = page.locator('[data-testid="tx-row"]', has=page.get_by_test_id("tx-amount").filter(
            has_text=demo.button.removeprefix("Pay ")))
        expect(declined.get_by_test_id("tx-status")).to_have_text("REJECT")
        amount = declined.get_by_test_id("tx-amount").inner_text()
        assert f"Pay {amount}" == demo.button  # one amount format: the dashboard's is the payment page's
        payform = page.get_by_test_id("request-path").filter(has_text="GET /payform/?params=").first
        expect(payform).to_be_visible()
        page.screenshot(path=str(ARTIFACTS / "dashboard-1280.png"))

        assert headers_outside(page, "tx-table", 1280) == []
        assert headers_outside(page, "request-journal", 1280) == []
        assert page.evaluate("document.documentElement.scrollWidth") <= 1280
        cut = payform.evaluate("cell => [cell.scrollWidth > cell.clientWidth, cell.title, cell.textContent]")
        assert cut[0], "the long path is not cut"
        assert cut[1] == cut[2] and len(cut[1]) > 200  # the full path on hover


def test_a_payment_without_postlink_says_so_once(page, sandbox):
    sandbox.pay("000500888", 300, post_link=False)
    page.goto(sandbox.mock + "/_mock/ui/")
    row(page, "000500888").click()
    skipped = page.get_by_test_id("tx-detail").get_by_test_id("delivery")
    expect(skipped.get_by_test_id("delivery-status")).to_have_text("skipped")
    expect(skipped.get_by_text("no postLink")).to_have_count(1)
    expect(skipped.get_by_test_id("delivery-error")).to_have_text("no postLink / failurePostLink was given")


def test_the_scenario_form_adds_a_rule_or_shows_the_apis_error(page, sandbox):
    page.goto(sandbox.mock + "/_mock/ui/")
    page.get_by_test_id("scenario-outcome").select_option("decline")
    page.get_by_test_id("scenario-reason").select_option("484")
    page.get_by_test_id("scenario-match-value").fill("000500484")
    page.get_by_test_id("scenario-submit").click()
    result = page.get_by_test_id("scenario-result")
    expect(result).not_to_have_text(re.compile(r"^(|sending…)$"))
    status, _ = sandbox.call("GET", "/_mock/scenarios")
    if status == 404:  # the scenario admin API is not in this build: the page says why
        expect(result).to_contain_text("Not added: HTTP 404")
        return
    expect(result).to_contain_text("Added")
    declined = sandbox.pay("000500484", 100, post_link=False)
    assert declined["code"] == 484, declined
    expect(row(page, "000500484").get_by_test_id("tx-status")).to_have_text("REJECT")


def test_reset_asks_first_then_empties_the_table(page, sandbox):
    sandbox.pay("000500900", 100, post_link=False)
    sent: list[tuple[str, str | None]] = []
    page.on("request", lambda request: sent.append((request.method, request.headers.get("content-type")))
            if request.url.endswith("/_mock/reset") else None)
    page.goto(sandbox.mock + "/_mock/ui/")
    expect(row(page, "000500900")).to_have_count(1)
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.get_by_test_id("reset-button").click()
    assert sandbox.call("GET", "/_mock/transactions")[1]["total"] > 0  # dismissed: nothing happened
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_test_id("reset-button").click()
    expect(page.get_by_test_id("tx-row")).to_have_count(0)
    expect(page.get_by_test_id("tx-empty")).to_be_visible()
    assert sandbox.call("GET", "/_mock/transactions")[1]["total"] == 0
    assert sent == [("POST", "application/json")]  # a JSON request, as the guarded admin API wants


def test_with_the_admin_token_on_the_page_works_when_opened_with_token(browser):
    sandbox = Sandbox(admin_token="dash-secret")
    sandbox.start()
    try:
        sandbox.pay("000600001", 100, post_link=False)
        context = browser.new_context()
        context.set_default_timeout(WAIT_MS)
        page = context.new_page()
        refused = page.goto(sandbox.mock + "/_mock/ui/")
        assert refused is not None and refused.status == 401
        seen: list[str] = []

        def note_token(request: Any) -> None:
            if "/_mock/transactions" in request.url:
                seen.append(request.headers.get("x-mock-admin-token", ""))

        page.on("request", note_token)
        page.goto(sandbox.mock + "/_mock/ui/?token=dash-secret")
        expect(row(page, "000600001").get_by_test_id("tx-status")).to_have_text("CHARGE")
        assert seen and set(seen) == {"dash-secret"}  # the script sends the token on its fetches
        context.close()
    finally:
        sandbox.stop()
