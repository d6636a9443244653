"""Card cryptograms (spec 2.2): open one with the mock's RSA key, read its card, check the card.

A cryptogram is base64 of RSA PKCS#1 v1.5 over the UTF-8 JSON
`{"hpan": PAN, "expDate": "MMYY", "cvc": CVC, "terminalId": UUID}`. Tests that do not
encrypt may send that JSON as it is or base64-encoded; both are read too. Every failure is
an `EpayError` (HTTP 400) naming what is wrong, with the bank's reason code where the card is
at fault: 472 invalid card number (Luhn), 478 expired, 457 a malformed expiry, 477 a CVC of
the wrong length (format error); an unreadable cryptogram or a terminal other than the
token's is the generic -1.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

import msgspec

from mock_epay.core.pan import luhn_valid
from mock_epay.gateway import sandbox_cards
from mock_epay.gateway.codes import CARD_EXPIRED, GENERIC, WRONG_EXPIRY
from mock_epay.gateway.errors import EpayError

INVALID_CARD_NUMBER = 472
FORMAT_ERROR = 477
CVC_LENGTHS = {"AMEX": (4,), "": (3,)}
Decrypt = Callable[[bytes], "bytes | None"]  # the key's PKCS#1 v1.5 decryption (None: it cannot)


class CardData(msgspec.Struct, frozen=True):
    """What a cryptogram carries. `repr` never shows the number or the CVC."""

    hpan: str
    exp_date: str  # MMYY
    cvc: str
    terminal_id: str

    def __repr__(self) -> str:
        return (f"CardData(hpan=...{self.hpan[-4:]}, exp_date={self.exp_date!r}, "
                f"terminal_id={self.terminal_id!r})")

    @property
    def expiry(self) -> str:
        """`MM/YY`, as the payment page and the test-card table write it."""
        return f"{self.exp_date[:2]}/{self.exp_date[2:]}"


def _bad(message: str, code: int = GENERIC) -> EpayError:
    return EpayError(400, code, message)


def _b64decode(text: str) -> bytes | None:
    """Standard or URL-safe base64, whitespace and missing padding tolerated; None when neither."""
    compact = "".join(text.split())
    padded = (compact + "=" * (-len(compact) % 4)).encode("ascii", "replace")
    for altchars in (None, b"-_"):
        try:
            return base64.b64decode(padded, altchars=altchars, validate=True)
        except (binascii.Error, ValueError):
            continue
    return None


def open_cryptogram(cryptogram: str, decrypt: Decrypt) -> dict[str, Any]:
    """The JSON object inside `cryptogram` (RSA-encrypted, base64 JSON or plain JSON)."""
    text = cryptogram.strip()
    if text.startswith("{"):
        return _json_object(text.encode("utf-8", "replace"), "the plain JSON cryptogram")
    raw = _b64decode(text)
    if raw is None:
        raise _bad("field 'cryptogram' is not base64 (expected base64 of the RSA-encrypted card JSON)")
    if raw.lstrip().startswith(b"{"):
        try:
            return _json_object(raw, "the base64 JSON cryptogram")
        except EpayError:
            if len(raw) % 128:  # not an RSA block either (1024-4096-bit keys give multiples of 128)
                raise
            # an RSA ciphertext may begin with the byte of "{" (about 1 in 256): decrypt it
    plain = decrypt(raw)
    if plain is None:
        raise _bad(f"field 'cryptogram' cannot be decrypted with the key at /public.rsa ({len(raw)} bytes; "
                   "expected RSA PKCS#1 v1.5 with that 2048-bit key, 256 bytes)")
    return _json_object(plain, "the decrypted cryptogram")


def _json_object(raw: bytes, what: str) -> dict[str, Any]:
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise _bad(f"{what} is not JSON (expected {{\"hpan\", \"expDate\", \"cvc\", \"terminalId\"}}); "
                   "was it encrypted with the key at /public.rsa?") from None
    if not isinstance(data, dict):
        raise _bad(f"{what} is not a JSON object")
    return data


def _text(data: dict[str, Any], name: str, *, required: bool = True) -> str:
    value = data.get(name)
    if value is None or value == "":
        if required:
            raise _bad(f"the cryptogram has no '{name}'")
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise _bad(f"the cryptogram's '{name}' must be a string")
    return str(value).strip()


def card_data(data: dict[str, Any]) -> CardData:
    """The card fields of an opened cryptogram; the terminal may be absent (then the token's counts)."""
    hpan = _text(data, "hpan").replace(" ", "")
    return CardData(hpan=hpan, exp_date=_text(data, "expDate"), cvc=_text(data, "cvc"),
                    terminal_id=_text(data, "terminalId", required=False))


def validate(card: CardData, now: datetime, token_terminal: str | None, card_type: str) -> None:
    """Refuse a card the bank would not even try: bad number, expiry, CVC, or another terminal."""
    if not (card.hpan.isdigit() and 12 <= len(card.hpan) <= 19 and luhn_valid(card.hpan)):
        raise _bad("the cryptogram's 'hpan' is not a valid card number (Luhn check failed)",
                   INVALID_CARD_NUMBER)
    exp = card.exp_date
    if not (len(exp) == 4 and exp.isdigit() and 1 <= int(exp[:2]) <= 12):
        raise _bad(f"the cryptogram's 'expDate' must be MMYY, got {exp[:8]!r}", WRONG_EXPIRY)
    month, year = int(exp[:2]), 2000 + int(exp[2:])
    test_card = sandbox_cards.find(card.hpan)
    published = test_card is not None and sandbox_cards.parse_expiry(test_card.expiry) == (month, year)
    if (year, month) < (now.year, now.month) and not published:
        raise _bad(f"the card expired ({exp[:2]}/{exp[2:]}, today is {now:%m/%y} on the mock's clock)",
                   CARD_EXPIRED)
    lengths = CVC_LENGTHS.get(card_type.upper(), CVC_LENGTHS[""])
    if not (card.cvc.isdigit() and len(card.cvc) in lengths):
        expected = " or ".join(str(n) for n in lengths)
        raise _bad(f"the cryptogram's 'cvc' must be {expected} digits for a {card_type or 'card'}",
                   FORMAT_ERROR)
    if card.terminal_id and token_terminal and card.terminal_id != token_terminal:
        raise _bad(f"the cryptogram's 'terminalId' ({card.terminal_id[:40]}) does not match the payment "
                   f"token's terminal ({token_terminal})")
