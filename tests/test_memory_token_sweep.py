"""The memory store drops expired tokens from its oldest end as new ones are added, and only looks
again once the oldest token kept is due (a jump of the mock's clock counts)."""

from __future__ import annotations

from datetime import timedelta

from mock_epay.core.clock import Clock
from mock_epay.gateway.models import Token, TokenKind
from mock_epay.store import memory
from mock_epay.store.memory import MemoryBackend


def _token(clock: Clock, name: str, ttl: int) -> Token:
    return Token(access_token=name, client_id="test", kind=TokenKind.SERVICE, scope="webapi",
                 expires_at=clock.now() + timedelta(seconds=ttl), expires_in=ttl)


def _kept(store: MemoryBackend) -> list[str]:
    return [token.access_token for token in store.all_tokens()]


def test_expired_tokens_are_dropped_when_the_oldest_is_due() -> None:
    clock = Clock()
    store = MemoryBackend(clock)
    store.add_token(_token(clock, "a", 10))
    store.add_token(_token(clock, "b", 20))
    store.add_token(_token(clock, "c", 1000))
    clock.advance(15)  # "a" has expired, "b" not yet
    store.add_token(_token(clock, "d", 1000))
    assert _kept(store) == ["b", "c", "d"]
    clock.advance(10)  # now "b" too
    store.add_token(_token(clock, "e", 1000))
    assert _kept(store) == ["c", "d", "e"]


def test_nothing_is_swept_before_the_oldest_token_is_due(monkeypatch: object) -> None:
    clock = Clock()
    store = MemoryBackend(clock)
    store.add_token(_token(clock, "a", 100))
    store.add_token(_token(clock, "b", 100))  # sweeps once: the store was empty, nothing was due yet
    sweeps: list[int] = []
    original = MemoryBackend._sweep_tokens

    def counted(self: MemoryBackend) -> None:
        sweeps.append(1)
        original(self)

    monkeypatch.setattr(MemoryBackend, "_sweep_tokens", counted)  # type: ignore[attr-defined]
    for name in "cdef":
        store.add_token(_token(clock, name, 100))
    assert sweeps == []  # "a" is not due for 100 s
    clock.advance(101)
    store.add_token(_token(clock, "g", 100))
    assert sweeps == [1]
    assert _kept(store) == ["g"]


def test_a_sweep_drops_at_most_a_batch_and_the_next_token_sweeps_on(monkeypatch: object) -> None:
    monkeypatch.setattr(memory, "SWEEP_BATCH", 2)  # type: ignore[attr-defined]
    clock = Clock()
    store = MemoryBackend(clock)
    for name in "abcde":
        store.add_token(_token(clock, name, 10))
    clock.advance(11)
    store.add_token(_token(clock, "f", 1000))
    assert _kept(store) == ["c", "d", "e", "f"]
    store.add_token(_token(clock, "g", 1000))
    assert _kept(store) == ["e", "f", "g"]
