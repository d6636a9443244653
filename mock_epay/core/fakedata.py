"""Realistic-looking values: ids, access tokens, references, approval codes, payer names, card brands.

One `FakeData` per app; with a seed every value it makes is reproducible.
Faker is loaded on first use so start-up stays fast.
"""

from __future__ import annotations

import base64
import random
from typing import Any

_BRANDS = (
    ("4", "VISA"),
    ("51", "MasterCard"),
    ("52", "MasterCard"),
    ("53", "MasterCard"),
    ("54", "MasterCard"),
    ("55", "MasterCard"),
    ("2", "MasterCard"),
    ("34", "AMEX"),
    ("37", "AMEX"),
    ("62", "UnionPay"),
)


# uuid.UUID(version=4): the variant bits set to RFC 4122 (10xx), the version nibble to 4
_UUID_KEEP = ~(0xC000 << 48) & ~(0xF000 << 64) & ((1 << 128) - 1)
_UUID_V4_BITS = (0x8000 << 48) | (4 << 76)


def card_type(pan: str) -> str:
    for prefix, brand in _BRANDS:
        if pan.startswith(prefix):
            return brand
    return "VISA"


class FakeData:
    """Source of generated values; reproducible when given a seed."""

    def __init__(self, seed: int | None = None) -> None:
        self._seed = seed
        self._rng = random.Random(seed)
        self._faker: Any = None

    def _digits(self, count: int) -> str:
        return f"{self._rng.randrange(10**count):0{count}d}"

    def uuid(self) -> str:
        """A version-4 UUID as text: what `str(uuid.UUID(int=bits, version=4))` gives, without the object."""
        value = (self._rng.getrandbits(128) & _UUID_KEEP) | _UUID_V4_BITS
        text = f"{value:032x}"
        return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"

    def access_token(self) -> str:
        """22 characters of A-Z, 0-9, '-' and '_', like the bank's DCEB8O_ZM5U7SO_T_U5EJQ."""
        return base64.urlsafe_b64encode(self._rng.randbytes(17)).decode("ascii")[:22].upper()

    def reference(self) -> str:
        """A 12-digit retrieval reference number (RRN)."""
        return self._digits(12)

    def approval_code(self) -> str:
        return self._digits(6)

    def int_reference(self) -> str:
        """16 upper-case hex digits (the bank's look like C3B673466V9600X3)."""
        return self._rng.randbytes(8).hex().upper()

    def _fake(self) -> Any:
        if self._faker is None:
            from faker import Faker

            self._faker = Faker("en_US")
            if self._seed is not None:
                self._faker.seed_instance(self._seed)
        return self._faker

    def payer_name(self) -> str:
        fake = self._fake()
        return f"{fake.first_name()} {fake.last_name()}".upper()
