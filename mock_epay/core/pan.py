"""Finding card numbers in free text (paths, queries, bodies, log lines) and masking them.

A card number is 13-19 digits starting with 2-6 (the card networks' ranges) that pass
the Luhn check, written in one piece or in groups separated by a space, `+`, `-` or
their percent-encodings (`%20`, `%2B`, `%2D`); digits may be percent-encoded too
(`%34` is `4`). It is masked as the first six and last four digits: `440563...5096`.
Other digit runs stay as they are: a 12-digit RRN, a UUID (its 8- and 12-digit groups
are not card groups), invoice ids, amounts, phone numbers, dates. `mask_card_numbers` also hides
what travels with a card or stands for one: a CVC next to its name, a cryptogram's value, and the
merchant's `client_secret` (a credential the journal has no reason to show).
"""

from __future__ import annotations

import re

_DIGIT = r"(?:\d|%3\d)"
_SEPARATOR = r"(?:[ +\-]|%20|%2[bBdD])"
_RUN_RE = re.compile(rf"(?<!\d)(?<!%3\d){_DIGIT}(?:{_SEPARATOR}?{_DIGIT}){{12,}}(?!\d)")
_SEPARATOR_RE = re.compile(_SEPARATOR)
_PERCENT_DIGIT_RE = re.compile(r"%3(\d)")
_MIN_DIGITS, _MAX_DIGITS = 13, 19
_MAX_GROUP = 6  # inside a longer run, only groups this short are read as a card's groups


def luhn_valid(digits: str) -> bool:
    """True when the digit string passes the Luhn (mod 10) check."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if position % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def is_card_number(digits: str) -> bool:
    """A plain digit string that is shaped like a card number (length, network, Luhn)."""
    return (_MIN_DIGITS <= len(digits) <= _MAX_DIGITS and digits[0] in "23456"
            and luhn_valid(digits))


def mask_pan(pan: str) -> str:
    """First 6 and last 4 digits, as the bank shows them: 440563...5096 (the one mask format)."""
    return f"{pan[:6]}...{pan[-4:]}"


def _card_in_groups(groups: list[str]) -> tuple[int, int] | None:
    """(first, end) group indexes of a card number written as consecutive short groups."""
    for first in range(len(groups)):
        digits = ""
        for end in range(first, len(groups)):
            if len(groups[end]) > _MAX_GROUP:
                break
            digits += groups[end]
            if len(digits) > _MAX_DIGITS:
                break
            if is_card_number(digits):
                return first, end + 1
    return None


def _mask_run(match: re.Match[str]) -> str:
    text = match.group(0)
    groups = [_PERCENT_DIGIT_RE.sub(r"\1", g) for g in _SEPARATOR_RE.split(text)]
    whole = "".join(groups)
    if is_card_number(whole):
        return mask_pan(whole)
    if len(groups) < 3 or len(whole) <= _MAX_DIGITS:
        return text
    found = _card_in_groups(groups)
    if found is None:
        return text
    first, end = found
    parts = _SEPARATOR_RE.split(text)
    separators = _SEPARATOR_RE.findall(text)
    card = mask_pan("".join(groups[first:end]))
    before = "".join(p + s for p, s in zip(parts[:first], separators[:first], strict=True))
    after = "".join(s + p for s, p in zip(separators[end - 1:], parts[end:], strict=True))
    return before + card + after


# A card's security code next to its name: JSON (`"cvc": "321"`), JSON inside a JSON string
# (`\\"cvc\\": \\"321\\"`, a plain-JSON cryptogram), forms and queries (`cvc=321`).
_CVC_RE = re.compile(
    r"""(?P<name>\\?["']?(?:cvc2?|cvv2?|card_?cvc)\\?["']?\s*(?::|=|%3[aAdD])\s*\\?["']?)(?P<code>\d{3,4})(?!\d)""",
    re.IGNORECASE,
)
# The value of a cryptogram field (Latin `cryptogram` or the SDK's Cyrillic `сryptogram`): card data,
# readable when it is base64 or plain JSON, so it never appears in a journal or log.
_CRYPTOGRAM_RE = re.compile(r'(?P<name>"[cс]ryptogram"\s*:\s*")(?P<value>(?:[^"\\]|\\.)*)"', re.IGNORECASE)


# The merchant's `client_secret` (a token request's form or JSON body, or a query): a credential
# the journal has no reason to show, in JSON, a form or query (to the next `&`) or a multipart part.
_SECRET_RE = re.compile(
    r'(?P<json>"client_secret"\s*:\s*")(?:[^"\\]|\\.)*"'
    r'|(?P<form>(?<![\w%])client_secret=)[^&\s"]*'
    r'|(?P<part>name="?client_secret"?[^\r\n]*\r\n(?:[^\r\n]+\r\n)*\r\n)[^\r\n]*',  # a multipart part
    re.IGNORECASE,
)


def _masked_secret(match: re.Match[str]) -> str:
    if match.group("json"):
        return f'{match.group("json")}***"'
    return f'{match.group("form") or match.group("part")}***'


def _masked_cryptogram(match: re.Match[str]) -> str:
    return f'{match.group("name")}***({len(match.group("value"))} chars)"'


def mask_card_numbers(text: str) -> str:
    """`text` with every card number replaced by its `123456...1234` mask, every CVC by `***` and
    every cryptogram's value by `***(N chars)`; a `client_secret`'s value is `***` too."""
    if "ecret" in text or "ECRET" in text:
        text = _SECRET_RE.sub(_masked_secret, text)
    if "ryptogram" in text:
        text = _CRYPTOGRAM_RE.sub(_masked_cryptogram, text)
    if "cv" in text or "CV" in text or "Cv" in text:
        text = _CVC_RE.sub(lambda m: m.group("name") + "***", text)
    return _RUN_RE.sub(_mask_run, text)
