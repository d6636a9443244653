"""Merchants made and removed at run time (`POST`, `DELETE /_mock/merchants`): namespaces on one sandbox.

`create_merchant` checks a `NewMerchant` (ids free, card numbers Luhn-valid), generates
what was not given (client id and secret, the terminal, card ids) and records the merchant
with its saved cards in one store call. `remove_merchant` forgets a merchant with all it
owns: store state (tokens, transactions, cards, journal entries), scenario overrides aimed
at its terminals and sequence positions, and its callbacks, pending or logged. Merchants
the settings declare (the built-in test merchant, a config file's) are removed only when
forced. No aiohttp here: the admin handlers parse the body and render the answer.
"""

from __future__ import annotations

import re
import secrets
import uuid
from typing import TYPE_CHECKING

import msgspec

from mock_epay.core.pan import luhn_valid
from mock_epay.gateway.codes import GENERIC, NOT_FOUND
from mock_epay.gateway.errors import EpayError, bad_request
from mock_epay.gateway.models import Merchant, SavedCard, SeedCard, Terminal
from mock_epay.settings import ConfigError
from mock_epay.store.base import MerchantTaken

if TYPE_CHECKING:
    from mock_epay.gateway.service import Gateway

CLIENT_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")  # it goes into a URL path
SECRET_RE = re.compile(r"^[\x21-\x7e]{8,128}$")  # printable ASCII, no spaces
CARD_NUMBER_RE = re.compile(r"^[0-9]{12,19}$")
EXPIRY_RE = re.compile(r"^(0[1-9]|1[0-2])/[0-9]{2}$")
TEXT_LIMIT = 128
MAX_CARDS = 100  # saved cards in one request
MAX_MERCHANTS = 10_000  # a shared sandbox stays bounded
MAX_AUTO_CANCEL_SECONDS = 10 * 365 * 24 * 3600
CALLBACK_FORMATS = ("current", "legacy")
DEFAULT_EXPIRY = "01/27"


class NewCard(msgspec.Struct, frozen=True):
    """A saved card asked for: the account it belongs to and its full number (never answered back)."""

    account_id: str
    card_number: str
    id: str | None = None
    payer_name: str = ""
    expiry: str = DEFAULT_EXPIRY


class NewMerchant(msgspec.Struct, frozen=True):
    """What `POST /_mock/merchants` asks for; every field may be left out."""

    client_id: str | None = None
    client_secret: str | None = None
    name: str = ""
    two_stage: bool = False
    auto_cancel_seconds: float | None = None
    callback_format: str = "current"
    callbacks_after_operations: bool = False
    cards: tuple[NewCard, ...] = ()


class CreatedMerchant(msgspec.Struct, frozen=True):
    """A recorded merchant and its saved cards (in the order asked for)."""

    merchant: Merchant
    cards: tuple[SavedCard, ...]

    @property
    def terminal(self) -> Terminal:
        return self.merchant.terminals[0]


def conflict(message: str) -> EpayError:
    return EpayError(409, GENERIC, message)


def create_merchant(gateway: Gateway, new: NewMerchant) -> CreatedMerchant:
    """Check `new`, fill in generated ids and record the merchant with its cards; 400 or 409 otherwise."""
    check_new_merchant(new)
    store = gateway.store
    if len(store.merchants()) >= MAX_MERCHANTS:
        raise conflict(f"this sandbox has {MAX_MERCHANTS} merchants already; delete some first")
    client_id = new.client_id or _free_client_id(gateway)
    seeds = tuple(_seed(card, gateway) for card in new.cards)
    merchant = Merchant(
        client_id=client_id,
        client_secret=new.client_secret or secrets.token_urlsafe(27),
        name=new.name or f"Merchant {client_id}",
        terminals=(Terminal(id=str(uuid.uuid4()), number=_terminal_number(),
                            two_stage=new.two_stage, auto_cancel_seconds=new.auto_cancel_seconds),),
        callback_format=new.callback_format,
        callbacks_after_operations=new.callbacks_after_operations,
        saved_cards=seeds,
    )
    try:
        store.insert_merchant(merchant)
    except MerchantTaken as exc:
        raise conflict(f"merchant not created: {exc.what}") from None
    except ConfigError as exc:
        raise conflict(f"merchant not created: {exc}") from None
    cards = tuple(store.card(client_id, seed.id) for seed in seeds if seed.id)
    return CreatedMerchant(merchant, tuple(card for card in cards if card is not None))


def check_new_merchant(new: NewMerchant) -> None:
    """The field rules of `POST /_mock/merchants`; the first problem is a 400 naming its field."""
    if new.client_id is not None and not CLIENT_ID_RE.match(new.client_id):
        raise bad_request("field 'clientId' must be 1-64 letters, digits, '.', '_' or '-' "
                          "(starting with a letter or digit)")
    if new.client_secret is not None and not SECRET_RE.match(new.client_secret):
        raise bad_request("field 'clientSecret' must be 8-128 printable ASCII characters without spaces")
    if len(new.name) > TEXT_LIMIT:
        raise bad_request(f"field 'name' must be at most {TEXT_LIMIT} characters")
    seconds = new.auto_cancel_seconds
    if seconds is not None and not 0 < seconds <= MAX_AUTO_CANCEL_SECONDS:
        raise bad_request(f"field 'autoCancelSeconds' must be a number above 0 and at most "
                          f"{MAX_AUTO_CANCEL_SECONDS}")
    if new.callback_format not in CALLBACK_FORMATS:
        raise bad_request("field 'callbackFormat' must be 'current' or 'legacy'")
    if len(new.cards) > MAX_CARDS:
        raise bad_request(f"field 'savedCards' holds at most {MAX_CARDS} cards")
    ids = [card.id for card in new.cards if card.id]
    if len(ids) != len(set(ids)):
        raise bad_request("field 'savedCards': each 'id' may appear once")
    for index, card in enumerate(new.cards):
        _check_card(card, f"savedCards[{index}]")


def _check_card(card: NewCard, where: str) -> None:
    if not card.account_id or len(card.account_id) > TEXT_LIMIT:
        raise bad_request(f"field '{where}.accountId' must be 1-{TEXT_LIMIT} characters")
    if not CARD_NUMBER_RE.match(card.card_number):
        raise bad_request(f"field '{where}.cardNumber' must be 12-19 digits")
    if not luhn_valid(card.card_number):
        raise bad_request(f"field '{where}.cardNumber' fails the Luhn check (not a card number)")
    if card.id is not None and not 1 <= len(card.id) <= TEXT_LIMIT:
        raise bad_request(f"field '{where}.id' must be 1-{TEXT_LIMIT} characters")
    if len(card.payer_name) > TEXT_LIMIT:
        raise bad_request(f"field '{where}.payerName' must be at most {TEXT_LIMIT} characters")
    if not EXPIRY_RE.match(card.expiry):
        raise bad_request(f"field '{where}.expiry' must be MM/YY")


def _seed(card: NewCard, gateway: Gateway) -> SeedCard:
    """The card as the merchant keeps it: with its id fixed now, so a reset re-saves the same id."""
    card_id = card.id or str(uuid.uuid4())
    if card.id is not None and gateway.store.card_id_taken(card.id):
        raise conflict(f"merchant not created: saved card id {card.id[:64]!r} is taken")
    return SeedCard(card.account_id, card.card_number, card_id, card.payer_name, card.expiry)


def _free_client_id(gateway: Gateway) -> str:
    while True:
        client_id = "m-" + secrets.token_hex(6)
        if gateway.store.merchant(client_id) is None:
            return client_id


def _terminal_number() -> str:
    """An 8-digit processing terminal number, as `terminal` in the status answer shows it."""
    return "97" + f"{secrets.randbelow(10**6):06d}"


def remove_merchant(gateway: Gateway, client_id: str, *, force: bool = False) -> Merchant:
    """Forget a merchant and everything it owns; 404 when unknown, 409 for a declared one unless forced."""
    merchant = gateway.store.merchant(client_id)
    if merchant is None:
        raise EpayError(404, NOT_FOUND, f"no merchant with client id {client_id[:64]!r}")
    if not force and any(m.client_id == client_id for m in gateway.settings.merchants):
        raise conflict(f"merchant {client_id[:64]!r} is declared by the settings (the built-in test "
                       f"merchant or a config file); add ?force=true to remove it until the next start")
    gateway.callbacks.forget_merchant(client_id)
    gateway.engine.forget_merchant(client_id, (t.id for t in merchant.terminals))
    gateway.store.remove_merchant(client_id)
    return merchant
