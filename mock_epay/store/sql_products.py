"""What the SQL backends do not keep in their database yet: the newer products' records, in process memory.

Invoice links, QR bills, the outbox, subscriptions, secrets and transfers were added to the store
contract after the SQLite and PostgreSQL schemas; until those schemas hold them, a SQL backend
keeps them in an in-process `MemoryBackend` (`ProcessLocalProducts`). They work on one process
but do not survive a restart and are not shared between processes (docs/durable.md says so).
Statements search the backend's own transactions, so payment statements are durable.
Merchants made at run time (`insert_merchant`, `remove_merchant`) use the backend's own tables.
"""

from __future__ import annotations

from typing import Any

from mock_epay.core.clock import Clock
from mock_epay.gateway.models import Merchant
from mock_epay.store.base import MerchantTaken
from mock_epay.store.memory import MemoryBackend

# Contract calls answered from process memory on a SQL backend (everything else is the backend's own).
PROCESS_LOCAL_CALLS = frozenset({
    "insert_link", "link", "find_link", "links", "replace_link",
    "insert_bill", "bill", "find_bill", "bills", "bill_for_invoice", "replace_bill",
    "add_message", "messages",
    "put_subscription", "subscription", "subscription_for_transaction", "subscriptions",
    "insert_transfer", "transfer", "transfer_for_order", "transfers", "replace_transfer",
    "transfer_succeeded",
})


class ProcessLocalProducts:
    """Mixin for a SQL backend: product records in memory, merchants and statements through the backend."""

    _products: MemoryBackend

    def _init_process_local(self, clock: Clock, max_transactions: int) -> None:
        self._products = MemoryBackend(clock, max_transactions)

    def __getattr__(self, name: str) -> Any:
        if name in PROCESS_LOCAL_CALLS and "_products" in self.__dict__:
            return getattr(self.__dict__["_products"], name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def reset(self, client_id: str | None = None) -> None:
        """The backend's reset, and the product records of one merchant (or everyone's)."""
        super().reset(client_id)  # type: ignore[misc]
        local = self.__dict__.get("_products")
        if local is not None:
            local.reset(client_id)

    # -- secrets (the RSA key): in the backend's key-value table where it has one ----------------

    def get_secret(self, name: str) -> str | None:
        backend: Any = self
        if hasattr(backend, "get_value"):
            value: str | None = backend.get_value(f"secret:{name}")
            return value
        return self._products.get_secret(name)

    def put_secret(self, name: str, value: str) -> str:
        """The first value written wins; the stored one is answered."""
        backend: Any = self
        if hasattr(backend, "get_value"):
            current = backend.get_value(f"secret:{name}")
            if current is None:
                backend.put_value(f"secret:{name}", value)
                return value
            return str(current)
        return self._products.put_secret(name, value)

    # -- merchants made at run time, in the backend's own merchants table -------------------------

    def insert_merchant(self, merchant: Merchant) -> None:
        backend: Any = self
        if backend.merchant(merchant.client_id) is not None:
            raise MerchantTaken(f"client id {merchant.client_id!r} is taken")
        own = {t.id for t in merchant.terminals}
        for other in backend.merchants():
            shared = own & {t.id for t in other.terminals}
            if shared:
                raise MerchantTaken(f"terminal {min(shared)!r} belongs to merchant {other.client_id!r}")
        super().add_merchant(merchant)  # type: ignore[misc]  # the backend's own: cards are seeded by the caller

    def remove_merchant(self, client_id: str) -> Merchant | None:
        backend: Any = self
        merchant = backend.merchant(client_id)
        if merchant is None:
            return None
        super().reset(client_id)  # type: ignore[misc]  # the backend's own: no config cards re-seeded
        products = self.__dict__.get("_products")
        if products is not None:
            products.reset(client_id)
        backend.delete_merchant_row(client_id)
        return merchant

    # -- statements over the backend's transactions ---------------------------------------------

    # The memory backend's search, run over this backend's own transactions (and its transfers).
    search_statement = MemoryBackend.search_statement
