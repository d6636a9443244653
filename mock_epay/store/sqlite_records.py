"""How the SQLite store keeps its records: msgspec JSON, one encoder and one decoder per record type."""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

import msgspec

from mock_epay.gateway.models import Merchant, SavedCard, Token, Transaction, evolve
from mock_epay.store.base import Secure3DHold


def _enc_hook(value: Any) -> Any:
    if isinstance(value, MappingProxyType):
        return dict(value)
    raise NotImplementedError(f"cannot store {type(value).__name__}")


encode = msgspec.json.Encoder(enc_hook=_enc_hook).encode
decode_tx = msgspec.json.Decoder(Transaction).decode
decode_token = msgspec.json.Decoder(Token).decode
decode_card = msgspec.json.Decoder(SavedCard).decode
_decode_hold_record = msgspec.json.Decoder(Secure3DHold).decode
decode_merchant = msgspec.json.Decoder(Merchant).decode


def decode_hold(record: bytes) -> Secure3DHold:
    hold = _decode_hold_record(record)
    return evolve(hold, context=MappingProxyType(dict(hold.context)))
