"""A sandbox's state as one JSON document: `mock-epay export` and `mock-epay import` (`--store URL`).

`export_state(store)` gathers, oldest first: merchants, tokens, transactions (with their history),
saved cards (deactivated ones too), 3-D Secure holds, callback deliveries (pending and final),
scenario overrides and sequence positions, the clock offset, and the product records (invoice
links, QR bills, e-mail/SMS outbox, subscriptions, transfers) through the contract's own listing
calls. `import_state(store, state)` clears the store and writes the document back through the
contract, so a sandbox moves between backends (memory, SQLite, PostgreSQL) unchanged: invoices
stay paid (duplicates refused), tokens keep their expiry, pending callbacks resume.

Everything is read and written through calls every backend has (`all_tokens` and `all_saved_cards`
list what the other `mock_epay.store.base` calls do not).
Saved cards keep their full sandbox numbers: a card is charged again by its number, and the
document is the sandbox's own state (docs/durable.md). The request journal and secrets (the RSA
key pair) are not exported.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any, TypeVar

import msgspec

from mock_epay.core.clock import ALMATY
from mock_epay.gateway.models import (
    InvoiceLink,
    Merchant,
    OutboxMessage,
    QrBill,
    SavedCard,
    Subscription,
    Token,
    Transaction,
    evolve,
)
from mock_epay.gateway.transfer_records import Transfer
from mock_epay.store.base import (
    DeliveryStore,
    InvoiceReservation,
    ScenarioStateStore,
    Secure3DHold,
    StoredDelivery,
)
from mock_epay.store.shared_state import CLOCK_KEY

FORMAT = "mock-epay-state"
FORMAT_VERSION = 1
T = TypeVar("T")
_FAR_FUTURE = datetime(9999, 1, 1, tzinfo=ALMATY)


class StateFileError(ValueError):
    """A document that is not a mock-epay state export (or of a newer format)."""


def _enc_hook(value: Any) -> Any:
    if isinstance(value, MappingProxyType):
        return dict(value)
    raise NotImplementedError(f"cannot export {type(value).__name__}")


def _plain(records: Any) -> Any:
    return msgspec.to_builtins(records, enc_hook=_enc_hook)


def _typed(kind: type[T], items: Any) -> list[T]:
    return msgspec.json.decode(msgspec.json.encode(items), type=list[kind])  # type: ignore[valid-type]


def _deliveries(store: Any) -> list[dict[str, Any]]:
    if not isinstance(store, DeliveryStore):
        return []
    return [{"id": d.id, "client_id": d.client_id, "invoice_id": d.invoice_id,
             "transaction_id": d.transaction_id, "status": d.status, "due_at": d.due_at,
             "record": json.loads(d.record)} for d in store.deliveries()]


def _scenarios(store: Any) -> dict[str, Any]:
    if not isinstance(store, ScenarioStateStore):
        return {"overrides": [], "steps": []}
    return {"overrides": store.scenario_overrides(), "steps": [list(step) for step in store.scenario_steps()]}


def _clock_offset(store: Any) -> float:
    saved = store.get_value(CLOCK_KEY) if hasattr(store, "get_value") else None
    return float(saved) if saved is not None else float(getattr(getattr(store, "clock", None), "offset", 0.0))


def export_state(store: Any) -> dict[str, Any]:
    """The sandbox's state as plain JSON values (see the module docstring for what is in it)."""
    return {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "clock_offset": _clock_offset(store),
        "merchants": _plain(store.merchants()),
        "tokens": _plain(store.all_tokens()),
        "transactions": _plain(list(reversed(store.transactions()))),
        "cards": _plain(store.all_saved_cards()),
        "holds": _plain(store.expired_secure3d(_FAR_FUTURE)),
        "deliveries": _deliveries(store),
        "scenarios": _scenarios(store),
        "links": _plain(list(reversed(store.links()))),
        "bills": _plain(list(reversed(store.bills()))),
        "messages": _plain(store.messages()),
        "subscriptions": _plain(store.subscriptions()),
        "transfers": _plain(list(reversed(store.transfers()))),
    }


# -- import ---------------------------------------------------------------------------------


@dataclass
class Imported:
    """How many records of each kind were written (and what the backend could not keep)."""

    counts: dict[str, int] = field(default_factory=dict)
    not_kept: list[str] = field(default_factory=list)

    def summary(self) -> str:
        done = ", ".join(f"{count} {kind}" for kind, count in self.counts.items() if count)
        skipped = f"; not kept by this store: {', '.join(self.not_kept)}" if self.not_kept else ""
        return (done or "nothing") + skipped


def _insert_transaction(store: Any, tx: Transaction) -> None:
    """Record `tx` as it was, its invoice marked paid if it ever succeeded (a cancelled AUTH too)."""
    reservation = InvoiceReservation(tx.client_id, tx.invoice_id)
    succeeded = next((entry.status for entry in tx.history if entry.status.is_success), None)
    if tx.status.is_success or succeeded is None:
        store.insert_payment(reservation, tx)
        return
    store.insert_payment(reservation, evolve(tx, status=succeeded))
    store.replace_transaction(tx, 0)


def _check(state: Any) -> dict[str, Any]:
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise StateFileError(f"not a mock-epay state export (expected \"format\": \"{FORMAT}\")")
    version = state.get("version")
    if not isinstance(version, int) or not 1 <= version <= FORMAT_VERSION:
        raise StateFileError(f"state export version {version!r} is not one this mock-epay reads "
                             f"(1 to {FORMAT_VERSION})")
    return state


def _clear(store: Any) -> None:
    clear = getattr(store, "clear", None)
    if clear is not None:
        clear()
    else:
        store.reset()


_RECORDS: tuple[tuple[str, type[Any]], ...] = (
    ("merchants", Merchant), ("tokens", Token), ("transactions", Transaction), ("cards", SavedCard),
    ("holds", Secure3DHold), ("links", InvoiceLink), ("bills", QrBill), ("messages", OutboxMessage),
    ("subscriptions", Subscription), ("transfers", Transfer),
)


def _decoded(state: dict[str, Any]) -> dict[str, list[Any]]:
    """Every record section typed, before anything is written (a bad record refuses the whole file)."""
    try:
        return {kind: _typed(record_type, state.get(kind) or []) for kind, record_type in _RECORDS}
    except msgspec.ValidationError as exc:
        raise StateFileError(f"a record does not fit: {exc}") from None


def import_state(store: Any, state: Any) -> Imported:
    """Replace the store's state by an `export_state` document (StateFileError, nothing written,
    when it is not one)."""
    records = _decoded(_check(state))
    _clear(store)
    done = Imported()
    keep = {merchant.client_id for merchant in records["merchants"]}
    for merchant in store.merchants():
        if merchant.client_id not in keep:
            store.remove_merchant(merchant.client_id)
    for merchant in records["merchants"]:
        store.add_merchant(merchant)
    for token in records["tokens"]:
        store.add_token(token)
    for tx in records["transactions"]:
        _insert_transaction(store, tx)
    for card in records["cards"]:
        store.insert_card(card, replace=True)
    for hold in records["holds"]:
        store.add_secure3d_hold(evolve(hold, context=MappingProxyType(dict(hold.context))))
    done.counts.update({kind: len(records[kind]) for kind, _ in _RECORDS[:5]})
    _import_durable_extras(store, state, done)
    _import_products(store, records, done)
    return done


def _import_durable_extras(store: Any, state: dict[str, Any], done: Imported) -> None:
    deliveries = state.get("deliveries", [])
    scenarios = state.get("scenarios") or {}
    if isinstance(store, DeliveryStore):
        for d in deliveries:
            record = json.dumps(d["record"]).encode()
            store.save_delivery(StoredDelivery(d["id"], d["client_id"], d["invoice_id"], d["transaction_id"],
                                               d["status"], float(d["due_at"]), record))
        done.counts["deliveries"] = len(deliveries)
    elif deliveries:
        done.not_kept.append(f"{len(deliveries)} deliveries (no outbox)")
    if isinstance(store, ScenarioStateStore):
        store.save_scenario_overrides(scenarios.get("overrides", []))
        for rule, client_id, key, step in scenarios.get("steps", []):
            store.save_scenario_step(rule, client_id, key, step)
        done.counts["scenario overrides"] = len(scenarios.get("overrides", []))
    elif scenarios.get("overrides") or scenarios.get("steps"):
        done.not_kept.append("scenario state (kept by the server process)")
    offset = float(state.get("clock_offset", 0.0))
    if hasattr(store, "put_value"):
        store.put_value(CLOCK_KEY, repr(offset) if offset else None)
    elif offset:
        done.not_kept.append("the clock offset (kept by the server process)")


def _import_products(store: Any, records: dict[str, list[Any]], done: Imported) -> None:
    now = _FAR_FUTURE  # only a CHARGED link is live then: links go back as they were, expired or not
    writers: dict[str, Any] = {
        "links": lambda link: store.insert_link(link, now),
        "bills": store.insert_bill,
        "messages": store.add_message,
        "subscriptions": store.put_subscription,
        "transfers": store.insert_transfer,
    }
    for kind, write in writers.items():
        for record in records[kind]:
            write(record)
        done.counts[kind] = len(records[kind])
