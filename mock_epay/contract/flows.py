"""The scripted flows of a contract run: the same requests, in the same order, against one gateway.

Tokens (urlencoded and multipart, payment and service), a payment with a saved card, a declined
one, status (paid, declined, unknown invoice), charge, cancel, refund (full and partial), the
saved-card list, deactivation, the widget script and the error answers. Each gateway gets its own
fresh invoice numbers. A step whose input is missing (no token, no transaction id) is recorded as
skipped with the reason, so the comparison shows it; only a missing service token stops the run.
Nothing here is destructive for the public test merchant: deactivation targets a card id that
does not exist, and payments are 100 KZT on the test terminal.
"""

from __future__ import annotations

import random
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import aiohttp

from mock_epay.contract.client import Exchange, GatewayClient, RunAborted
from mock_epay.settings import (
    TEST_ACCOUNT_ID,
    TEST_CLIENT_ID,
    TEST_CLIENT_SECRET,
    TEST_SAVED_CARDS,
    TEST_TERMINAL_ID,
)

AMOUNT = 100
PARTIAL_REFUND = 30  # the bank's minimum refund is 10 KZT (spec section 7)
SERVICE_SCOPE = "webapi usermanagement email_send verification statement statistics payment"
PAYMENT_SCOPE = "payment"
WRONG_SECRET = "not-the-secret-of-this-client"
MALFORMED_JSON = b'{"amount": 100, "currency": "KZT", "invoiceId": '
_WIDGET_MEMBERS = ("showPaymentWidget", "pay")


@dataclass(frozen=True)
class Credentials:
    """The merchant both gateways are driven as; the defaults are the bank's public test merchant."""

    client_id: str = TEST_CLIENT_ID
    client_secret: str = TEST_CLIENT_SECRET
    terminal: str = TEST_TERMINAL_ID
    account_id: str = TEST_ACCOUNT_ID
    card_id: str = TEST_SAVED_CARDS[0].id or ""  # an approving saved card of account_id
    declined_card_id: str = TEST_SAVED_CARDS[2].id or ""  # a saved card that declines (the locked test VISA)
    post_link: str | None = None
    auth_terminal: str | None = None  # a two-stage terminal for charge and cancel (default: terminal)

    @property
    def two_stage_terminal(self) -> str:
        return self.auth_terminal or self.terminal


class InvoiceNumbers:
    """Fresh 12-digit invoice numbers: 6 digits of the clock, then 6 consecutive digits from a random start.

    The bank wants 6-15 digits with the last 6 unique among the merchant's orders (spec section 3.1).
    """

    def __init__(self, rng: random.Random | None = None, now: float | None = None) -> None:
        rng = rng or random.Random()
        self._prefix = int(now if now is not None else time.time()) % 1_000_000
        self._next = rng.randrange(0, 900_000)

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        number = f"{self._prefix:06d}{self._next % 1_000_000:06d}"
        self._next += 1
        return number




class FlowRun:
    """Runs every flow once against one gateway and keeps the exchanges in order."""

    def __init__(self, client: GatewayClient, credentials: Credentials, invoices: Iterator[str]) -> None:
        self.client = client
        self.gateway = client.gateway
        self.creds = credentials
        self.invoices = invoices
        self.exchanges: list[Exchange] = []
        self._service_token = ""

    async def run(self) -> list[Exchange]:
        await self._tokens()
        paid_invoice = await self._paid()
        await self._declined()
        await self._status("unknown-invoice/status", next(self.invoices))
        await self._charge()
        await self._cancel()
        await self._refund("refund-full", amount=None)
        await self._refund("refund-partial", amount=PARTIAL_REFUND)
        await self._saved_cards()
        await self._deactivate()
        await self._widget()
        await self._errors(paid_invoice)
        return self.exchanges

    # -- flows ------------------------------------------------------------------------------
    async def _tokens(self) -> None:
        first = await self._token("tokens/service-urlencoded", None, multipart=False)
        token = _access_token(first)
        if not token:
            raise RunAborted(self.gateway.name, first.flow,
                             f"no access_token in the service-token answer ({_summary(first)}); "
                             "check the credentials and the --*-oauth URL")
        self._service_token = token
        await self._token("tokens/service-multipart", None, multipart=True)

    async def _paid(self) -> str:
        invoice = next(self.invoices)
        await self._pay("paid", invoice, self.creds.card_id, token_step="token-urlencoded")
        await self._status("paid/status", invoice)
        return invoice

    async def _declined(self) -> None:
        invoice = next(self.invoices)
        await self._pay("declined", invoice, self.creds.declined_card_id, token_step="token-multipart",
                        multipart=True)
        await self._status("declined/status", invoice)

    async def _charge(self) -> None:
        invoice = next(self.invoices)
        tx_id = await self._pay("charge", invoice, self.creds.card_id, terminal=self.creds.two_stage_terminal)
        await self._operation("charge/charge", tx_id, "charge")
        await self._status("charge/status", invoice)

    async def _cancel(self) -> None:
        tx_id = await self._pay("cancel", next(self.invoices), self.creds.card_id,
                                terminal=self.creds.two_stage_terminal)
        await self._operation("cancel/cancel", tx_id, "cancel")

    async def _refund(self, flow: str, amount: int | None) -> None:
        invoice = next(self.invoices)
        tx_id = await self._pay(flow, invoice, self.creds.card_id)
        await self._operation(f"{flow}/refund", tx_id, "refund", amount)
        await self._status(f"{flow}/status", invoice)

    async def _saved_cards(self) -> None:
        await self._api("saved-cards/list", "GET", f"/cards/{self.creds.account_id}")
        empty_account = f"contract-{uuid.uuid4().hex[:12]}"
        await self._api("saved-cards/list-empty-account", "GET", f"/cards/{empty_account}")

    async def _deactivate(self) -> None:
        await self._api("deactivate/unknown-card", "POST", f"/card/deactivate/{uuid.uuid4()}")

    async def _widget(self) -> None:
        exchange = await self.client.send("widget/script", "GET", self.gateway.widget_url)
        exchange.facts = widget_facts(exchange.text)
        self.exchanges.append(exchange)

    async def _errors(self, paid_invoice: str) -> None:
        form = self._token_form(None, secret=WRONG_SECRET)
        self._keep(await self.client.send("errors/bad-secret", "POST", self.gateway.token_url, data=form))
        await self._api("errors/wrong-token-kind", "POST", "/payments/cards/auth",
                        json_body=self._payment_body(next(self.invoices), self.creds.card_id))
        duplicate = await self._token("errors/duplicate-invoice-token", paid_invoice, multipart=False)
        await self._with_token("errors/duplicate-invoice", duplicate, "POST", "/payments/cards/auth",
                               json_body=self._payment_body(paid_invoice, self.creds.card_id))
        invoice = next(self.invoices)
        malformed = await self._token("errors/malformed-json-token", invoice, multipart=False)
        await self._with_token("errors/malformed-json", malformed, "POST", "/payments/cards/auth",
                               raw_json=MALFORMED_JSON)

    # -- steps --------------------------------------------------------------------------------
    async def _pay(self, flow: str, invoice: str, card_id: str, *, token_step: str = "token",
                   multipart: bool = False, terminal: str | None = None) -> str | None:
        terminal = terminal or self.creds.terminal
        token = await self._token(f"{flow}/{token_step}", invoice, multipart=multipart, terminal=terminal)
        paid = await self._with_token(f"{flow}/cards-auth", token, "POST", "/payments/cards/auth",
                                      json_body=self._payment_body(invoice, card_id, terminal))
        tx_id = paid.json_field("id") if paid.status == 200 else None
        return tx_id if isinstance(tx_id, str) and tx_id else None

    async def _token(self, flow: str, invoice: str | None, *, multipart: bool,
                     terminal: str | None = None) -> Exchange:
        form = self._token_form(invoice, terminal=terminal)
        data = _multipart(form) if multipart else form
        return self._keep(await self.client.send(flow, "POST", self.gateway.token_url, data=data))

    async def _status(self, flow: str, invoice: str) -> Exchange:
        return await self._api(flow, "GET", f"/check-status/payment/transaction/{invoice}")

    async def _operation(self, flow: str, tx_id: str | None, operation: str,
                         amount: int | None = None) -> None:
        if tx_id is None:
            self._skip(flow, "no transaction id: the payment before it was not approved")
            return
        query = f"?amount={amount}" if amount is not None else ""
        await self._api(flow, "POST", f"/operation/{tx_id}/{operation}{query}")

    async def _api(self, flow: str, method: str, path: str, *, json_body: object = None) -> Exchange:
        headers = {"Authorization": f"Bearer {self._service_token}"}
        exchange = await self.client.send(flow, method, self.gateway.api_base + path, headers=headers,
                                          json_body=json_body)
        return self._keep(exchange)

    async def _with_token(self, flow: str, token_exchange: Exchange, method: str, path: str, *,
                          json_body: object = None, raw_json: bytes | None = None) -> Exchange:
        token = _access_token(token_exchange)
        if not token:
            return self._skip(flow, f"no payment token ({token_exchange.flow}: {_summary(token_exchange)})")
        headers = {"Authorization": f"Bearer {token}"}
        if raw_json is not None:
            headers["Content-Type"] = "application/json"
        exchange = await self.client.send(flow, method, self.gateway.api_base + path, headers=headers,
                                          json_body=json_body, data=raw_json)
        return self._keep(exchange)

    def _keep(self, exchange: Exchange) -> Exchange:
        self.exchanges.append(exchange)
        return exchange

    def _skip(self, flow: str, why: str) -> Exchange:
        return self._keep(Exchange(flow=flow, skipped=why))

    # -- bodies -------------------------------------------------------------------------------
    def _token_form(self, invoice: str | None, secret: str | None = None,
                    terminal: str | None = None) -> dict[str, str]:
        form = {
            "grant_type": "client_credentials",
            "scope": PAYMENT_SCOPE if invoice else SERVICE_SCOPE,
            "client_id": self.creds.client_id,
            "client_secret": secret or self.creds.client_secret,
            "terminal": terminal or self.creds.terminal,
        }
        if invoice:
            form.update(invoiceID=invoice, amount=str(AMOUNT), currency="KZT")
        return form

    def _payment_body(self, invoice: str, card_id: str, terminal: str | None = None) -> dict[str, object]:
        body: dict[str, object] = {
            "amount": AMOUNT,
            "currency": "KZT",
            "name": "CONTRACT CHECK",
            "terminalId": terminal or self.creds.terminal,
            "invoiceId": invoice,
            "description": "mock-epay contract check",
            "accountId": self.creds.account_id,
            "email": "contract-check@example.com",
            "phone": "77777777777",
            "language": "rus",
            "paymentType": "cardId",
            "cardId": {"id": card_id},
        }
        if self.creds.post_link:
            body["postLink"] = self.creds.post_link
        return body


def widget_facts(script: str) -> dict[str, str]:
    """What the comparison checks in the widget script: the global `halyk` and its entry points."""
    facts = {"script: global halyk": _yes(re.search(r"\bhalyk\s*=", script))}
    for member in _WIDGET_MEMBERS:
        facts[f"script: halyk.{member}"] = _yes(re.search(rf"\b{member}\s*[:=]\s*function\b|\b{member}\s*\(",
                                                          script))
    return facts


def _yes(found: object) -> str:
    return "present" if found else "absent"


def _multipart(form: dict[str, str]) -> aiohttp.FormData:
    data = aiohttp.FormData(default_to_multipart=True)
    for key, value in form.items():
        data.add_field(key, value)
    return data


def _access_token(exchange: Exchange) -> str:
    token = exchange.json_field("access_token") if exchange.status == 200 else None
    return token if isinstance(token, str) else ""


def _summary(exchange: Exchange) -> str:
    if exchange.skipped:
        return f"not run: {exchange.skipped}"
    return f"HTTP {exchange.status} {exchange.text[:160].strip()}".strip()
