"""Merchants' tests build cryptograms for a running mock: `mock-epay cryptogram` and `MockEpay.cryptogram`."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.parse
import urllib.request

from mock_epay.settings import TEST_TERMINAL_ID
from mock_epay.testing import MockEpay


def pay_by_cryptogram(mock: MockEpay, cryptogram: str, invoice: str) -> dict:
    form = urllib.parse.urlencode({
        "grant_type": "client_credentials", "scope": "payment", "client_id": mock.client_id,
        "client_secret": mock.client_secret, "invoiceID": invoice, "amount": "100", "currency": "KZT",
        "terminal": TEST_TERMINAL_ID}).encode()
    with urllib.request.urlopen(mock.oauth_url, data=form, timeout=10) as answer:
        token = json.loads(answer.read())["access_token"]
    body = json.dumps({"amount": 100, "currency": "KZT", "name": "JON JONSON", "cryptogram": cryptogram,
                       "invoiceId": invoice, "description": "helper test"}).encode()
    request = urllib.request.Request(f"{mock.api_url}/payment/cryptopay", data=body, method="POST",
                                     headers={"Authorization": f"Bearer {token}",
                                              "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read())


def test_mock_epay_cryptogram_makes_a_cryptogram_the_mock_accepts(mock_epay):
    cryptogram = mock_epay.cryptogram("4405639704015096", "0127", "321")
    paid = pay_by_cryptogram(mock_epay, cryptogram, "551000001")
    assert paid["code"] == 0 and paid["status"] == "CHARGE"


def test_the_cli_prints_a_cryptogram_for_the_running_mocks_key(mock_epay):
    made = subprocess.run(
        [sys.executable, "-m", "mock_epay", "cryptogram", "--card", "4405639704015096", "--exp", "0127",
         "--cvc", "321", "--terminal", TEST_TERMINAL_ID, "--url", mock_epay.base_url],
        capture_output=True, text=True, timeout=60, check=True)
    paid = pay_by_cryptogram(mock_epay, made.stdout.strip(), "551000002")
    assert paid["code"] == 0


def test_the_cli_says_when_no_mock_answers():
    made = subprocess.run(
        [sys.executable, "-m", "mock_epay", "cryptogram", "--card", "4405639704015096", "--exp", "0127",
         "--cvc", "321", "--url", "http://127.0.0.1:9"], capture_output=True, text=True, timeout=60)
    assert made.returncode == 1 and "cannot fetch" in made.stderr
