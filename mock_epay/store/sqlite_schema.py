"""The SQLite file's schema: tables, indexes, the `schema_version` table and one migration per version.

`open_database(path)` connects (WAL, `synchronous=NORMAL`, a busy timeout so several
processes on one file wait for each other's write instead of failing), then brings an
older file up to `SCHEMA_VERSION` by running each missing migration in one transaction.
A file written by a newer mock-epay is refused with a `ConfigError` naming both versions.

`synchronous=NORMAL` in WAL mode: a crash of the process loses nothing committed; a
power cut (or an OS crash) can lose the last transactions committed before it (those
not yet checkpointed to the WAL's fsync), never corrupt the file.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable

from mock_epay.settings import ConfigError

BUSY_TIMEOUT_SECONDS = 10.0

_V1 = """
CREATE TABLE kv (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE merchants (client_id TEXT PRIMARY KEY, record BLOB NOT NULL);
CREATE TABLE tokens (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, access_token TEXT NOT NULL UNIQUE,
    client_id TEXT NOT NULL, expires_at REAL NOT NULL, record BLOB NOT NULL);
CREATE INDEX tokens_expiry ON tokens (expires_at);
CREATE TABLE transactions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, client_id TEXT NOT NULL,
    invoice_id TEXT NOT NULL, suffix TEXT NOT NULL, status TEXT NOT NULL, created_at REAL NOT NULL,
    version INTEGER NOT NULL, record BLOB NOT NULL);
CREATE INDEX transactions_invoice ON transactions (client_id, invoice_id, seq);
CREATE INDEX transactions_client ON transactions (client_id, seq);
CREATE INDEX transactions_status ON transactions (status);
CREATE TABLE succeeded (
    client_id TEXT NOT NULL, suffix TEXT NOT NULL, transaction_id TEXT NOT NULL,
    PRIMARY KEY (client_id, suffix)) WITHOUT ROWID;
CREATE TABLE reservations (
    client_id TEXT NOT NULL, key TEXT NOT NULL, owner TEXT NOT NULL, pid INTEGER NOT NULL,
    PRIMARY KEY (client_id, key)) WITHOUT ROWID;
CREATE TABLE holds (
    transaction_id TEXT PRIMARY KEY, client_id TEXT NOT NULL, expires_at REAL NOT NULL,
    record BLOB NOT NULL);
CREATE INDEX holds_expiry ON holds (expires_at);
CREATE TABLE cards (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, client_id TEXT NOT NULL,
    account_id TEXT NOT NULL, active INTEGER NOT NULL, record BLOB NOT NULL);
CREATE INDEX cards_account ON cards (client_id, account_id, seq);
CREATE TABLE journal (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, at REAL NOT NULL, method TEXT NOT NULL, path TEXT NOT NULL,
    status INTEGER NOT NULL, ms REAL NOT NULL, body BLOB, answer BLOB);
CREATE TABLE deliveries (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, client_id TEXT NOT NULL,
    invoice_id TEXT NOT NULL, transaction_id TEXT NOT NULL, status TEXT NOT NULL,
    due_at REAL NOT NULL, claimed_by TEXT, lease_until REAL, record BLOB NOT NULL);
CREATE INDEX deliveries_pending ON deliveries (status, due_at);
CREATE INDEX deliveries_invoice ON deliveries (invoice_id);
CREATE TABLE scenario_steps (
    rule TEXT NOT NULL, client_id TEXT NOT NULL, key TEXT NOT NULL, step INTEGER NOT NULL,
    seq INTEGER NOT NULL, PRIMARY KEY (rule, client_id, key)) WITHOUT ROWID;
CREATE INDEX scenario_steps_age ON scenario_steps (seq);
"""


def _migrate_to_1(db: sqlite3.Connection) -> None:
    """The first schema: every kind of state, records as JSON, queried fields as indexed columns."""
    for statement in _V1.split(";"):
        if statement.strip():
            db.execute(statement)


# 2: the newer products' records (issue 15) and the merchant of each journal entry
_V2_PRODUCTS = """
CREATE TABLE links (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, client_id TEXT NOT NULL,
    shop_id TEXT NOT NULL, invoice_id TEXT NOT NULL, version INTEGER NOT NULL, record BLOB NOT NULL);
CREATE INDEX links_invoice ON links (client_id, shop_id, invoice_id);
CREATE INDEX links_client ON links (client_id, seq);
CREATE TABLE bills (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, bill_number TEXT NOT NULL UNIQUE, client_id TEXT NOT NULL,
    invoice_id TEXT NOT NULL, version INTEGER NOT NULL, record BLOB NOT NULL);
CREATE INDEX bills_invoice ON bills (client_id, invoice_id, seq);
CREATE INDEX bills_client ON bills (client_id, seq);
CREATE TABLE messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, client_id TEXT NOT NULL, record BLOB NOT NULL);
CREATE INDEX messages_client ON messages (client_id, seq);
CREATE TABLE subscriptions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, client_id TEXT NOT NULL,
    transaction_id TEXT NOT NULL, record BLOB NOT NULL, UNIQUE (client_id, transaction_id));
CREATE TABLE transfers (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, client_id TEXT NOT NULL,
    order_id TEXT NOT NULL, record BLOB NOT NULL);
CREATE INDEX transfers_order ON transfers (client_id, order_id, seq);
CREATE INDEX transfers_client ON transfers (client_id, seq);
CREATE TABLE transfer_succeeded (
    client_id TEXT NOT NULL, order_id TEXT NOT NULL, transfer_id TEXT NOT NULL,
    PRIMARY KEY (client_id, order_id)) WITHOUT ROWID;
CREATE INDEX transfer_succeeded_transfer ON transfer_succeeded (transfer_id);
ALTER TABLE journal ADD COLUMN client_id TEXT;
CREATE INDEX journal_client ON journal (client_id);
"""


def _migrate_to_2(db: sqlite3.Connection) -> None:
    """Links, QR bills, outbox messages, subscriptions and transfers get tables (they lived in the
    process before); journal entries name their merchant (older entries name none)."""
    for statement in _V2_PRODUCTS.split(";"):
        if statement.strip():
            db.execute(statement)


# 3 (statements, issue 15 item 4): the columns the statement search filters on, derived from each
# record as virtual generated columns (so every write keeps them right without touching the write
# paths), the period index, and a status index (the search first looks for the merchant's AUTHs).
# Dates are integer microseconds since the epoch, read exactly from the record's ISO 8601 text
# ("YYYY-MM-DDTHH:MM:SS[.ffffff]" then "Z" or "+HH:MM").
def _statement_columns(table: str, at: str) -> list[str]:
    """The `ALTER TABLE` statements of `table`'s statement columns (`at`: the path of its transaction)."""
    record = "CAST(record AS TEXT)"

    def text(path: str, under: str = at) -> str:
        return f"COALESCE(json_extract({record}, '{under}{path}'), '')"

    kind = "$.kind" if table == "transfers" else f"{at}source"
    created = "stmt_created_text"
    zone = f"CASE WHEN substr({created}, -1) = 'Z' THEN 'Z' ELSE substr({created}, -6) END"
    zone_length = f"CASE WHEN substr({created}, -1) = 'Z' THEN 1 ELSE 6 END"
    fraction = (f"CASE WHEN substr({created}, 20, 1) = '.' THEN CAST(substr(substr({created}, 21, "
                f"length({created}) - 20 - {zone_length}) || '000000', 1, 6) AS INTEGER) ELSE 0 END")
    columns = [
        ("stmt_created_text", "TEXT", f"json_extract({record}, '{at}created_at')"),
        ("stmt_created", "INTEGER",
         f"CAST(strftime('%s', substr({created}, 1, 19) || {zone}) AS INTEGER) * 1000000 + {fraction}"),
        ("stmt_shop", "TEXT", text("terminal_id")),
        ("stmt_invoice", "TEXT", text("invoice_id")),
        ("stmt_account", "TEXT", text("account_id")),
        ("stmt_phone", "TEXT", text("phone")),
        ("stmt_email", "TEXT", text("email")),
        ("stmt_reference", "TEXT", text("reference")),
        ("stmt_post_link", "INTEGER", f"{text('post_link')} <> ''"),
        ("stmt_amount", "REAL", f"json_extract({record}, '{at}amount')"),
        ("stmt_card_mask", "TEXT", text("card.mask")),
        ("stmt_client", "TEXT", text("name")),
        ("stmt_type", "REAL", f"CASE json_extract({record}, '{kind}') WHEN 'p2p' THEN 2.0 "
                              f"WHEN 'aft' THEN 3.0 WHEN 'oct' THEN 4.0 ELSE 1.0 END"),
        ("stmt_status", "TEXT", text("status")),
    ]
    if table == "transfers":
        columns += [("stmt_sender_mask", "TEXT", text("sender.card.mask", "$.")),
                    ("stmt_receiver_mask", "TEXT", text("receiver.card.mask", "$."))]
    return [f"ALTER TABLE {table} ADD COLUMN {name} {kind_} GENERATED ALWAYS AS ({expression}) VIRTUAL"
            for name, kind_, expression in columns]


def _migrate_to_3(db: sqlite3.Connection) -> None:
    """Statement columns on `transactions` and `transfers`, and their period index (issue 15 item 4)."""
    for statement in _statement_columns("transactions", "$."):
        db.execute(statement)
    for statement in _statement_columns("transfers", "$.transaction."):
        db.execute(statement)
    db.execute("CREATE INDEX transactions_statement ON transactions (client_id, stmt_created)")
    db.execute("CREATE INDEX transfers_statement ON transfers (client_id, stmt_created)")
    db.execute("CREATE INDEX transactions_statement_status ON transactions (client_id, stmt_status)")


def _migrate_to_4(db: sqlite3.Connection) -> None:
    """Drop two indexes no query reads (`transactions (status)`, `deliveries (invoice_id)`): each
    cost a page written to the WAL with every payment and every outbox row."""
    db.execute("DROP INDEX IF EXISTS transactions_status")
    db.execute("DROP INDEX IF EXISTS deliveries_invoice")


def _migrate_to_5(db: sqlite3.Connection) -> None:
    """Index `succeeded` by transaction: once the transactions' cap is reached, every payment drops
    the oldest transaction and its `succeeded` row, and without this index that DELETE read the
    whole table (20,000 rows at the default cap): the token+cards/auth load fell from about 3,000
    to 1,000 req/s once a sandbox had been used that long."""
    db.execute("CREATE INDEX IF NOT EXISTS succeeded_transaction ON succeeded (transaction_id)")


def _migrate_to_6(db: sqlite3.Connection) -> None:
    """Index the final deliveries by `seq`: the delivery log's cap drops final ones only, and its
    DELETE walked every pending row below the cut. With a merchant's postLink down every callback
    stays pending for its retry window (10 minutes by default), and on the token+cards/auth load
    that walk took 70% of the time: 1,835 req/s fell to 279 within 30 s."""
    db.execute("CREATE INDEX IF NOT EXISTS deliveries_final ON deliveries (seq) WHERE status != 'pending'")


# 7: the busiest tables lose AUTOINCREMENT, which wrote the `sqlite_sequence` row with every insert
# (about 1.3 us of CPU each on this machine, and one more page in each commit); their `seq` is now
# the rowid SQLite picks, one past the largest kept, which is all the caps and the order rely on.
PLAIN_ROWID_TABLES = ("tokens", "transactions", "deliveries", "journal")


def _migrate_to_7(db: sqlite3.Connection) -> None:
    """Rebuild each of PLAIN_ROWID_TABLES from its own definition without AUTOINCREMENT, keeping
    its rows (with their `seq`), its generated columns and its indexes."""
    for table in PLAIN_ROWID_TABLES:
        _rebuild_without_autoincrement(db, table)


def _rebuild_without_autoincrement(db: sqlite3.Connection, table: str) -> None:
    definition = db.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?",
                            (table,)).fetchone()[0]
    if "AUTOINCREMENT" not in definition.upper():
        return
    indexes = [row[0] for row in db.execute(
        "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL", (table,))]
    stored = [row[1] for row in db.execute(f"PRAGMA table_xinfo({table})") if row[6] == 0]  # not generated
    columns = ", ".join(stored)
    rebuilt = f"{table}_rebuilt"
    body = re.sub(r"(?i)\s+AUTOINCREMENT", "", definition[definition.index("("):])
    db.execute(f"CREATE TABLE {rebuilt} {body}")
    db.execute(f"INSERT INTO {rebuilt} ({columns}) SELECT {columns} FROM {table}")  # noqa: S608
    db.execute(f"DROP TABLE {table}")
    db.execute(f"ALTER TABLE {rebuilt} RENAME TO {table}")
    for index in indexes:
        db.execute(index)


MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {
    1: _migrate_to_1, 2: _migrate_to_2, 3: _migrate_to_3, 4: _migrate_to_4, 5: _migrate_to_5,
    6: _migrate_to_6, 7: _migrate_to_7}
SCHEMA_VERSION = max(MIGRATIONS)
WAL_SIZE_LIMIT_BYTES = 64 * 1024 * 1024  # the -wal file is cut back to this after a checkpoint


def open_database(path: str) -> sqlite3.Connection:
    """A connection to `path` (created when missing), its schema at `SCHEMA_VERSION`."""
    try:
        db = sqlite3.connect(path, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None,
                             check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        # A WAL is reused from its start after a checkpoint, but its file keeps its largest size
        # unless this limit truncates it then: without it a burst leaves a 60+ MB -wal file behind.
        # The limit is well above what a steady load keeps (the checkpoint thread restarts the WAL
        # at about 8 MB): a cut to 16 MB came at every other restart under load, and the commit that
        # made it (an ftruncate, then the file grown again block by block) stalled the event loop
        # for 4-10 ms, the SQLite loads' p99. The checkpoint thread empties an idle WAL instead.
        db.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT_BYTES}")
        # Statement journals (a savepoint's or a multi-row statement's undo) and sorts stay in
        # memory: on disk each was a temporary file created, unlinked and closed on the event loop.
        db.execute("PRAGMA temp_store=MEMORY")
        migrate(db, path)
    except sqlite3.DatabaseError as exc:
        raise ConfigError(f"store: cannot open SQLite file {path!r}: {exc}") from exc
    return db


def schema_version(db: sqlite3.Connection) -> int:
    """The file's version; 0 for a new (empty) file."""
    row = db.execute("SELECT name FROM sqlite_master WHERE type='table' AND name='schema_version'").fetchone()
    if row is None:
        return 0
    found = db.execute("SELECT version FROM schema_version").fetchone()
    return int(found[0]) if found else 0


def migrate(db: sqlite3.Connection, path: str = "") -> int:
    """Run the missing migrations, each in its own transaction; refuse a newer file. The version."""
    db.execute("BEGIN IMMEDIATE")
    try:
        version = schema_version(db)
        if version > SCHEMA_VERSION:
            raise ConfigError(f"store: {path or 'the SQLite file'} has schema version {version}, newer than "
                              f"this mock-epay understands ({SCHEMA_VERSION}); upgrade mock-epay or use "
                              f"another file")
        if version == 0:
            db.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
            db.execute("INSERT INTO schema_version VALUES (0)")
        for target in range(version + 1, SCHEMA_VERSION + 1):
            MIGRATIONS[target](db)
            db.execute("UPDATE schema_version SET version = ?", (target,))
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    return SCHEMA_VERSION
