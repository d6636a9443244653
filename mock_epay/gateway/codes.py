"""Every code and message the mock answers with: error-body codes, decline / reason codes (spec 9.1),
the operations' codes, the scenario presets, and the fixed messages that go with them.

A leaf: nothing from the mock is imported here. Anything that needs a bank code takes it from this module.
"""

from __future__ import annotations

# Codes in error bodies `{"code": ..., "message": ...}` (see the README's table).
GENERIC = -1  # the bank's generic / duplicate-transaction code
OPERATION_ERROR = 100  # the bank's placeholder for operation failures
NOT_FOUND = 102  # transaction or invoice not found (also the status answer's resultCode)
NO_SAVED_CARDS = 1373  # the customer has no saved cards

DUPLICATE_MESSAGE = "dublicate transaction"  # spelled as the bank spells it
SECURE3D_FAILED = 473  # a failed or abandoned 3-D Secure step

# Codes only charge / cancel / refund answer with (spec 2.1 and 7).
OPERATION_CODES: dict[int, str] = {OPERATION_ERROR: "operation failed", NOT_FOUND: "transaction not found"}

# Scenario `preset:` names and the decline code each stands for.
PRESETS: dict[str, int] = {
    "insufficient_funds": 484,
    "expired_card": 478,
    "blocked_card": 465,
    "secure3d_failure": 473,
    "declined_by_issuer": 466,
    "call_your_bank": 462,
    "invalid_card_number": 472,
    "lost_card": 481,
    "stolen_card": 483,
    "restricted_card": 479,
    "wrong_expiry": 457,
    "not_permitted_to_cardholder": 486,
    "amount_limit_exceeded": 488,
    "frequency_limit_exceeded": 491,
    "issuer_timeout": 493,
    "issuer_unavailable": 494,
    "too_many_attempts": 505,
}

# Sandbox-card declines (gateway/sandbox_cards.py).
CARD_BLOCKED = 465
CARD_EXPIRED = 478
WRONG_EXPIRY = 457
WRONG_CVC = 462
INSUFFICIENT_FUNDS = 484
DECLINED_BY_ISSUER = 466

REASON_MESSAGES: dict[int, str] = {
    454: "Operation failed, please check whether the amount is blocked on the card and retry later",
    455: "3-D Secure/SecureCode check is unavailable or the card number was entered wrong",
    456: "Cannot pay with this card",
    457: "Wrong card expiry date",
    458: "Server is not responding",
    459: "Server is not responding",
    460: "Error, the amount may be blocked on the card, please contact support",
    461: "System error, please retry later",
    462: "Declined by the issuer, please call your bank",
    463: "Declined by the issuer, please call your bank",
    464: "Invalid merchant",
    465: "Card is blocked",
    466: "Declined by the issuer",
    467: "Card is blocked",
    468: "Additional identification required",
    469: "Invalid transaction",
    470: "Invalid amount",
    471: "No such card",
    472: "Invalid card number",
    473: "3-D Secure authentication failed",
    475: "Transaction unsuccessful, please retry",
    476: "No action taken, retry after 30 minutes",
    477: "Format error, please use another card",
    478: "Card expired",
    479: "Restricted card",
    480: "Refer to the card issuer",
    481: "Lost card",
    482: "Card is invalid",
    483: "Stolen card",
    484: "Insufficient funds",
    485: "Card expired",
    486: "Transaction not permitted to cardholder",
    487: "Transaction not permitted to merchant",
    488: "Exceeds amount limit",
    489: "Restricted card",
    490: "Payments with this card are prohibited",
    491: "Exceeds frequency limit",
    492: "Card blocked after wrong PIN tries",
    493: "Issuer time-out",
    494: "Issuer unavailable",
    495: "Transaction prohibited, please use another card",
    496: "3-D Secure/SecureCode is absent",
    497: "Server is not responding",
    498: "Payment with bonuses is unavailable",
    499: "3-D Secure code is wrong or was not entered",
    500: "Server is not responding",
    501: "Card service error",
    502: "Server is not responding",
    503: "Server is not responding",
    504: "Transaction timeout",
    505: "More than 3 attempts for this order",
    521: "Declined by the issuer",
    522: "Record not found, please check the card",
    523: "Declined by the issuer",
    524: "Card is invalid, please contact your bank",
    525: "Card is invalid, please contact your bank",
    526: "System error",
    527: "Declined by the issuer",
    528: "Recipient card's daily incoming transfer limit exceeded",
    529: "Terminal daily limit reached",
    703: "Error",
    1612: "Merchant's allowed/blocked country check failed",
    1636: "Could not identify the cardholder",
    1654: "OTP code verification failed",
    1759: "Transaction could not be processed",
    2092: "Cannot pay with this card",
    GENERIC: DUPLICATE_MESSAGE,
}

THREE_D_SECURE_CODES = frozenset({455, SECURE3D_FAILED, 496, 499})

# The dashboard's decline buttons, most used first.
COMMON_DECLINES = (465, 484, 478, 466, 462, 472, 473, 481, 483, 491, 493, 494, 505)


def reason_message(code: int) -> str:
    """The bank's message for a decline code ("Declined" for a code it has none for)."""
    return REASON_MESSAGES.get(code, "Declined")


def default_decline_message(code: int) -> str:
    """The message a scenario decline carries when its rule gives none."""
    if code in OPERATION_CODES and code not in REASON_MESSAGES:
        return OPERATION_CODES[code]
    return reason_message(code)
