"""Merchants in the config file: their schema, the checks that keep them apart, and making `Merchant`s.

A merchant with the test merchant's `client_id` extends the built-in one (its terminals and
saved cards are merged by id); any other is declared from scratch.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mock_epay.gateway.models import Merchant, SeedCard, Terminal, evolve
from mock_epay.settings.fields import ConfigError
from mock_epay.settings.sandbox import DEFAULT_MERCHANT, TEST_CLIENT_ID

TERMINAL_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["id"],
    "properties": {
        "id": {"type": "string", "minLength": 1},
        "number": {"type": "string", "pattern": "^[0-9]{8}$"},
        "two_stage": {"type": "boolean"},
        "auto_cancel_seconds": {"type": "number", "exclusiveMinimum": 0},
    },
}
CARD_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["account_id", "card_number"],
    "properties": {
        "account_id": {"type": "string", "minLength": 1},
        "card_number": {"type": ["string", "integer"], "pattern": "^[0-9]{12,19}$"},
        "id": {"type": "string", "minLength": 1},
        "payer_name": {"type": "string"},
        "expiry": {"type": "string", "pattern": "^[0-9]{2}/[0-9]{2}$"},
    },
}
MERCHANT_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    # The built-in test merchant is extended, not re-declared: it needs only its client_id.
    "if": {"properties": {"client_id": {"const": TEST_CLIENT_ID}}},
    "then": {"required": ["client_id"]},
    "else": {"required": ["client_id", "client_secret", "terminals"]},
    "properties": {
        "client_id": {"type": "string", "minLength": 1},
        "client_secret": {"type": "string", "minLength": 1},
        "name": {"type": "string"},
        "callback_format": {"enum": ["current", "legacy"]},
        "callbacks_after_operations": {"type": "boolean"},
        "terminals": {"type": "array", "minItems": 1, "items": TERMINAL_SCHEMA},
        "saved_cards": {"type": "array", "items": CARD_SCHEMA},
        "shop_id": {"type": "string", "minLength": 1, "maxLength": 64},
        "cabinet_login": {"type": "string", "minLength": 1, "maxLength": 128},
        "cabinet_password": {"type": "string", "minLength": 1, "maxLength": 128},
    },
}

def check_merchants(path: Path, merchants: list[dict[str, Any]], include_test: bool) -> None:
    """Refuse what would silently mix merchants up: a client_id twice, a terminal or saved-card
    id owned by two merchants (the built-in test merchant's included)."""
    terminal_owner: dict[str, str] = {}
    card_owner: dict[str, str] = {}
    if include_test:
        terminal_owner = {t.id: TEST_CLIENT_ID for t in DEFAULT_MERCHANT.terminals}
        card_owner = {c.id: TEST_CLIENT_ID for c in DEFAULT_MERCHANT.saved_cards if c.id}
    seen_clients: set[str] = set()
    seen_terminals: set[str] = set()
    seen_cards: set[str] = set()
    for index, merchant in enumerate(merchants):
        client_id = merchant["client_id"]
        key = f"{path}: key 'merchants[{index}]"
        if client_id in seen_clients:
            raise ConfigError(f"{key}.client_id': {client_id!r} is defined twice")
        seen_clients.add(client_id)
        if client_id == TEST_CLIENT_ID and not include_test and not (
            "client_secret" in merchant and "terminals" in merchant
        ):
            raise ConfigError(f"{key}': with include_test_merchant: false, merchant {client_id!r} "
                              "is declared from scratch and needs client_secret and terminals")
        for t_index, terminal in enumerate(merchant.get("terminals", [])):
            terminal_key = f"{key}.terminals[{t_index}].id'"
            owner = terminal_owner.setdefault(terminal["id"], client_id)
            if owner != client_id:
                raise ConfigError(f"{terminal_key}: terminal {terminal['id']!r} belongs to two "
                                  f"merchants, {owner!r} and {client_id!r}")
            if terminal["id"] in seen_terminals:
                raise ConfigError(f"{terminal_key}: terminal {terminal['id']!r} is declared twice "
                                  f"for merchant {client_id!r}")
            seen_terminals.add(terminal["id"])
        for c_index, card in enumerate(merchant.get("saved_cards", [])):
            card_id = card.get("id")
            if card_id is None:
                continue
            card_key = f"{key}.saved_cards[{c_index}].id'"
            owner = card_owner.setdefault(card_id, client_id)
            if owner != client_id:
                raise ConfigError(f"{card_key}: saved card {card_id!r} belongs to two merchants, "
                                  f"{owner!r} and {client_id!r}")
            if card_id in seen_cards:
                raise ConfigError(f"{card_key}: saved card {card_id!r} is declared twice "
                                  f"for merchant {client_id!r}")
            seen_cards.add(card_id)


def _terminal_from_config(raw: Mapping[str, Any], number: str) -> Terminal:
    return Terminal(
        id=raw["id"],
        number=raw.get("number") or number,
        two_stage=raw.get("two_stage", False),
        auto_cancel_seconds=raw.get("auto_cancel_seconds"),
    )


def _card_from_config(raw: Mapping[str, Any]) -> SeedCard:
    return SeedCard(
        account_id=raw["account_id"],
        card_number=str(raw["card_number"]),
        id=raw.get("id"),
        payer_name=raw.get("payer_name", ""),
        expiry=raw.get("expiry", "01/27"),
    )


def _merchant_from_config(raw: Mapping[str, Any], index: int) -> Merchant:
    terminals = tuple(
        _terminal_from_config(t, f"{98120002 + index * 10 + t_index:08d}")
        for t_index, t in enumerate(raw["terminals"])
    )
    return Merchant(
        client_id=raw["client_id"],
        client_secret=raw["client_secret"],
        name=raw.get("name", raw["client_id"]),
        terminals=terminals,
        callback_format=raw.get("callback_format", "current"),
        callbacks_after_operations=raw.get("callbacks_after_operations", False),
        saved_cards=tuple(_card_from_config(c) for c in raw.get("saved_cards", [])),
        shop_id=raw.get("shop_id", ""),
        cabinet_login=raw.get("cabinet_login", ""),
        cabinet_password=raw.get("cabinet_password", ""),
    )


def _merge_by_id(base: tuple[Any, ...], added: list[Any]) -> tuple[Any, ...]:
    """`base` with items of the same `id` replaced by `added` ones, the other `added` ones after."""
    by_id = {item.id: item for item in added if item.id}
    merged = [by_id.pop(item.id, item) for item in base]
    return tuple(merged + [item for item in added if not item.id or item.id in by_id])


def _extend_test_merchant(raw: Mapping[str, Any], index: int) -> Merchant:
    """The built-in test merchant plus what the config adds: terminals and saved cards (a
    terminal or card with an id it already has replaces that one); other keys override."""
    base = DEFAULT_MERCHANT
    base_numbers = {t.id: t.number for t in base.terminals}
    terminals = [
        _terminal_from_config(t, base_numbers.get(t["id"]) or f"{98120002 + index * 10 + t_index:08d}")
        for t_index, t in enumerate(raw.get("terminals", []))
    ]
    cards = [_card_from_config(c) for c in raw.get("saved_cards", [])]
    return evolve(
        base,
        client_secret=raw.get("client_secret", base.client_secret),
        name=raw.get("name", base.name),
        callback_format=raw.get("callback_format", base.callback_format),
        callbacks_after_operations=raw.get("callbacks_after_operations", base.callbacks_after_operations),
        terminals=_merge_by_id(base.terminals, terminals),
        saved_cards=_merge_by_id(base.saved_cards, cards),
        shop_id=raw.get("shop_id", base.shop_id),
        cabinet_login=raw.get("cabinet_login", base.cabinet_login),
        cabinet_password=raw.get("cabinet_password", base.cabinet_password),
    )




def merchants_from_config(data: Mapping[str, Any]) -> tuple[Merchant, ...]:
    """The config's `merchants`: the built-in test merchant first (extended by an entry with its
    client_id) unless `include_test_merchant: false`, then the others in the file's order."""
    include_test = data.get("include_test_merchant", True)
    merchants = [
        _extend_test_merchant(m, i) if include_test and m["client_id"] == TEST_CLIENT_ID
        else _merchant_from_config(m, i)
        for i, m in enumerate(data["merchants"])
    ]
    if include_test:
        extended = [m for m in merchants if m.client_id == TEST_CLIENT_ID]
        merchants = [extended[0] if extended else DEFAULT_MERCHANT] + [
            m for m in merchants if m.client_id != TEST_CLIENT_ID
        ]
    return tuple(merchants)
