"""A PCI DSS merchant pays server to server by cryptogram: the card encrypted with the key at /public.rsa."""

from __future__ import annotations

import base64
import itertools
import json
import os
import re
import shutil
import subprocess
from typing import Any

import pytest

from mock_epay.core.rsa_keys import encrypt_with_public_pem, seeded_private_key
from mock_epay.gateway.codes import CARD_BLOCKED, CARD_EXPIRED
from mock_epay.settings import TEST_TERMINAL_ID, Settings
from tests.conftest import get_token

VISA = "4405639704015096"
LOCKED_VISA = "4003032704547597"
SECURE3D_CARD = "4000000000003220"
CYRILLIC_KEY = "\u0441ryptogram"
_invoices = itertools.count(770000001)


def card_json(pan: str = VISA, exp: str = "0127", cvc: str = "321",
              terminal: str = TEST_TERMINAL_ID) -> bytes:
    return json.dumps({"hpan": pan, "expDate": exp, "cvc": cvc, "terminalId": terminal}).encode()


async def public_pem(client, path: str = "/public.rsa") -> str:
    response = await client.get(path)
    assert response.status == 200, await response.text()
    return await response.text()


async def encrypted(client, **card: Any) -> str:
    return base64.b64encode(encrypt_with_public_pem(await public_pem(client), card_json(**card))).decode()


def cryptopay_body(crypt: str, invoice: str, *, key: str = "cryptogram", **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"amount": 100, "currency": "KZT", "name": "JON JONSON", key: crypt,
                            "invoiceId": invoice, "description": "test payment", "accountId": "buyer-1",
                            "email": "jj@example.com", "phone": "77777777777"}
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


async def cryptopay(client, crypt: str, *, amount: int = 100, path: str = "/payment/cryptopay",
                    **overrides: Any):
    invoice = overrides.pop("invoice", None) or f"{next(_invoices):09d}"
    token = await get_token(client, invoiceID=invoice, amount=str(amount))
    body = cryptopay_body(crypt, invoice, amount=amount, **overrides)
    return await client.post(path, json=body, headers={"Authorization": f"Bearer {token}"})


@pytest.mark.parametrize("key", ["cryptogram", CYRILLIC_KEY])
@pytest.mark.parametrize("path", ["/payment/cryptopay", "/api/payment/cryptopay"])
async def test_a_cryptogram_from_the_public_key_with_an_unlock_card_pays(client, key, path):
    response = await cryptopay(client, await encrypted(client), key=key, path=path)
    assert response.status == 200, await response.text()
    paid = await response.json()
    assert paid["code"] == 0 and paid["status"] == "CHARGE" and paid["secure3D"] is None
    assert paid["amount"] == 100 and paid["invoiceID"] and paid["reference"]
    status = await client.get(f"/_mock/transactions/{paid['id']}")
    listed = await status.json()
    assert listed["source"] == "cryptopay" and listed["cardMask"] == "440563...5096"


async def test_the_key_is_a_2048_bit_pem_served_with_and_without_api_and_made_once(client):
    pem = await public_pem(client)
    assert pem.startswith("-----BEGIN PUBLIC KEY-----") and pem == await public_pem(client, "/api/public.rsa")
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    assert load_pem_public_key(pem.encode()).key_size == 2048


async def test_the_same_seed_gives_the_same_key(make_client):
    first = await public_pem(await make_client(Settings(seed=1234, log_requests=False)))
    second = await public_pem(await make_client(Settings(seed=1234, log_requests=False)))
    assert first == second


def test_the_seeded_search_is_deterministic_and_depends_on_the_seed():
    derive = seeded_private_key.__wrapped__  # without the per-process cache; 1024 bits to stay quick
    one, again, other = derive(3, 1024), derive(3, 1024), derive(4, 1024)
    assert one.private_numbers() == again.private_numbers() != other.private_numbers()
    assert one.key_size == 1024


async def test_a_configured_pem_file_is_the_key(make_client, tmp_path):
    from mock_epay.core.rsa_keys import private_pem

    key = seeded_private_key(1234)  # cached: the fixture seed
    path = tmp_path / "epay.pem"
    path.write_text(private_pem(key))
    client = await make_client(Settings(rsa_key_file=path, log_requests=False))
    pem = await public_pem(client)
    from cryptography.hazmat.primitives import serialization

    expected = key.public_key().public_bytes(serialization.Encoding.PEM,
                                             serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    assert pem == expected
    assert (await cryptopay(client, await encrypted(client))).status == 200


async def test_a_locked_card_declines_with_its_reason_code(client):
    response = await cryptopay(client, await encrypted(client, pan=LOCKED_VISA, exp="0920", cvc="170"))
    assert response.status == 400
    assert (await response.json())["code"] == CARD_BLOCKED


@pytest.mark.parametrize("crypt", [
    base64.b64encode(bytes(range(256))).decode(),  # the right size, not made with this key
    base64.b64encode(b"\x00" * 128).decode(),  # the wrong size
    "%%% not base64 %%%",
    base64.b64encode(b"{not json").decode(),
    '{"hpan": "4405639704015096"}',  # no expDate
])
async def test_an_unreadable_or_malformed_cryptogram_is_a_400_in_the_banks_format(client, crypt):
    response = await cryptopay(client, crypt)
    assert response.status == 400
    error = await response.json()
    assert set(error) == {"code", "message"} and error["code"] == -1 and "cryptogram" in error["message"]
    transactions = await (await client.get("/_mock/transactions")).json()
    assert transactions["total"] == 0  # nothing half-recorded


@pytest.mark.parametrize(("card", "code", "words"), [
    ({"pan": "4405639704015097"}, 472, "Luhn"),
    ({"pan": "4111111111111111", "exp": "0120"}, CARD_EXPIRED, "expired"),
    ({"exp": "1327"}, 457, "MMYY"),
    ({"cvc": "32"}, 477, "cvc"),
    ({"terminal": "00000000-0000-4000-8000-000000000000"}, -1, "terminalId"),
])
async def test_a_card_failing_validation_names_what_is_wrong(client, card, code, words):
    response = await cryptopay(client, await encrypted(client, **card))
    assert response.status == 400
    error = await response.json()
    assert error["code"] == code and words in error["message"]


async def test_plain_and_base64_json_cryptograms_are_read_for_tests_that_do_not_encrypt(client):
    plain = card_json().decode()
    assert (await cryptopay(client, plain)).status == 200
    assert (await cryptopay(client, base64.b64encode(card_json()).decode())).status == 200


async def test_a_second_payment_of_a_paid_invoice_is_a_duplicate(client):
    first = await cryptopay(client, card_json().decode(), invoice="770900001")
    assert first.status == 200
    again = await cryptopay(client, card_json().decode(), invoice="770900001")
    assert again.status == 400 and (await again.json())["message"] == "dublicate transaction"


async def test_scenario_rules_by_amount_decide_a_cryptopay_payment(client):
    response = await cryptopay(client, card_json().decode(), amount=4840)
    assert response.status == 400 and (await response.json())["code"] == 484


async def test_card_save_returns_a_card_id_that_pays_again_through_cards_auth(client):
    response = await cryptopay(client, await encrypted(client), cardSave=True)
    saved_id = (await response.json())["cardID"]
    assert response.status == 200 and saved_id
    invoice = f"{next(_invoices):09d}"
    token = await get_token(client, invoiceID=invoice, amount="250")
    again = await client.post("/payments/cards/auth", headers={"Authorization": f"Bearer {token}"}, json={
        "amount": 250, "currency": "KZT", "terminalId": TEST_TERMINAL_ID, "invoiceId": invoice,
        "description": "second", "accountId": "buyer-1", "paymentType": "cardId", "cardId": {"id": saved_id},
        "recurrent": True})
    assert again.status == 200, await again.text()
    assert (await again.json())["cardID"] == saved_id


async def test_lowercase_cardsave_saves_the_card_too(client):
    response = await cryptopay(client, card_json().decode(), cardsave=True)
    assert (await response.json())["cardID"]


async def test_a_zero_amount_cryptogram_verifies_and_saves_the_card(client):
    response = await cryptopay(client, await encrypted(client), amount=0, cardSave=True)
    assert response.status == 200, await response.text()
    verified = await response.json()
    assert verified["status"] == "VERIFIED" and verified["amount"] == 0 and verified["cardID"]
    status = await (await client.get(f"/_mock/transactions/{verified['id']}")).json()
    assert status["status"] == "VERIFIED"


async def test_a_3d_secure_card_answers_secure3d_and_the_confirm_step_finishes_it(client):
    response = await cryptopay(client, card_json(pan=SECURE3D_CARD, exp="1230", cvc="123").decode())
    assert response.status == 200
    pending = await response.json()
    secure = pending["secure3D"]
    assert set(secure) == {"action", "md", "paReq", "termURL"} and pending["status"] == "NEW"
    term = secure["termURL"].split("/payments/", 1)[1]
    confirmed = await client.post(f"/payments/{term}", data={"MD": secure["md"], "PaRes": "Y"},
                                  allow_redirects=False)
    assert confirmed.status == 303 and "reference=" in confirmed.headers["Location"]
    status = await (await client.get(f"/_mock/transactions/{pending['id']}")).json()
    assert status["status"] == "CHARGE"


async def test_a_cryptogram_needs_a_payment_token(client):
    response = await client.post("/payment/cryptopay", json=cryptopay_body("x", "000000001"))
    assert response.status == 401 and set(await response.json()) == {"code", "message"}


@pytest.mark.parametrize("form", ["plain", "base64", "rsa"])
async def test_no_card_data_reaches_the_journal_or_the_admin_answers(client, form):
    """Not the number, not the CVC, not the cryptogram (base64 and plain JSON ones can be read back)."""
    plain = card_json().decode()
    crypt = {"plain": plain, "base64": base64.b64encode(plain.encode()).decode(),
             "rsa": await encrypted(client)}[form]
    paid = await cryptopay(client, crypt)
    assert paid.status == 200, await paid.text()
    answer = await client.get("/_mock/requests")
    assert answer.status == 200
    entries = (await answer.json())["requests"]
    logged = json.dumps([e for e in entries if e["path"].endswith("/payment/cryptopay")])
    assert "/payment/cryptopay" in logged  # the request is there, with its card data masked
    admin = await (await client.get("/_mock/transactions")).text()
    for text in (logged, admin):
        assert VISA not in text and crypt[:40] not in text
        assert not re.search(r"cvc\W{1,6}321", text)
    assert "***(" in logged


async def test_a_cryptogram_made_by_nodes_public_encrypt_is_accepted(client):
    if shutil.which("node") is None:
        if os.environ.get("MOCK_EPAY_REQUIRE_NODE"):  # CI installs Node.js: a missing one is a failure
            pytest.fail("node is not installed but MOCK_EPAY_REQUIRE_NODE is set")
        pytest.skip("node is not installed (apt-get install nodejs)")
    script = ("const c=require('crypto');let d='';process.stdin.on('data',x=>d+=x).on('end',()=>{"
              "const [pem,msg]=JSON.parse(d);process.stdout.write(c.publicEncrypt({key:pem,"
              "padding:c.constants.RSA_PKCS1_PADDING},Buffer.from(msg)).toString('base64'))})")
    stdin = json.dumps([await public_pem(client), card_json().decode()])
    made = subprocess.run(["node", "-e", script], input=stdin, capture_output=True, text=True, timeout=30,
                          check=True)
    response = await cryptopay(client, made.stdout.strip())
    assert response.status == 200, await response.text()
    assert (await response.json())["code"] == 0


def test_an_rsa_cryptogram_whose_first_byte_is_a_brace_is_still_decrypted():
    """About 1 in 256 ciphertexts begin with the byte of "{": they are RSA, not base64 JSON."""
    from mock_epay.gateway.cryptogram import open_cryptogram

    block = b"{" + bytes(range(1, 256))  # 256 bytes, not JSON
    opened = open_cryptogram(base64.b64encode(block).decode(),
                             lambda raw: b'{"hpan": "4405639704015096"}' if raw == block else None)
    assert opened == {"hpan": "4405639704015096"}
