"""`mock-epay export` / `mock-epay import`: a durable sandbox's state to a JSON file and back.

`mock-epay export --store URL > state.json` writes the document `mock_epay.store.export` builds;
`mock-epay import --store URL state.json` (or `-` for stdin) replaces the store's state by it, so a
sandbox moves between SQLite files, PostgreSQL databases, or from one to the other. Stop the
servers on the target store first (they keep a little state in process: the delivery log's
copies, compiled overrides). A store that cannot be opened, or a file that is not an export, is
one line on stderr and exit 2.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from mock_epay.settings import ConfigError, Settings


def store_arguments(command: Any, what: str, config_use: str = "its merchants") -> None:
    """`--store URL` (required) and `--config FILE` of a command that works on a store (export,
    import, reset)."""
    command.set_defaults(subparser=command)
    command.add_argument("--store", dest="store", metavar="URL", required=True,
                         help=f"the store to {what}, e.g. sqlite:///var/lib/mock-epay/sandbox.db")
    command.add_argument("--config", dest="config_file", type=Path,
                         help=f"the YAML config the server runs with ({config_use})")


def add_state_parsers(sub: Any) -> None:
    export = sub.add_parser(
        "export", help="print a durable sandbox's state as JSON (merchants, tokens, transactions, ...)",
        description="Print the store's state as one JSON document on stdout: merchants, tokens, "
                    "transactions with their history, saved cards (with their sandbox card numbers), "
                    "3-D Secure holds, callback deliveries, scenario state and the clock offset.")
    store_arguments(export, "read")
    imported = sub.add_parser(
        "import", help="replace a durable sandbox's state by a `mock-epay export` document",
        description="Clear the store and write the document's state into it. Stop the servers on "
                    "the store first.")
    store_arguments(imported, "write")
    imported.add_argument("file", metavar="FILE", help="the export to read ('-' for stdin)")


def _open(settings: Settings) -> Any:
    from mock_epay.core.clock import Clock
    from mock_epay.core.fakedata import FakeData
    from mock_epay.store.open import open_store_for

    return open_store_for(settings, Clock(), FakeData(settings.seed))


def run_export(settings: Settings) -> int:
    from mock_epay.store.export import export_state
    from mock_epay.store.open import close_store

    try:
        store = _open(settings)
    except ConfigError as exc:
        print(f"mock-epay: {exc}", file=sys.stderr)
        return 2
    try:
        state = export_state(store)
    finally:
        close_store(store)
    if settings.store.startswith("memory:"):
        print("mock-epay: memory:// keeps nothing between starts; this is the config's merchants only",
              file=sys.stderr)
    json.dump(state, sys.stdout, ensure_ascii=False, indent=1)
    sys.stdout.write("\n")
    return 0


def _read(name: str) -> Any:
    text = sys.stdin.read() if name == "-" else Path(name).read_text(encoding="utf-8")
    return json.loads(text)


def run_import(settings: Settings, file: str) -> int:
    from mock_epay.store.export import StateFileError, import_state
    from mock_epay.store.open import close_store

    try:
        state = _read(file)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        print(f"mock-epay: cannot read {file!r} as JSON: {exc}", file=sys.stderr)
        return 2
    try:
        store = _open(settings)
    except ConfigError as exc:
        print(f"mock-epay: {exc}", file=sys.stderr)
        return 2
    try:
        done = import_state(store, state)
    except StateFileError as exc:
        print(f"mock-epay: {file}: {exc}", file=sys.stderr)
        return 2
    finally:
        close_store(store)
    print(f"mock-epay: imported into {settings.store}: {done.summary()}")
    return 0
