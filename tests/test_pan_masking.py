"""No full card number leaves the mock: not in the journal, admin answers, callbacks or the server log.

Every flow that carries a card is run through real HTTP with the bank's test cards, then
every admin answer, every callback body and the captured server log are searched for each
full test card number, written plainly and with the separators a form or a user adds.
"""

from __future__ import annotations

import asyncio
import logging
import re
from urllib.parse import urlsplit

import pytest

from mock_epay.core.pan import luhn_valid, mask_card_numbers
from mock_epay.gateway import sandbox_cards
from mock_epay.gateway.models import Merchant, SeedCard, Terminal
from mock_epay.settings import DEFAULT_MERCHANT, Settings
from mock_epay.web.journal import AccessLog
from tests.conftest import get_service_token, get_token
from tests.test_cards_auth import pay, payment_body
from tests.test_widget import merchant, open_page, params_of, payment_object, token_response  # noqa: F401

VISA = "4405639704015096"
SECURE3D = "4000000000003220"
SHOP_TERMINAL = "aaaaaaaa-1111-2222-3333-444444444444"
SHOP_CARD_ID = "3d3d3d3d-0000-4000-8000-000000000001"
SHOP = Merchant(
    client_id="shop3d", client_secret="s3cret", name="3DS shop",
    terminals=(Terminal(id=SHOP_TERMINAL, number="90000003"),),
    saved_cards=(SeedCard("buyer", SECURE3D, SHOP_CARD_ID),),
)
TEST_PANS = sorted({card.pan for card in sandbox_cards.TEST_CARDS})
UUID = "3d3d3d3d-0000-4000-8000-000000000001"
UUID_DIGITS = "12345678-1234-1234-1234-123456789012"


def written_forms(pan: str) -> list[str]:
    """A card number as plain digits and grouped by four with space, plus and dash."""
    groups = " ".join(pan[i:i + 4] for i in range(0, len(pan), 4))
    return [pan, groups, groups.replace(" ", "+"), groups.replace(" ", "-")]


def full_pans_in(text: str) -> dict[str, int]:
    found = {pan: sum(text.count(form) for form in written_forms(pan)) for pan in TEST_PANS}
    return {pan: count for pan, count in found.items() if count}


# -- unit: what is masked and what is not ------------------------------------------------


@pytest.mark.parametrize("written", [
    "4405639704015096",
    "4405 6397 0401 5096",
    "4405+6397+0401+5096",
    "4405-6397-0401-5096",
    "4405%206397%200401%205096",
    "4405%2B6397%2B0401%2B5096",
    "%34%34%30%35%36%33%39%37%30%34%30%31%35%30%39%36",
])
def test_a_card_number_is_masked_whatever_its_separators(written):
    assert mask_card_numbers(f"cardNumber={written}&cvc=321") == "cardNumber=440563...5096&cvc=***"


def test_every_test_card_is_masked_to_six_and_four():
    for pan in TEST_PANS:
        assert mask_card_numbers(pan) == f"{pan[:6]}...{pan[-4:]}"


def test_a_card_among_other_numbers_is_masked_and_its_neighbours_kept():
    assert mask_card_numbers("pay 1 4405 6397 0401 5096 123 now") == "pay 1 440563...5096 123 now"


@pytest.mark.parametrize("untouched", [
    UUID,
    UUID_DIGITS,
    "e7e2587f-de26-4f41-ae1f-80c1fea31728",
    "reference 123456789012",  # a 12-digit RRN
    "invoiceId 000000000000001",
    "amount 1000000000000",
    "phone +77472261170",
    "at 2026-11-23 18:15:13",
    "4405639704015097",  # Luhn fails: not a card
])
def test_other_digit_runs_stay_as_they_are(untouched):
    assert mask_card_numbers(untouched) == untouched


def test_luhn():
    assert all(luhn_valid(pan) for pan in TEST_PANS)
    assert not luhn_valid("4405639704015097")


def test_access_log_lines_escape_control_characters_and_mask_cards():
    class Sink:
        text = ""

        def write(self, text: str) -> None:
            self.text += text

        def flush(self) -> None:
            pass

    sink = Sink()
    log = AccessLog(sink)
    log._flush_pending = True  # flushed by hand below, no event loop needed
    log.write("GET", f"/x\r\n2026-01-01 00:00:00 mock_epay forged line {VISA}", 404, 0.1)
    log.flush()
    assert sink.text.count("\n") == 1
    assert "\\r\\n2026-01-01 00:00:00 mock_epay forged line 440563...5096" in sink.text


# -- end to end: every flow, every answer ------------------------------------------------


@pytest.fixture
def settings() -> Settings:
    return Settings(seed=5, log_requests=True, merchants=(DEFAULT_MERCHANT, SHOP))


async def pay_on_the_page(client, merchant, invoice_id: str, card: str, extra: str = ""):  # noqa: F811
    auth = await token_response(client, invoiceID=invoice_id)
    obj = payment_object(auth, invoiceId=invoice_id, postLink=merchant["post"],
                         failurePostLink=merchant["fail"])
    page = await open_page(client, obj, extra=extra)
    assert page.status == 200
    form = {"params": params_of(await page.text()), "isShortForm": "false", "cardNumber": card,
            "expiry": "01/27", "cvc": "321", "holder": "ARMAN ALI"}
    response = await client.post("/payform/pay", data=form, allow_redirects=False)
    assert response.status in (200, 303), await response.text()


async def saved_card_3ds(client) -> None:
    token = await get_token(client, client_id="shop3d", client_secret="s3cret", terminal=SHOP_TERMINAL,
                            invoiceID="000000301", amount="250")
    body = {"amount": 250, "currency": "KZT", "terminalId": SHOP_TERMINAL, "invoiceId": "000000301",
            "description": "3ds", "accountId": "buyer", "paymentType": "cardId",
            "cardId": {"id": SHOP_CARD_ID}, "backLink": "https://shop.example.kz/ok",
            "failureBackLink": "https://shop.example.kz/fail"}
    answer = await (await client.post("/payments/cards/auth", json=body,
                                      headers={"Authorization": f"Bearer {token}"})).json()
    secure = answer["secure3D"]
    await client.post(urlsplit(secure["action"]).path,
                      data={"MD": secure["md"], "PaReq": secure["paReq"], "TermUrl": secure["termURL"]})
    term = urlsplit(secure["termURL"])
    done = await client.post(f"{term.path}?{term.query}", data={"MD": secure["md"], "PaRes": "Y"},
                             allow_redirects=False)
    assert done.status == 303


async def admin_answers(client) -> list[tuple[str, str]]:
    """Every admin answer about payments a user or the dashboard reads, with each record's details.

    `/_mock/scenarios` is left out on purpose: it lists the rules as written, and a rule that
    matches a bank test card (`cardNumber: 4003032704547597`) must show which card it means.
    """
    paths = ["/_mock/requests?limit=500", "/_mock/transactions?limit=500", "/_mock/deliveries",
             "/_mock/merchants", "/_mock/ui/"]
    answers = [(path, await (await client.get(path)).text()) for path in paths]
    transactions = (await (await client.get("/_mock/transactions?limit=500")).json())["transactions"]
    deliveries = (await (await client.get("/_mock/deliveries")).json())["deliveries"]
    assert transactions and deliveries
    for path in [f"/_mock/transactions/{t['id']}" for t in transactions] + \
                [f"/_mock/deliveries/{d['id']}" for d in deliveries]:
        response = await client.get(path)
        assert response.status == 200
        answers.append((path, await response.text()))
    return answers


async def test_no_full_card_number_in_any_admin_answer_callback_or_log_line(
    client, merchant, capsys, caplog  # noqa: F811
):
    caplog.set_level(logging.INFO)
    # the page's own form post: the card as typed, spaces sent as '+'
    await pay_on_the_page(client, merchant, "000000101", "4405 6397 0401 5096")
    # the page's documented mockAutoPay option in the page URL
    await pay_on_the_page(client, merchant, "000000102", "5522042705066736",
                          extra="&mockAutoPay=5522042705066736&mockAutoPayMs=300")
    # a declined and a 3-D Secure card typed on the page
    await pay_on_the_page(client, merchant, "000000103", "4003-0327-0454-7597")
    await pay_on_the_page(client, merchant, "000000104", SECURE3D)
    # server-to-server: cards/auth with a card number in free text, then the saved-card list
    token = await get_token(client, invoiceID="000000105")
    paid = await pay(client, token, payment_body(invoiceId="000000105", postLink=merchant["post"]))
    assert paid.status == 200, await paid.text()
    service = await get_service_token(client)
    cards = await client.get("/cards/testuser1", headers={"Authorization": f"Bearer {service}"})
    assert cards.status == 200
    await saved_card_3ds(client)
    await merchant["wait"](3)

    answers = await admin_answers(client)
    journal = (await (await client.get("/_mock/requests?limit=500")).json())["requests"]
    assert any("mockAutoPay=552204...6736" in entry["path"] for entry in journal)
    assert any("cardNumber=440563...5096" in entry["body"] for entry in journal)
    callbacks = "\n".join(repr(body) for _, body in merchant["received"])
    await asyncio.sleep(0.2)  # the access log is written in batches, ~50 ms late
    captured = capsys.readouterr()
    # the mock's own log: its access log (stderr) and its log records; aiohttp's test-server
    # access log (`aiohttp.access`) is the test harness's, off under `mock-epay serve`
    records = [r.getMessage() for r in caplog.records if r.name != "aiohttp.access"]
    server_log = captured.err + captured.out + "\n".join(records)

    leaks = {name: full_pans_in(text) for name, text in
             [*answers, ("callbacks", callbacks), ("server log", server_log)]}
    leaks = {name: found for name, found in leaks.items() if found}
    count = sum(sum(found.values()) for found in leaks.values())
    print(f"full test card numbers found in {len(answers)} admin answers, "
          f"{len(merchant['received'])} callbacks and the server log: {count}")
    assert count == 0, "\n".join(f"{name}: {found}" for name, found in leaks.items())
    assert "POST /payform/pay 200" in server_log or "POST /payform/pay 303" in server_log


async def test_the_journal_shows_each_answer_with_uuids_and_references_as_they_are(client):
    token = await get_token(client, invoiceID="000000201")
    response = await pay(client, token, payment_body(invoiceId="000000201"))
    assert response.status == 200
    answer = await response.json()
    [entry] = [e for e in (await (await client.get("/_mock/requests")).json())["requests"]
               if e["path"] == "/payments/cards/auth"]
    assert answer["reference"] in entry["responseBody"]
    assert answer["id"] in entry["responseBody"]
    assert re.fullmatch(r"\d{12}", answer["reference"])
    assert entry["status"] == 200 and entry["responseBody"] == await response.text()


@pytest.mark.parametrize(("text", "masked"), [
    ('{"cvc": "321", "hpan": "4405639704015096"}', '{"cvc": "***", "hpan": "440563...5096"}'),
    ("cardNumber=4405+6397+0401+5096&expiry=01%2F27&cvc=321",
     "cardNumber=440563...5096&expiry=01%2F27&cvc=***"),
    ('{"CVV2":1234}', '{"CVV2":***}'),
    ("cvc%3D987", "cvc%3D***"),
    ("invoice 000000321 and 321 alone", "invoice 000000321 and 321 alone"),
])
def test_a_security_code_next_to_its_name_is_masked(text, masked):
    assert mask_card_numbers(text) == masked


async def test_the_journal_never_shows_the_cvc_typed_on_the_page(client, merchant):  # noqa: F811
    await pay_on_the_page(client, merchant, "000000105", "4405 6397 0401 5096")
    journal = await (await client.get("/_mock/requests")).text()

    assert "/payform/pay" in journal
    assert "cvc=321" not in journal and '"cvc": "321"' not in journal
    assert "cvc=***" in journal


def test_a_cvc_inside_a_json_string_and_any_cryptogram_value_are_masked():
    import json as _json

    from mock_epay.core.pan import mask_card_numbers

    inner = _json.dumps({"hpan": "4405639704015096", "expDate": "0127", "cvc": "321"})
    escaped = mask_card_numbers(_json.dumps({"card": inner}))
    assert "4405639704015096" not in escaped and '\\"cvc\\": \\"***\\"' in escaped
    for key in ("cryptogram", "\u0441ryptogram"):  # Latin, and the SDK's Cyrillic first letter
        masked = mask_card_numbers(_json.dumps({key: "eyJocGFuIjoiNDQwNTYzOTcwNDAxNTA5NiJ9", "amount": 100},
                                               ensure_ascii=False))
        assert masked == _json.dumps({key: "***(36 chars)", "amount": 100}, ensure_ascii=False)
