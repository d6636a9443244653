"""The scenario engine: decides the outcome of each payment attempt.

Matching is a pure function: a `PaymentAttempt` in, an `Outcome` out. This core
version knows the bank's published test cards (spec 9.2); everything else approves.
"""

from __future__ import annotations

from mock_epay.codes import reason_message
from mock_epay.models import APPROVED, OperationAttempt, Outcome, OutcomeKind, PaymentAttempt

LOCKED_TEST_CARDS = frozenset({"4003032704547597", "5578342710750560"})


class ScenarioEngine:
    """Picks the outcome of a payment attempt."""

    def decide(self, attempt: PaymentAttempt) -> Outcome:
        if attempt.card_pan in LOCKED_TEST_CARDS:
            return Outcome(
                kind=OutcomeKind.DECLINE,
                reason_code=465,
                message=reason_message(465),
                http_status=400,
                rule="locked test card",
            )
        return APPROVED

    def decide_operation(self, attempt: OperationAttempt) -> Outcome | None:
        """An outcome forced on a charge/cancel/refund, or None to let it proceed normally."""
        return None
