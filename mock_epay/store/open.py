"""Opening the store a `--store URL` names: `memory://` (the default), `sqlite:///path/sandbox.db`,
`postgresql://user@host:port/db`.

Each scheme maps to one opener taking the URL and the store's common arguments, so adding a
backend is one entry in `OPENERS` plus its module. An unknown scheme or a malformed URL is a
`ConfigError` naming the setting, which the CLI prints as one line before exiting 2.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import msgspec

from mock_epay.core.clock import Clock
from mock_epay.core.fakedata import FakeData
from mock_epay.gateway.models import Merchant
from mock_epay.settings import ConfigError, Settings
from mock_epay.store.memory import MemoryStore

if TYPE_CHECKING:  # imported when a sqlite:// URL is opened: memory:// never loads sqlite3
    from mock_epay.store.sqlite import SqliteStore

DEFAULT_STORE_URL = "memory://"


class StoreArgs(msgspec.Struct, frozen=True):
    """What every backend is opened with, besides its URL."""

    merchants: Iterable[Merchant]
    clock: Clock
    fake: FakeData
    max_transactions: int = 20_000
    journal_size: int = 500
    delivery_log_size: int = 5000


def _open_memory(url: str, args: StoreArgs) -> MemoryStore:
    return MemoryStore(args.merchants, args.clock, args.fake, max_transactions=args.max_transactions,
                       journal_size=args.journal_size)


def _open_postgres(url: str, args: StoreArgs) -> MemoryStore:
    try:
        from mock_epay.store.postgres import PostgresStore
    except ImportError:
        raise ConfigError("store: a postgresql:// store needs psycopg 3: pip install 'mock-epay[postgres]'") \
            from None
    # mypy reads the store Protocols' methods as abstract on these mixin-built classes
    store = PostgresStore(url, args.merchants, args.clock, args.fake,  # type: ignore[abstract]
                          max_transactions=args.max_transactions,
                          journal_size=args.journal_size, delivery_log_size=args.delivery_log_size)
    return store  # type: ignore[return-value]  # the same contract and composed calls


def sqlite_path(url: str) -> str:
    """The file `sqlite:///abs/path.db` names (`:memory:` for `sqlite:///:memory:`)."""
    path = url.split("://", 1)[1]
    if path in ("/:memory:", ":memory:"):
        return ":memory:"
    if not path.strip("/"):
        raise ConfigError(f"store: {url[:80]!r} names no file; use sqlite:///path/to/sandbox.db")
    return path


def _open_sqlite(url: str, args: StoreArgs) -> SqliteStore:
    from mock_epay.store.sqlite import SqliteStore

    # mypy reads the store Protocols' methods as abstract on these mixin-built classes
    return SqliteStore(args.merchants, args.clock, args.fake,  # type: ignore[abstract]
                       max_transactions=args.max_transactions,
                       journal_size=args.journal_size, path=sqlite_path(url),
                       delivery_log_size=args.delivery_log_size)


Opener = Callable[[str, StoreArgs], "MemoryStore | SqliteStore"]
OPENERS: dict[str, Opener] = {
    "memory": _open_memory,
    "sqlite": _open_sqlite,
    "postgresql": _open_postgres,
    "postgres": _open_postgres,
}


def store_scheme(url: str) -> str:
    """The URL's scheme, checked against the known backends (ConfigError otherwise)."""
    scheme = urlsplit(url).scheme.lower()
    if scheme not in OPENERS:
        known = ", ".join(f"{name}://" for name in OPENERS)
        raise ConfigError(f"store: {url[:80]!r} is not a store URL this mock knows (use one of: {known})")
    return scheme


def open_store_for(settings: Settings, clock: Clock, fake: FakeData) -> MemoryStore | SqliteStore:
    """The store `settings.store` names, with the settings' merchants and retention caps (the server,
    `mock-epay reset`, `export` and `import` all open it this way)."""
    return open_store(settings.store, StoreArgs(settings.merchants, clock, fake,
                                                max_transactions=settings.max_transactions,
                                                journal_size=settings.journal_size,
                                                delivery_log_size=settings.callback_log_size))


def close_store(store: Any) -> None:
    """Close a durable store's connections (a memory store has none)."""
    close = getattr(store, "close", None)
    if close is not None:
        close()


def open_store(url: str, args: StoreArgs) -> MemoryStore | SqliteStore:
    """The store `url` names, opened (and, for a durable backend, its schema created or migrated)."""
    return OPENERS[store_scheme(url)](url, args)
