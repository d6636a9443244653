"""The PostgreSQL store's tokens: one statement per issued token, reads served from a short cache.

Mixed into `mock_epay.store.postgres.PostgresBackend` (it uses its `_conn`, `clock`, `_max_tokens`,
`_trims` and `poll_notifications`). A token is written with one statement, so one round trip and
its own transaction, which also trims the table to its newest `max_tokens` rows (a bounded range,
`mock_epay.store.postgres_trim`) and, at most once a SWEEP_INTERVAL on the mock's clock, deletes
expired tokens: each sweep walks the expiry index's entries of every row deleted since the last
vacuum, so it does not run on every write.
"""

from __future__ import annotations

from typing import Any

from mock_epay.gateway.models import Token
from mock_epay.store.memory import SWEEP_BATCH
from mock_epay.store.postgres_fast import FAST, Row, text
from mock_epay.store.postgres_pipeline import PipelinedWrites
from mock_epay.store.postgres_schema import dump, load
from mock_epay.store.postgres_trim import TrimWindows
from mock_epay.store.short_cache import ShortCache

SWEEP_INTERVAL = 1.0  # seconds on the mock's clock between sweeps of expired tokens
SWEEP_SIZE = 16 * SWEEP_BATCH  # expired tokens one sweep deletes at most (the cap bounds the rest)
ADD_TOKEN = (
    "WITH swept AS (DELETE FROM tokens WHERE access_token IN (SELECT access_token FROM tokens "
    "  WHERE expires_at <= $1 ORDER BY expires_at LIMIT $2)), "
    "added AS (INSERT INTO tokens (access_token, client_id, expires_at, record) "
    "  VALUES ($3, $4, $5, $6) "
    "  ON CONFLICT (access_token) DO UPDATE SET record = EXCLUDED.record RETURNING seq), "
    "trimmed AS (DELETE FROM tokens WHERE seq > $8 AND seq <= (SELECT seq FROM added) - $7) "
    "SELECT seq FROM added"
)


class PostgresTokens:
    """The token calls of the contract, on the backend's connection."""

    # provided by the backend (store/postgres.py) this is mixed into
    _conn: Any
    clock: Any
    _max_tokens: int
    _trims: TrimWindows
    poll_notifications: Any
    _pipeline: PipelinedWrites
    _pipelinable_conn: Any

    def __init__(self) -> None:
        self._tokens: ShortCache[Token] = ShortCache()
        self._last_sweep = float("-inf")  # when add_token last swept expired tokens (mock clock)

    def add_token(self, token: Token) -> None:
        """One statement; sent without waiting while the mock's runner serves (the answer waits for
        it instead, `durable()`: store/postgres_pipeline.py)."""
        now = self.clock.now()
        params = (now, self._sweep_size(now.timestamp()), token.access_token, token.client_id,
                  token.expires_at, dump(token), self._max_tokens, self._trims.low("tokens"))
        conn = self._pipelinable_conn(ADD_TOKEN)
        if conn is None:
            self._token_written(FAST.run(self._conn(), ADD_TOKEN, params))
        else:
            self._pipeline.send(conn, ADD_TOKEN, params, self._token_written,
                                lambda: self._tokens.discard(token.access_token))
        self._tokens.put(token.access_token, token)

    def _token_written(self, rows: list[Row]) -> None:
        self._trims.trimmed("tokens", rows[0][0], self._max_tokens)

    def _sweep_size(self, now: float) -> int:
        """How many expired tokens this write sweeps: SWEEP_SIZE once a SWEEP_INTERVAL, else none."""
        if abs(now - self._last_sweep) < SWEEP_INTERVAL:  # abs: the clock can be set back
            return 0
        self._last_sweep = now
        return SWEEP_SIZE

    def token(self, access_token: str) -> Token | None:
        """Tokens this process issued or read within CACHE_SECONDS come from memory (a payment
        reads its token twice); an expired one is always read again (it may have been swept)."""
        self.poll_notifications()  # the expiry check reads the clock another process may have moved
        cached = self._tokens.get(access_token)
        if cached is not None and cached.expires_at > self.clock.now():
            return cached
        rows = FAST.run(self._conn(), "SELECT record FROM tokens WHERE access_token = $1", (access_token,))
        if not rows:
            return None
        token = load(Token, text(rows[0][0]))
        self._tokens.put(access_token, token)
        return token
