"""The bank's published test cards (spec 9.2) plus a few mock-only cards, and what paying with them does.

This is the one place that knows these cards: the payment page lists them in its
"test cards" panel and the scenario engine asks `decide(attempt)` for the outcome of a
payment made with one of them (scenario rules come first). Semantics (spec 9.2 "Mock"):

- a "lock" card declines with 465 (card blocked), whatever expiry and CVC were typed;
- typed on the payment page, an "unlock" card approves with its published expiry and CVC;
  a wrong CVC declines with 462, an expiry in the past with 478 (card expired), any other
  expiry with 457 (wrong expiry). The published expiry always counts as valid, so the
  cards keep working after their printed date;
- mock-only cards (not from the bank) trigger a 3-D Secure step or a specific decline.

Cards paid by saved-card id (`cards/auth`) have no typed expiry/CVC: only "lock" applies.
"""

from __future__ import annotations

from datetime import date

import msgspec

from mock_epay.gateway.codes import (
    CARD_BLOCKED,
    CARD_EXPIRED,
    DECLINED_BY_ISSUER,
    INSUFFICIENT_FUNDS,
    WRONG_CVC,
    WRONG_EXPIRY,
    reason_message,
)
from mock_epay.gateway.models import Outcome, OutcomeKind, PaymentAttempt

SECURE3D_OTP = "123456"


class TestCard(msgspec.Struct, frozen=True):
    pan: str
    brand: str
    expiry: str  # MM/YY as published (newest doc revision)
    cvc: str
    locked: bool = False
    decline_code: int | None = None  # mock-only cards: decline with this code
    secure3d: bool = False  # mock-only card: asks for a one-time code
    source: str = "bank"  # "bank" (spec 9.2) or "mock"
    note: str = ""

    __test__ = False  # not a pytest test class

    @property
    def effect(self) -> str:
        """What paying with it does, for the page's panel and the docs."""
        if self.locked:
            return f"declined: {CARD_BLOCKED} {reason_message(CARD_BLOCKED).lower()}"
        if self.secure3d:
            return f"3-D Secure step, code {SECURE3D_OTP}"
        if self.decline_code is not None:
            return f"declined: {self.decline_code} {reason_message(self.decline_code).lower()}"
        return "approved"


TEST_CARDS: tuple[TestCard, ...] = (
    TestCard("4405639704015096", "VISA", "01/27", "321", note="older pages: 01/25, CVC 815"),
    TestCard("5522042705066736", "MasterCard", "01/27", "775", note="older pages: 01/25, CVC 525"),
    TestCard("377514500004820", "AMEX", "01/28", "0198", note="older pages: 01/25, CVC 4169"),
    TestCard("377514500000794", "AMEX", "09/23", "1687", note="payout page"),
    TestCard("4003032704547597", "VISA", "09/20", "170", locked=True),
    TestCard("5578342710750560", "MasterCard", "09/20", "254", locked=True),
    TestCard("4000000000003220", "VISA", "12/30", "123", secure3d=True, source="mock"),
    TestCard("4000000000009995", "VISA", "12/30", "123", decline_code=INSUFFICIENT_FUNDS, source="mock"),
    TestCard("4000000000000002", "VISA", "12/30", "123", decline_code=DECLINED_BY_ISSUER, source="mock"),
)
_BY_PAN = {card.pan: card for card in TEST_CARDS}


def find(pan: str | None) -> TestCard | None:
    return _BY_PAN.get(pan or "")


def parse_expiry(expiry: str) -> tuple[int, int] | None:
    """(month, full year) of an `MM/YY` expiry, or None when malformed."""
    month_text, _, year_text = expiry.partition("/")
    if not (month_text.isdigit() and year_text.isdigit() and len(year_text) in (2, 4)):
        return None
    month, year = int(month_text), int(year_text)
    if not 1 <= month <= 12:
        return None
    return month, (2000 + year if year < 100 else year)


def expiry_passed(expiry: str, today: date) -> bool:
    """True when the card stopped working: its expiry month is before this month."""
    parsed = parse_expiry(expiry)
    if parsed is None:
        return False
    month, year = parsed
    return (year, month) < (today.year, today.month)


def _decline(code: int, rule: str) -> Outcome:
    return Outcome(
        kind=OutcomeKind.DECLINE,
        reason_code=code,
        message=reason_message(code),
        http_status=400,
        rule=rule,
    )


def decide(attempt: PaymentAttempt, today: date | None = None) -> Outcome | None:
    """The outcome of paying with a test card, or None when the card is not a test card."""
    card = find(attempt.card_pan)
    if card is None:
        return None
    if card.locked:
        return _decline(CARD_BLOCKED, "test card: locked")
    if attempt.card_expiry:
        typed = parse_expiry(attempt.card_expiry)
        if typed != parse_expiry(card.expiry):
            if expiry_passed(attempt.card_expiry, today or date.today()):
                return _decline(CARD_EXPIRED, "test card: expired")
            return _decline(WRONG_EXPIRY, "test card: wrong expiry")
        if attempt.card_cvc and attempt.card_cvc != card.cvc:
            return _decline(WRONG_CVC, "test card: wrong CVC")
    if card.secure3d:
        return Outcome(
            kind=OutcomeKind.SECURE3D,
            message="3-D Secure authentication required",
            otp=SECURE3D_OTP,
            rule="test card: 3-D Secure",
        )
    if card.decline_code is not None:
        return _decline(card.decline_code, f"test card: declines {card.decline_code}")
    return None
