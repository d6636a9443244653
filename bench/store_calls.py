"""Micro-benchmark: microseconds per in-memory store call (reserve, record_payment, read, refund).

Run: python bench/store_calls.py [--count 20000] [--repeat 5]

Each round makes a fresh store with one one-stage terminal and, for `count` fresh invoices,
reserves the invoice, records an approved payment (CHARGE), reads it back and refunds 10 of
it; every phase is timed on its own and the best round is printed. Also printed: the cost of
building one `Transaction` and of one `evolve` (the record copy every operation makes).
Times are CPU time of this process (`time.process_time`), so waiting for a busy CPU does not count.
Written against the store's long-standing calls, so it runs on older commits too.
"""

from __future__ import annotations

import argparse
import sys
import time
import timeit
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mock_epay.core.clock import Clock  # noqa: E402
from mock_epay.core.fakedata import FakeData  # noqa: E402
from mock_epay.gateway.lifecycle import Operation  # noqa: E402
from mock_epay.gateway.models import (  # noqa: E402
    Merchant,
    Outcome,
    PaymentAttempt,
    Status,
    Terminal,
    Transaction,
)
from mock_epay.store.base import InvoiceReservation  # noqa: E402
from mock_epay.store.memory import Store  # noqa: E402

SHOP = Merchant("bench", "secret", "Bench shop", (Terminal("t1", "90000001"),))
APPROVED = Outcome()


def attempt(invoice_id: str) -> PaymentAttempt:
    return PaymentAttempt(client_id="bench", invoice_id=invoice_id, amount=100.0, currency="KZT",
                          terminal_id="t1", description="bench payment", account_id="user1",
                          email="buyer@example.com")


def timed(call: Callable[[int], object], count: int) -> float:
    """Microseconds per call of `call(i)` for i in range(count)."""
    start = time.process_time()
    for i in range(count):
        call(i)
    return (time.process_time() - start) / count * 1e6


def one_round(count: int) -> dict[str, float]:
    store = Store([SHOP], Clock(), FakeData(1), max_transactions=count + 10)
    attempts = [attempt(f"{i:012d}") for i in range(count)]
    reservations: list[InvoiceReservation | None] = [None] * count
    ids: list[str] = [""] * count

    def reserve(i: int) -> None:
        reservations[i] = store.reserve_invoice("bench", attempts[i].invoice_id)

    def record(i: int) -> None:
        reservation = reservations[i]
        assert reservation is not None
        ids[i] = store.record_payment(reservation, attempts[i], APPROVED, None).id

    def read(i: int) -> None:
        store.transaction("bench", ids[i])

    def refund(i: int) -> None:
        store.apply_operation("bench", ids[i], Operation.REFUND, 10.0)

    return {
        "reserve_invoice": timed(reserve, count),
        "record_payment": timed(record, count),
        "transaction (read)": timed(read, count),
        "apply_operation (refund)": timed(refund, count),
    }


def record_costs(number: int) -> dict[str, float]:
    store = Store([SHOP], Clock(), FakeData(1))
    tx = store.record_payment(store.reserve_invoice("bench", "000000000001"), attempt("000000000001"),
                              APPROVED, None)
    now = tx.created_at

    def build() -> Transaction:
        return Transaction(id="x", client_id="bench", invoice_id="1", amount=100.0, org_amount=100.0,
                           currency="KZT", terminal_id="t1", terminal_number="90000001",
                           status=Status.CHARGE, created_at=now, description="d", reference="r",
                           int_reference="i", approval_code="a", charged_amount=100.0)

    best = min(timeit.repeat(build, number=number, repeat=5, timer=time.process_time))
    costs = {"Transaction(...)": best / number * 1e6}
    try:
        from mock_epay.gateway.models import evolve
    except ImportError:  # before the store contract: records were changed in place
        return costs
    costs["evolve(tx, 3 fields)"] = min(timeit.repeat(
        lambda: evolve(tx, status=Status.REFUND, amount=90.0, version=1), number=number, repeat=5,
        timer=time.process_time,
    )) / number * 1e6
    return costs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20_000, help="invoices per round")
    parser.add_argument("--repeat", type=int, default=5, help="rounds; the best is printed")
    args = parser.parse_args()
    rounds = [one_round(args.count) for _ in range(args.repeat)]
    best = {name: min(r[name] for r in rounds) for name in rounds[0]}
    best.update(record_costs(20_000))
    for name, micros in best.items():
        print(f"{name:28s} {micros:7.2f} µs")


if __name__ == "__main__":
    main()
