"""The scenario engine: decides the outcome of each payment attempt.

Matching is a pure function: a `PaymentAttempt` in, an `Outcome` out. This core
version knows the test cards of `test_cards.py` (spec 9.2); everything else approves.
"""

from __future__ import annotations

from mock_epay import test_cards
from mock_epay.models import APPROVED, OperationAttempt, Outcome, PaymentAttempt


class ScenarioEngine:
    """Picks the outcome of a payment attempt."""

    def decide(self, attempt: PaymentAttempt) -> Outcome:
        return test_cards.decide(attempt) or APPROVED

    def decide_operation(self, attempt: OperationAttempt) -> Outcome | None:
        """An outcome forced on a charge/cancel/refund, or None to let it proceed normally."""
        return None
