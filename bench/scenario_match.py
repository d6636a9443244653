"""Micro-benchmark: microseconds per `ScenarioEngine.decide` with 1 rule, 50 rules, and 50 + the library.

Run: python bench/scenario_match.py
The attempt is the throughput benchmark's normal payment (amount 100, the test VISA,
accountId testuser1), which no rule matches, so every candidate rule is checked.
"""

from __future__ import annotations

import sys
import timeit
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mock_epay.gateway.models import PaymentAttempt  # noqa: E402
from mock_epay.scenarios.engine import ScenarioEngine  # noqa: E402

FIFTY = Path(__file__).resolve().parent / "fifty_rules.yaml"
ONE_RULE = [{"name": "one", "description": "one rule", "match": {"amount": 4840},
             "outcome": {"preset": "insufficient_funds"}}]


def attempt(amount: float = 100.0) -> PaymentAttempt:
    return PaymentAttempt(
        client_id="test", invoice_id="000123456", amount=amount, currency="KZT",
        terminal_id="67e34d63-102f-4bd1-898e-370781d0074d", description="bench payment",
        account_id="testuser1", email="buyer@example.com", phone="77472261170",
        card_pan="4405639704015096", card_id="e7e2587f-de26-4f41-ae1f-80c1fea31728",
    )


def per_call_us(engine: ScenarioEngine, payment: PaymentAttempt, number: int = 200_000) -> float:
    best = min(timeit.repeat(lambda: engine.decide(payment), number=number, repeat=5))
    return best / number * 1e6


def main() -> None:
    payment = attempt()
    engines = {
        "1 rule": ScenarioEngine.from_rules(ONE_RULE),
        "50 rules (bench/fifty_rules.yaml)": ScenarioEngine([FIFTY], include_defaults=False),
        "50 rules + shipped library (as served)": ScenarioEngine([FIFTY]),
        "shipped library only (default serve)": ScenarioEngine(),
    }
    for label, engine in engines.items():
        assert engine.decide(payment).rule == "", f"{label}: a rule matched the bench payment"
        print(f"{label:42s} {len(engine.rules):3d} rules  {per_call_us(engine, payment):6.2f} µs/decide")
    hit = ScenarioEngine([FIFTY])
    print(f"{'50 rules + library, amount 4840 (a hit)':42s} {len(hit.rules):3d} rules  "
          f"{per_call_us(hit, attempt(4840.0)):6.2f} µs/decide")


if __name__ == "__main__":
    main()
