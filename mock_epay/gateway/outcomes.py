"""The outcome table: for each `OutcomeKind`, where it is allowed, whether it records a transaction,
how it answers on the API and on the payment page, its defaults and its one-line documentation.

Every place that used to branch on a kind reads its entry instead: the payment service
(`records`), the cards/auth and operation answers (`api`, `operation_api`), the payment page
(`page`), the scenario compiler (`default_message`, `default_status`, `default_code`) and the
scenario schema (`payments`, `operations`).

Adding an outcome kind, the checklist (two modules):
1. a member in `OutcomeKind` (gateway/models.py);
2. its entry in `OUTCOMES` below, using one of the existing `ApiShape`s and `PageShape`s.
`tests/test_outcome_table.py` fails while a kind has no complete entry. A new *shape* (a
way of answering no kind uses yet) is the only thing that also needs the web layer.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from enum import StrEnum

import msgspec

from mock_epay.gateway.codes import DUPLICATE_MESSAGE, GENERIC
from mock_epay.gateway.models import Outcome, OutcomeKind

HANG_MESSAGE = "the gateway did not answer in time (scenario hang)"
HANG_STATUS = 504
DROPPED_STATUS = 444  # journal-only status of a dropped connection (nothing is sent)


class ApiShape(StrEnum):
    """How an answer on the server-to-server API is built (the web layer has one renderer per shape)."""

    PAYMENT = "payment"  # 200 with the cards/auth body built from the recorded transaction
    SECURE3D = "secure3d"  # 200 with the cards/auth body plus its `secure3D` block
    ERROR = "error"  # the bank's error body {"code", "message"}, or the scenario's raw body
    DROPPED = "dropped"  # the connection is closed; nothing is written


class PageShape(StrEnum):
    """What the hosted payment page shows after the attempt."""

    RESULT = "result"  # success or "Payment declined: <message>", then backLink / failureBackLink
    SECURE3D = "secure3d"  # the one-time-code step
    UNAVAILABLE = "unavailable"  # the gateway's error page with the answer's HTTP status
    DROPPED = "dropped"  # the connection is closed (the error page is never seen)


class ApiAnswer(msgspec.Struct, frozen=True):
    """One API answer: its shape and, for errors, HTTP status, code, message and raw body."""

    shape: ApiShape
    status: int = 200
    code: int = GENERIC
    message: str = ""
    raw_body: str | None = None  # a server error's literal body; None: the bank's error JSON


def _payment_answer(outcome: Outcome) -> ApiAnswer:
    return ApiAnswer(ApiShape.PAYMENT)


def _secure3d_answer(outcome: Outcome) -> ApiAnswer:
    return ApiAnswer(ApiShape.SECURE3D)


def _decline_answer(outcome: Outcome) -> ApiAnswer:
    return ApiAnswer(ApiShape.ERROR, outcome.http_status or 400, outcome.reason_code, outcome.message)


def _duplicate_answer(outcome: Outcome) -> ApiAnswer:
    return ApiAnswer(ApiShape.ERROR, outcome.http_status or 400, GENERIC, outcome.message)


def _server_error_answer(outcome: Outcome) -> ApiAnswer:
    return ApiAnswer(ApiShape.ERROR, outcome.http_status, GENERIC, outcome.message, outcome.body)


def _hang_answer(outcome: Outcome) -> ApiAnswer:
    # Reached only when the client is gone (nothing is written) or the hang limit passed.
    return ApiAnswer(ApiShape.ERROR, HANG_STATUS, GENERIC, HANG_MESSAGE)


def _dropped_answer(outcome: Outcome) -> ApiAnswer:
    return ApiAnswer(ApiShape.DROPPED, DROPPED_STATUS)


def _proceed(outcome: Outcome) -> ApiAnswer | None:
    """An operation goes ahead normally (after the outcome's delay)."""
    return None


def _operation_decline(outcome: Outcome) -> ApiAnswer | None:
    status = outcome.http_status if outcome.http_status >= 400 else 400
    return ApiAnswer(ApiShape.ERROR, status, outcome.reason_code, outcome.message)


def _operation_server_error(outcome: Outcome) -> ApiAnswer | None:
    return _server_error_answer(outcome)


def _status_of(outcome: Outcome) -> int:
    return outcome.http_status


def _gateway_timeout(outcome: Outcome) -> int:
    return HANG_STATUS


class OutcomeEntry(msgspec.Struct, frozen=True):
    """Everything the mock does differently for one outcome kind."""

    kind: OutcomeKind
    doc: str  # one line, for docs and the admin API
    payments: bool  # allowed in payment rules (cards/auth and the payment page)
    operations: bool  # allowed in charge / cancel / refund rules
    page: bool  # can be shown on the hosted payment page
    records: bool  # records a transaction (and queues its callback)
    api: Callable[[Outcome], ApiAnswer]  # the cards/auth answer
    operation_api: Callable[[Outcome], ApiAnswer | None] | None  # None: not for operations
    page_shape: PageShape
    page_status: Callable[[Outcome], int] | None = None  # UNAVAILABLE / DROPPED: the page's status
    default_message: str = "success"
    default_status: int = 200
    default_code: int = 0


OUTCOMES: Mapping[OutcomeKind, OutcomeEntry] = {
    entry.kind: entry
    for entry in (
        OutcomeEntry(
            OutcomeKind.APPROVE, "the payment is approved (an operation proceeds normally)",
            payments=True, operations=True, page=True, records=True,
            api=_payment_answer, operation_api=_proceed, page_shape=PageShape.RESULT,
        ),
        OutcomeEntry(
            OutcomeKind.DECLINE, "declined with a reason code and the bank's message for it",
            payments=True, operations=True, page=True, records=True,
            api=_decline_answer, operation_api=_operation_decline, page_shape=PageShape.RESULT,
            default_status=400,
        ),
        OutcomeEntry(
            OutcomeKind.DUPLICATE, "refused as a duplicate transaction (code -1), as for a paid invoice",
            payments=True, operations=False, page=True, records=True,
            api=_duplicate_answer, operation_api=None, page_shape=PageShape.RESULT,
            default_message=DUPLICATE_MESSAGE, default_status=400, default_code=GENERIC,
        ),
        OutcomeEntry(
            OutcomeKind.SECURE3D, "a 3-D Secure step first; the one-time code decides",
            payments=True, operations=False, page=True, records=True,
            api=_secure3d_answer, operation_api=None, page_shape=PageShape.SECURE3D,
            default_message="3-D Secure required",
        ),
        OutcomeEntry(
            OutcomeKind.SERVER_ERROR, "the gateway answers an HTTP error (its JSON or a raw body)",
            payments=True, operations=True, page=True, records=False,
            api=_server_error_answer, operation_api=_operation_server_error,
            page_shape=PageShape.UNAVAILABLE, page_status=_status_of,
            default_message="internal server error", default_status=500, default_code=GENERIC,
        ),
        OutcomeEntry(
            OutcomeKind.HANG, "no answer until the client gives up (or the hang limit, then 504)",
            payments=True, operations=False, page=True, records=False,
            api=_hang_answer, operation_api=None,
            page_shape=PageShape.UNAVAILABLE, page_status=_gateway_timeout,
        ),
        OutcomeEntry(
            OutcomeKind.DROP, "the connection is closed without an answer",
            payments=True, operations=False, page=True, records=False,
            api=_dropped_answer, operation_api=None,
            page_shape=PageShape.DROPPED, page_status=_gateway_timeout,
        ),
    )
}


def entry_for(kind: OutcomeKind) -> OutcomeEntry:
    """The table's entry for `kind`."""
    return OUTCOMES[kind]


def payment_kinds() -> tuple[str, ...]:
    """The `result:` values a payment rule may give, in table order."""
    return tuple(entry.kind.value for entry in OUTCOMES.values() if entry.payments)


def operation_kinds() -> tuple[str, ...]:
    """The `result:` values a charge / cancel / refund rule may give."""
    return tuple(entry.kind.value for entry in OUTCOMES.values() if entry.operations)


def unrecorded_kinds() -> tuple[str, ...]:
    """Kinds that record nothing themselves (a rule may still say `record: approve`)."""
    return tuple(entry.kind.value for entry in OUTCOMES.values() if entry.payments and not entry.records)
