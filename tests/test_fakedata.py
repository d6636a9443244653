"""Generated values (core/fakedata.py): reproducible with a seed, and in the formats they claim."""

from __future__ import annotations

import random
import uuid

from mock_epay.core.fakedata import FakeData


def test_a_uuid_is_what_the_uuid_module_makes_from_the_same_bits() -> None:
    made, bits = FakeData(7), random.Random(7)
    for _ in range(2000):
        text = made.uuid()
        assert text == str(uuid.UUID(int=bits.getrandbits(128), version=4))
        parsed = uuid.UUID(text)
        assert (parsed.version, parsed.variant) == (4, uuid.RFC_4122)


def test_the_same_seed_gives_the_same_values() -> None:
    first, second = FakeData(3), FakeData(3)
    assert [first.uuid(), first.access_token(), first.reference()] == \
        [second.uuid(), second.access_token(), second.reference()]
