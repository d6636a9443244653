"""`mock-epay cryptogram`: print a card cryptogram made with a running mock's key (for merchants' tests).

It fetches `/public.rsa` from `--url` (default $MOCK_EPAY_URL, then http://127.0.0.1:8080),
encrypts `{"hpan","expDate","cvc","terminalId"}` with RSA PKCS#1 v1.5 and prints the base64
text to put in the cryptopay body's `cryptogram`. `make_cryptogram` is the same step as a
function (the pytest plugin's `MockEpay.cryptogram` calls it).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
import urllib.error
import urllib.request
from typing import Any

from mock_epay.settings import TEST_TERMINAL_ID

DEFAULT_URL = "http://127.0.0.1:8080"


def card_json(card: str, exp: str, cvc: str, terminal: str) -> str:
    """The JSON a cryptogram carries (spec 2.2), in the SDK's key order."""
    fields = {"hpan": card, "expDate": exp, "cvc": cvc, "terminalId": terminal}
    return json.dumps(fields, separators=(",", ":"))


def make_cryptogram(public_pem: str, card: str, exp: str, cvc: str, terminal: str = TEST_TERMINAL_ID) -> str:
    """base64 of the RSA PKCS#1 v1.5 encrypted card JSON, as merchants build it."""
    from mock_epay.core.rsa_keys import encrypt_with_public_pem

    sealed = encrypt_with_public_pem(public_pem, card_json(card, exp, cvc, terminal).encode("utf-8"))
    return base64.b64encode(sealed).decode("ascii")


def fetch_public_key(base_url: str, timeout: float = 10.0) -> str:
    """The PEM the mock at `base_url` serves at `/public.rsa`."""
    with urllib.request.urlopen(base_url.rstrip("/") + "/public.rsa", timeout=timeout) as response:  # noqa: S310
        return str(response.read().decode("ascii"))


def add_cryptogram_parser(sub: Any) -> None:
    command = sub.add_parser("cryptogram",
                             help="print a card cryptogram for a running mock's /public.rsa key")
    command.set_defaults(subparser=command)
    command.add_argument("--card", required=True, help="card number, e.g. 4405639704015096")
    command.add_argument("--exp", required=True, help="expiry as MMYY, e.g. 0127")
    command.add_argument("--cvc", required=True, help="CVC / CVV, e.g. 321")
    command.add_argument("--terminal", default=TEST_TERMINAL_ID,
                         help="terminal UUID (default: the test terminal)")
    command.add_argument("--url", default=None,
                         help=f"the mock's base URL (default $MOCK_EPAY_URL, then {DEFAULT_URL})")


def run_cryptogram(args: argparse.Namespace) -> int:
    url = args.url or os.environ.get("MOCK_EPAY_URL") or DEFAULT_URL
    try:
        pem = fetch_public_key(url)
    except (urllib.error.URLError, OSError, UnicodeDecodeError) as exc:
        print(f"mock-epay cryptogram: cannot fetch {url}/public.rsa: {exc}", file=sys.stderr)
        return 1
    try:
        print(make_cryptogram(pem, args.card, args.exp, args.cvc, args.terminal))
    except ValueError as exc:
        print(f"mock-epay cryptogram: {url}/public.rsa is not an RSA public key: {exc}", file=sys.stderr)
        return 1
    return 0
