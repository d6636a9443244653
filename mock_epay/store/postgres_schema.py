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

# 3 (statements, issue 15 item 4): the columns the statement search filters on, set from each record
# by one trigger on every insert and on every update of `record` (so the write paths stay as they
# are), existing rows filled in, the period index, and a status index (the search first looks for
# the merchant's AUTHs). Text columns are `COLLATE "C"`: they compare by code point, as the memory
# backend does. The record's dates always carry an offset, so the `timestamptz` cast does not
# depend on the session's TimeZone.
STATEMENT_COLUMNS = """
    ALTER TABLE transactions
        ADD COLUMN stmt_created timestamptz,
        ADD COLUMN stmt_shop text COLLATE "C",
        ADD COLUMN stmt_invoice text COLLATE "C",
        ADD COLUMN stmt_account text COLLATE "C",
        ADD COLUMN stmt_phone text COLLATE "C",
        ADD COLUMN stmt_email text COLLATE "C",
        ADD COLUMN stmt_reference text COLLATE "C",
        ADD COLUMN stmt_post_link boolean,
        ADD COLUMN stmt_amount double precision,
        ADD COLUMN stmt_card_mask text COLLATE "C",
        ADD COLUMN stmt_client text COLLATE "C",
        ADD COLUMN stmt_type double precision,
        ADD COLUMN stmt_status text COLLATE "C";
    ALTER TABLE transfers
        ADD COLUMN stmt_created timestamptz,
        ADD COLUMN stmt_shop text COLLATE "C",
        ADD COLUMN stmt_invoice text COLLATE "C",
        ADD COLUMN stmt_account text COLLATE "C",
        ADD COLUMN stmt_phone text COLLATE "C",
        ADD COLUMN stmt_email text COLLATE "C",
        ADD COLUMN stmt_reference text COLLATE "C",
        ADD COLUMN stmt_post_link boolean,
        ADD COLUMN stmt_amount double precision,
        ADD COLUMN stmt_card_mask text COLLATE "C",
        ADD COLUMN stmt_client text COLLATE "C",
        ADD COLUMN stmt_type double precision,
        ADD COLUMN stmt_status text COLLATE "C",
        ADD COLUMN stmt_sender_mask text COLLATE "C",
        ADD COLUMN stmt_receiver_mask text COLLATE "C";
    CREATE FUNCTION mock_epay_statement_columns() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        r jsonb := NEW.record::jsonb;
        t jsonb := CASE WHEN TG_TABLE_NAME = 'transfers' THEN r -> 'transaction' ELSE r END;
        kind text := CASE WHEN TG_TABLE_NAME = 'transfers' THEN r ->> 'kind' ELSE t ->> 'source' END;
    BEGIN
        NEW.stmt_created := (t ->> 'created_at')::timestamptz;
        NEW.stmt_shop := COALESCE(t ->> 'terminal_id', '');
        NEW.stmt_invoice := COALESCE(t ->> 'invoice_id', '');
        NEW.stmt_account := COALESCE(t ->> 'account_id', '');
        NEW.stmt_phone := COALESCE(t ->> 'phone', '');
        NEW.stmt_email := COALESCE(t ->> 'email', '');
        NEW.stmt_reference := COALESCE(t ->> 'reference', '');
        NEW.stmt_post_link := COALESCE(t ->> 'post_link', '') <> '';
        NEW.stmt_amount := (t ->> 'amount')::double precision;
        NEW.stmt_card_mask := COALESCE(t #>> '{card,mask}', '');
        NEW.stmt_client := COALESCE(t ->> 'name', '');
        NEW.stmt_type := CASE kind WHEN 'p2p' THEN 2 WHEN 'aft' THEN 3 WHEN 'oct' THEN 4 ELSE 1 END;
        NEW.stmt_status := COALESCE(t ->> 'status', '');
        IF TG_TABLE_NAME = 'transfers' THEN
            NEW.stmt_sender_mask := COALESCE(r #>> '{sender,card,mask}', '');
            NEW.stmt_receiver_mask := COALESCE(r #>> '{receiver,card,mask}', '');
        END IF;
        RETURN NEW;
    END $$;
    CREATE TRIGGER transactions_statement_columns BEFORE INSERT OR UPDATE OF record ON transactions
        FOR EACH ROW EXECUTE FUNCTION mock_epay_statement_columns();
    CREATE TRIGGER transfers_statement_columns BEFORE INSERT OR UPDATE OF record ON transfers
        FOR EACH ROW EXECUTE FUNCTION mock_epay_statement_columns();
    UPDATE transactions SET record = record;
    UPDATE transfers SET record = record;
    CREATE INDEX transactions_statement ON transactions (client_id, stmt_created);
    CREATE INDEX transfers_statement ON transfers (client_id, stmt_created);
    CREATE INDEX transactions_statement_status ON transactions (client_id, stmt_status);
"""

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
    STATEMENT_COLUMNS,
)


def _outbox_and_scenario_state() -> str:
    """4 (issue 13): the callback outbox, named values (the clock offset), scenario state."""
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
