"""The PostgreSQL backend's schema, its versioned migrations, and how records become rows.

`migrate(conn)` brings a database to `SCHEMA_VERSION` on start: under a transaction-level
advisory lock (so processes starting together migrate once), it reads `mock_epay_schema`,
applies each missing migration in order, and refuses a database newer than this code.
An upgrade adds a migration to `MIGRATIONS`; an existing one is never edited.

Records are kept as JSON text (msgspec: dataclasses, enums and zone-aware datetimes round-trip)
next to the columns the invariants and look-ups need. The unique keys carry the invariants:
`reservations` (one attempt in flight per invoice and per last six digits) and `succeeded`
(one success per last six digits); `transfer_succeeded` (one successful transfer per order);
`subscriptions (client_id, transaction_id)` (one subscription per first payment).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, TypeVar

import msgspec

from mock_epay.settings import ConfigError

R = TypeVar("R")
LOCK_KEY = 0x6D6F636B  # "mock": the advisory lock migrations run under

MIGRATIONS: tuple[str, ...] = (
    # 1: the first schema
    """
    CREATE TABLE merchants (
        client_id text PRIMARY KEY,
        seq bigserial,
        record text NOT NULL
    );
    CREATE TABLE tokens (
        access_token text PRIMARY KEY,
        seq bigserial,
        client_id text NOT NULL,
        expires_at timestamptz NOT NULL,
        record text NOT NULL
    );
    CREATE INDEX tokens_expiry ON tokens (expires_at);
    CREATE INDEX tokens_seq ON tokens (seq);
    CREATE TABLE transactions (
        id text PRIMARY KEY,
        seq bigserial UNIQUE,
        client_id text NOT NULL,
        invoice_id text NOT NULL,
        version integer NOT NULL,
        record text NOT NULL
    );
    CREATE INDEX transactions_invoice ON transactions (client_id, invoice_id, seq);
    CREATE INDEX transactions_merchant ON transactions (client_id, seq);
    CREATE TABLE succeeded (
        client_id text NOT NULL,
        suffix text NOT NULL,
        transaction_id text NOT NULL REFERENCES transactions (id) ON DELETE CASCADE,
        PRIMARY KEY (client_id, suffix)
    );
    CREATE INDEX succeeded_transaction ON succeeded (transaction_id);
    CREATE TABLE reservations (
        client_id text NOT NULL,
        key text NOT NULL,
        owner text NOT NULL,
        PRIMARY KEY (client_id, key)
    );
    CREATE INDEX reservations_owner ON reservations (owner);
    CREATE TABLE holds (
        transaction_id text PRIMARY KEY REFERENCES transactions (id) ON DELETE CASCADE,
        client_id text NOT NULL,
        expires_at timestamptz NOT NULL,
        owner text NOT NULL,
        record text NOT NULL
    );
    CREATE INDEX holds_expiry ON holds (expires_at);
    CREATE TABLE cards (
        id text PRIMARY KEY,
        seq bigserial,
        client_id text NOT NULL,
        account_id text NOT NULL,
        active boolean NOT NULL,
        record text NOT NULL
    );
    CREATE INDEX cards_account ON cards (client_id, account_id, seq);
    CREATE TABLE journal (
        seq bigserial PRIMARY KEY,
        entry bytea NOT NULL
    );
    """,
    # 2: the newer products' records (issue 15, kept in the process before), secrets, and the
    # merchant of each journal entry (older entries name none)
    """
    CREATE TABLE links (
        id text PRIMARY KEY,
        seq bigserial UNIQUE,
        client_id text NOT NULL,
        shop_id text NOT NULL,
        invoice_id text NOT NULL,
        version integer NOT NULL,
        record text NOT NULL
    );
    CREATE INDEX links_invoice ON links (client_id, shop_id, invoice_id);
    CREATE INDEX links_merchant ON links (client_id, seq);
    CREATE TABLE bills (
        bill_number text PRIMARY KEY,
        seq bigserial UNIQUE,
        client_id text NOT NULL,
        invoice_id text NOT NULL,
        version integer NOT NULL,
        record text NOT NULL
    );
    CREATE INDEX bills_invoice ON bills (client_id, invoice_id, seq);
    CREATE INDEX bills_merchant ON bills (client_id, seq);
    CREATE TABLE messages (
        seq bigserial PRIMARY KEY,
        client_id text NOT NULL,
        record text NOT NULL
    );
    CREATE INDEX messages_merchant ON messages (client_id, seq);
    CREATE TABLE subscriptions (
        id text PRIMARY KEY,
        seq bigserial UNIQUE,
        client_id text NOT NULL,
        transaction_id text NOT NULL,
        record text NOT NULL,
        UNIQUE (client_id, transaction_id)
    );
    CREATE TABLE transfers (
        id text PRIMARY KEY,
        seq bigserial UNIQUE,
        client_id text NOT NULL,
        order_id text NOT NULL,
        record text NOT NULL
    );
    CREATE INDEX transfers_order ON transfers (client_id, order_id, seq);
    CREATE INDEX transfers_merchant ON transfers (client_id, seq);
    CREATE TABLE transfer_succeeded (
        client_id text NOT NULL,
        order_id text NOT NULL,
        transfer_id text NOT NULL REFERENCES transfers (id) ON DELETE CASCADE,
        PRIMARY KEY (client_id, order_id)
    );
    CREATE INDEX transfer_succeeded_transfer ON transfer_succeeded (transfer_id);
    CREATE TABLE secrets (
        name text PRIMARY KEY,
        value text NOT NULL
    );
    ALTER TABLE journal ADD COLUMN client_id text;
    CREATE INDEX journal_merchant ON journal (client_id);
    """,
)


def _outbox_and_scenario_state() -> str:
    """2 (issue 13): the callback outbox, named values (the clock offset), scenario state."""
    return """
    CREATE TABLE kv (
        key text PRIMARY KEY,
        value text NOT NULL
    );
    CREATE TABLE deliveries (
        id text PRIMARY KEY,
        seq bigserial UNIQUE,
        client_id text NOT NULL,
        invoice_id text NOT NULL,
        transaction_id text NOT NULL,
        status text NOT NULL,
        due_at double precision NOT NULL,
        claimed_by text,
        lease_until double precision,
        record bytea NOT NULL
    );
    CREATE INDEX deliveries_pending ON deliveries (status, due_at);
    CREATE INDEX deliveries_merchant ON deliveries (client_id);
    CREATE TABLE scenario_steps (
        rule text NOT NULL,
        client_id text NOT NULL,
        key text NOT NULL,
        step integer NOT NULL,
        seq bigserial,
        PRIMARY KEY (rule, client_id, key)
    );
    CREATE INDEX scenario_steps_age ON scenario_steps (seq);
    """


MIGRATIONS = (*MIGRATIONS, _outbox_and_scenario_state())
SCHEMA_VERSION = len(MIGRATIONS)


def migrate(conn: Any) -> int:
    """Create or upgrade the schema on `conn` (a psycopg connection); the version it is at."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
        conn.execute("CREATE TABLE IF NOT EXISTS mock_epay_schema (version integer NOT NULL)")
        row = conn.execute("SELECT version FROM mock_epay_schema").fetchone()
        current = row[0] if row else 0
        if current > SCHEMA_VERSION:
            raise ConfigError(f"store: the database's schema is version {current}, newer than this "
                              f"mock-epay knows ({SCHEMA_VERSION}); upgrade mock-epay")
        for version in range(current + 1, SCHEMA_VERSION + 1):
            conn.execute(MIGRATIONS[version - 1])
        if row is None:
            conn.execute("INSERT INTO mock_epay_schema VALUES (%s)", (SCHEMA_VERSION,))
        elif current != SCHEMA_VERSION:
            conn.execute("UPDATE mock_epay_schema SET version = %s", (SCHEMA_VERSION,))
    return SCHEMA_VERSION


def _enc_hook(value: Any) -> Any:
    if isinstance(value, Mapping):
        return dict(value)
    raise NotImplementedError(f"cannot store {type(value).__name__}")


_encoder = msgspec.json.Encoder(enc_hook=_enc_hook)
_journal_encoder = msgspec.msgpack.Encoder()
_journal_decoder = msgspec.msgpack.Decoder()
_decoders: dict[type, msgspec.json.Decoder[Any]] = {}


def dump(record: Any) -> str:
    """A record (frozen dataclass) as JSON text."""
    return _encoder.encode(record).decode()


def load(kind: type[R], text: str) -> R:
    """The record of type `kind` that `dump` wrote."""
    decoder = _decoders.get(kind)
    if decoder is None:
        decoder = _decoders[kind] = msgspec.json.Decoder(kind)
    return decoder.decode(text)  # type: ignore[no-any-return]


def frozen_mapping(value: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(value))


def dump_entry(entry: tuple[Any, ...]) -> bytes:
    """A journal entry (bytes bodies included) as msgpack."""
    return _journal_encoder.encode(entry)


def load_entry(data: bytes) -> tuple[Any, ...]:
    return tuple(_journal_decoder.decode(data))
