"""What the SQLite and PostgreSQL backends share for product records and run-time merchants.

`SqlShared` is mixed into both SQL backends before their own class: it adds merchants made at
run time (`insert_merchant`, and `remove_merchant`, which drops the merchant with all it owns,
its journal entries and product records included, in one transaction), and the statement search
(`mock_epay.store.sql_statements`: the statement's plan run as one SQL query). The record
codec (`dump`, `load`) turns the product records into JSON for their `record` columns.

The product records themselves (invoice links, QR bills, the outbox, subscriptions, transfers,
secrets) live in each backend's tables: `mock_epay.store.sqlite_products`,
`mock_epay.store.postgres_products`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

import msgspec

from mock_epay.gateway.models import Merchant
from mock_epay.store.base import MerchantTaken
from mock_epay.store.sql_statements import SqlStatements

R = TypeVar("R")


def _enc_hook(value: Any) -> Any:
    if isinstance(value, Mapping):
        return dict(value)
    raise NotImplementedError(f"cannot store {type(value).__name__}")


_encoder = msgspec.json.Encoder(enc_hook=_enc_hook)
_decoders: dict[type, msgspec.json.Decoder[Any]] = {}


def dump(record: Any) -> str:
    """A record (frozen dataclass) as JSON text."""
    return _encoder.encode(record).decode()


def load(kind: type[R], data: str | bytes) -> R:
    """The record of type `kind` that `dump` wrote."""
    decoder = _decoders.get(kind)
    if decoder is None:
        decoder = _decoders[kind] = msgspec.json.Decoder(kind)
    return decoder.decode(data)  # type: ignore[no-any-return]


class SqlShared(SqlStatements):
    """Run-time merchants and statements over a SQL backend's own tables."""

    # provided by the backend this is mixed into
    merchant: Any
    merchants: Any
    _forget_merchant: Any  # the merchant row and all it owns, journal entries too, in one transaction

    def insert_merchant(self, merchant: Merchant) -> None:
        if self.merchant(merchant.client_id) is not None:
            raise MerchantTaken(f"client id {merchant.client_id!r} is taken")
        own = {t.id for t in merchant.terminals}
        for other in self.merchants():
            shared = own & {t.id for t in other.terminals}
            if shared:
                raise MerchantTaken(f"terminal {min(shared)!r} belongs to merchant {other.client_id!r}")
        super().add_merchant(merchant)  # type: ignore[misc]  # the backend's own: cards are seeded by the caller

    def remove_merchant(self, client_id: str) -> Merchant | None:
        merchant = self.merchant(client_id)
        if merchant is None:
            return None
        self._forget_merchant(client_id)
        found: Merchant = merchant
        return found
