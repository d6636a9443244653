"""The PostgreSQL store's tokens: one statement per issued token, reads served from a short cache.

Mixed into `mock_epay.store.postgres.PostgresBackend` (it uses its `_conn`, `clock`, `_max_tokens`,
`_trims`, `poll_notifications`, `_pipeline` and `_pipelinable_conn`). A token is written with one
statement, so one round trip and its own transaction (sent without waiting while the mock's runner
serves: `mock_epay.store.postgres_pipeline`), which also trims the table to its newest `max_tokens`
rows (a bounded range, `mock_epay.store.postgres_trim`) and, at most once a SWEEP_INTERVAL on the
mock's clock, deletes expired tokens: each sweep walks the expiry index's entries of every row
deleted since the last vacuum, so it does not run on every write.
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
_SWEEP = ("swept AS (DELETE FROM tokens WHERE access_token IN (SELECT access_token FROM tokens "
          "  WHERE expires_at <= $7 ORDER BY expires_at LIMIT $8)), ")
_ADD_AND_TRIM = (
    "added AS (INSERT INTO tokens (access_token, client_id, expires_at, record) "
    "  VALUES ($1, $2, $3, $4) "
    "  ON CONFLICT (access_token) DO UPDATE SET record = EXCLUDED.record RETURNING seq), "
    "trimmed AS (DELETE FROM tokens WHERE seq > $6 AND seq <= (SELECT seq FROM added) - $5) "
    "SELECT seq FROM added"
)
# Two statements, not one with a sweep of size 0: the sweep's LIMIT and range, unknown to a generic
# plan, made PostgreSQL plan the whole statement anew on every execution once the table was full
# (0.4 ms of planning for 0.05 ms of work); without them its generic plan is used after five runs.
ADD_TOKEN = "WITH " + _ADD_AND_TRIM
SWEEP_AND_ADD_TOKEN = "WITH " + _SWEEP + _ADD_AND_TRIM


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
        params: tuple[Any, ...] = (token.access_token, token.client_id, token.expires_at, dump(token),
                                   self._max_tokens, self._trims.low("tokens"))
        sql = ADD_TOKEN
        if self._sweep_due(now.timestamp()):
            sql, params = SWEEP_AND_ADD_TOKEN, (*params, now, SWEEP_SIZE)
        conn = self._pipelinable_conn(sql)
        if conn is None:
            self._token_written(FAST.run(self._conn(), sql, params))
        else:
            self._pipeline.send(conn, sql, params, self._token_written,
                                lambda: self._tokens.discard(token.access_token))
        self._tokens.put(token.access_token, token)

    def _token_written(self, rows: list[Row]) -> None:
        self._trims.trimmed("tokens", rows[0][0], self._max_tokens)

    def _sweep_due(self, now: float) -> bool:
        """Whether this write also sweeps expired tokens: once a SWEEP_INTERVAL."""
        if abs(now - self._last_sweep) < SWEEP_INTERVAL:  # abs: the clock can be set back
            return False
        self._last_sweep = now
        return True

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
