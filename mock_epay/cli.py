"""The command line: `mock-epay serve` and friends; `python -m mock_epay` runs it too."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import dataclasses
import gc
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mock_epay import __version__
from mock_epay.contract import add_contract_parser, run_contract
from mock_epay.core.log_format import SafeFormatter
from mock_epay.cryptogram_command import add_cryptogram_parser, run_cryptogram
from mock_epay.gateway.sandbox_cards import TEST_CARDS
from mock_epay.settings import (
    TEST_CLIENT_ID,
    TEST_CLIENT_SECRET,
    TEST_TERMINAL_ID,
    ConfigError,
    Settings,
    build_settings,
)
from mock_epay.state_command import add_state_parsers, run_export, run_import, store_arguments

log = logging.getLogger("mock_epay")

_CARD = TEST_CARDS[0]
_TOP_EPILOG = f"""\
once `mock-epay serve` runs (default http://127.0.0.1:8080):
  demo shop     http://127.0.0.1:8080/_mock/demo   (a declined payment in the browser)
  dashboard     http://127.0.0.1:8080/_mock/ui/    (transactions and their callbacks)
  OpenAPI       http://127.0.0.1:8080/_mock/openapi.json
  health        http://127.0.0.1:8080/_mock/health

test credentials (POST /oauth2/token, grant_type=client_credentials):
  client_id={TEST_CLIENT_ID}  client_secret={TEST_CLIENT_SECRET}
  terminal={TEST_TERMINAL_ID}
  test card: {_CARD.pan} ({_CARD.brand}, expiry {_CARD.expiry}, CVC {_CARD.cvc}); the payment page
  lists the others

docs: the README (pip show -f mock-epay; or the project page), docs/scenarios.md,
docs/callbacks.md, docs/admin.md, docs/pytest.md, docs/docker.md in the source tree.
run `mock-epay serve --help` for every flag and its environment variable."""


def _port(text: str) -> int:
    """argparse type: a TCP port 0-65535."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer port 0-65535, got {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port must be 0-65535, got {port}")
    return port


def _workers(text: str) -> int:
    """argparse type: a number of server processes, 1 or more."""
    try:
        count = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of processes, got {text!r}") from None
    if count < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {count}")
    return count


def workers_from(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    """`--workers`, else `MOCK_EPAY_WORKERS`, else 1 (ConfigError for a bad value)."""
    if getattr(args, "workers", None) is not None:
        return int(args.workers)
    try:
        return _workers(env.get("MOCK_EPAY_WORKERS", "1"))
    except argparse.ArgumentTypeError as exc:
        raise ConfigError(f"MOCK_EPAY_WORKERS: {exc}") from None


def _serve_parser(sub: Any) -> None:
    serve = sub.add_parser(
        "serve", help="run the mock gateway",
        description="Run the mock gateway. Every flag has an environment variable; precedence: "
                    "defaults < config file < environment < command line.",
    )
    serve.set_defaults(subparser=serve)
    serve.add_argument("--host", help="address to bind (default 127.0.0.1; env MOCK_EPAY_HOST)")
    serve.add_argument("--port", type=_port, help="port (default 8080; env MOCK_EPAY_PORT)")
    serve.add_argument("--config", dest="config_file", type=Path,
                       help="YAML config file: merchants, terminals, saved cards, settings "
                            "(env MOCK_EPAY_CONFIG)")
    serve.add_argument("--seed", type=int,
                       help="seed for generated data, makes a run reproducible (env MOCK_EPAY_SEED)")
    serve.add_argument("--public-url", dest="public_url",
                       help="base URL browsers use to reach the mock (env MOCK_EPAY_PUBLIC_URL)")
    serve.add_argument("--admin-token", dest="admin_token",
                       help="token required by the /_mock/ admin API; 'auto' generates one "
                            "(env MOCK_EPAY_ADMIN_TOKEN)")
    serve.add_argument("--allow-open-admin", dest="allow_open_admin", action="store_true", default=None,
                       help="serve the /_mock/ admin API without a token even on a non-loopback "
                            "address (env MOCK_EPAY_ALLOW_OPEN_ADMIN=1)")
    serve.add_argument("--quiet", action="store_true",
                       help="do not log one line per request (env MOCK_EPAY_LOG_REQUESTS=0)")
    serve.add_argument("--scenarios", dest="scenario_paths", action="append", type=Path,
                       metavar="FILE_OR_DIR",
                       help="scenario rules file or directory; repeatable; tried in the order "
                            "given, before the shipped library (env MOCK_EPAY_SCENARIOS, "
                            "':'-separated)")
    serve.add_argument("--no-default-scenarios", dest="default_scenarios", action="store_false",
                       default=None, help="do not load the shipped scenarios/ library "
                                          "(env MOCK_EPAY_DEFAULT_SCENARIOS=0)")
    serve.add_argument("--watch-scenarios", dest="watch_scenarios", action="store_true",
                       default=None, help="reload scenario files when they change "
                                          "(env MOCK_EPAY_WATCH_SCENARIOS=1)")
    serve.add_argument("--store", dest="store", metavar="URL",
                       help="where state lives: memory:// (default, fresh every start) or a durable "
                            "backend's URL (env MOCK_EPAY_STORE)")
    serve.add_argument("--workers", type=_workers, metavar="N",
                       help="serve the port from N processes (default 1); needs a shared store "
                            "such as --store postgresql://... (env MOCK_EPAY_WORKERS)")
    serve.add_argument("--header-timeout", dest="header_timeout", type=float, metavar="SECONDS",
                       help="close a connection whose request headers are not complete this long "
                            "after their first byte (default 10; env MOCK_EPAY_HEADER_TIMEOUT)")


def _check_parser(sub: Any) -> None:
    check = sub.add_parser(
        "check-scenarios",
        help="validate scenario files; exit 1 naming the file, rule, line and every problem",
    )
    check.set_defaults(subparser=check)
    check.add_argument("files", nargs="*", type=Path, metavar="FILE_OR_DIR",
                       help="files or directories to check (default: the shipped library)")


def _reset_parser(sub: Any) -> None:
    reset = sub.add_parser(
        "reset", help="clear a durable sandbox's state (transactions, tokens, cards, callbacks, clock)",
        description="Clear a durable sandbox: tokens, transactions, saved cards, 3-D Secure holds, the "
                    "journal, the delivery log and pending callbacks, scenario state and the clock offset. "
                    "Merchants stay; config cards are saved again. Stop the server first.",
    )
    store_arguments(reset, "clear", config_use="its merchants' cards are saved again")


def reset_store(settings: Settings) -> int:
    """`mock-epay reset --store URL`: 0 once cleared, 2 when the store cannot be opened."""
    from mock_epay.core.clock import Clock
    from mock_epay.core.fakedata import FakeData
    from mock_epay.store.open import close_store, open_store_for

    try:
        store = open_store_for(settings, Clock(), FakeData(settings.seed))
    except ConfigError as exc:
        print(f"mock-epay: {exc}", file=sys.stderr)
        return 2
    try:
        clear = getattr(store, "clear", None)
        if clear is None:
            print(f"mock-epay: {settings.store} keeps nothing between starts; nothing to reset")
            return 0
        clear()
    finally:
        close_store(store)
    print(f"mock-epay: cleared {settings.store}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mock-epay", description="A local sandbox of Halyk Bank's ePay payment gateway.",
        epilog=_TOP_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"mock-epay {__version__}")
    sub = parser.add_subparsers(dest="command",
                                metavar="{serve,check-scenarios,contract,reset,export,import,cryptogram}")
    _serve_parser(sub)
    _check_parser(sub)
    _reset_parser(sub)
    add_state_parsers(sub)
    add_contract_parser(sub)
    add_cryptogram_parser(sub)
    return parser


def _cli_overrides(args: argparse.Namespace) -> dict[str, Any]:
    names = ("host", "port", "config_file", "seed", "public_url", "admin_token",
             "default_scenarios", "watch_scenarios", "allow_open_admin", "header_timeout", "store")
    overrides = {name: getattr(args, name, None) for name in names}
    if getattr(args, "scenario_paths", None):
        overrides["scenario_paths"] = tuple(args.scenario_paths)
    if getattr(args, "quiet", False):
        overrides["log_requests"] = False
    return overrides


def check_scenarios(files: Sequence[Path]) -> int:
    """`mock-epay check-scenarios FILE...`: 0 when every file is good, 1 with every problem.

    Each problem names the file, the rule and the line of the bad key; warnings (a sequence
    step that can never be reached) are printed too but do not fail the check.
    """
    from mock_epay.scenarios.engine import shipped_paths
    from mock_epay.scenarios.schema import ScenarioError, display_name, file_warnings, read_rule_files

    paths = list(files) or shipped_paths()
    missing = [p for p in paths if not p.exists()]
    for path in missing:
        print(f"{path}: no such file or directory", file=sys.stderr)
    try:
        loaded = read_rule_files([p for p in paths if p.exists()])
    except ScenarioError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 1
    if missing:
        return 1
    if not loaded:
        print("no scenario files found in " + ", ".join(map(str, paths)), file=sys.stderr)
        return 1
    for path, rules in loaded:
        warnings = file_warnings(path)
        for warning in warnings:
            print(warning, file=sys.stderr)
        note = f", {len(warnings)} warning(s)" if warnings else ""
        print(f"{display_name(path)}: ok, {len(rules)} rules{note}")
    return 0


def served_settings(settings: Settings) -> Settings:
    """What `serve` runs with: `callback_sender: auto` means a helper process for a served mock."""
    if settings.callback_sender == "auto":
        return settings.with_overrides(callback_sender="process")
    return settings


def serve(settings: Settings, workers: int = 1) -> int:
    """`mock-epay serve`: 0 after SIGTERM / SIGINT, 2 when it cannot start (one line says why).

    With `workers` > 1, that many processes serve one port (the store must be shared).
    """
    from mock_epay.web.admin_guard import AUTO_TOKEN, exposure_problem, resolve_admin_token
    from mock_epay.web.server import run, run_workers

    if not 0 <= settings.port <= 65535:
        print(f"mock-epay: port must be 0-65535, got {settings.port}", file=sys.stderr)
        return 2
    generated = settings.admin_token == AUTO_TOKEN
    settings = resolve_admin_token(settings)
    settings = served_settings(settings)
    problem = exposure_problem(settings) or _workers_problem(settings, workers)
    if problem:
        print(f"mock-epay: {problem}", file=sys.stderr)
        return 2
    app = _build_app(settings)
    if app is None:
        return 2
    if workers == 1:
        return run(app, settings.host, settings.port, settings.header_timeout,
                   on_listening=_on_listening(settings, generated))
    _close_store(app)  # checked (and the schema migrated) once; each worker opens its own
    del app

    def worker(index: int, port: int) -> int:
        # A seed per worker: the same seed in two processes would make the same ids and tokens.
        seed = None if settings.seed is None else settings.seed + index
        worker_settings = dataclasses.replace(settings, port=port, seed=seed)
        worker_app = _build_app(worker_settings)
        if worker_app is None:
            return 2
        return run(worker_app, settings.host, port, settings.header_timeout,
                   on_listening=_on_listening(worker_settings, generated), reuse_port=True)

    return run_workers(workers, settings.host, settings.port, worker)


def _workers_problem(settings: Settings, workers: int) -> str | None:
    from mock_epay.store.open import store_scheme

    if workers > 1 and store_scheme(settings.store) == "memory":
        return (f"--workers {workers} needs a store the processes share (--store postgresql://...); "
                "memory:// lives inside one process")
    return None


def _build_app(settings: Settings) -> Any:
    """The app for `settings`, or None after printing why it cannot start."""
    from mock_epay.app import create_app
    from mock_epay.scenarios.schema import ScenarioError

    try:
        return create_app(settings)
    except ScenarioError as exc:
        print(f"mock-epay: bad scenario file, not starting:\n{exc}", file=sys.stderr)
    except ConfigError as exc:
        print(f"mock-epay: {exc}", file=sys.stderr)
    return None


def _close_store(app: Any) -> None:
    from mock_epay.store.open import close_store
    from mock_epay.web.app_keys import STORE

    close_store(app[STORE])


def _on_listening(settings: Settings, generated: bool) -> Any:
    from mock_epay.web.admin_guard import is_loopback

    def listening() -> None:
        log.info("mock-epay %s listening on http://%s:%s (pid %d)", __version__, settings.host,
                 settings.port, os.getpid())
        if generated and settings.admin_token:
            log.info("admin token (generated, MOCK_EPAY_ADMIN_TOKEN=auto): %s", settings.admin_token)
        elif settings.admin_token is None and not is_loopback(settings.host):
            log.warning("the /_mock/ admin API is open to anyone who reaches this port (allow_open_admin)")
        # Not before the first answers: the port serves at once, the heap is tidied just after.
        asyncio.get_running_loop().call_later(RELEASE_DELAY_S, release_startup_memory)

    return listening


RELEASE_DELAY_S = 0.05  # after listening, when release_startup_memory runs (first requests first)
GC_THRESHOLDS = (10_000, 20, 20)  # young objects before a collection; passes before the next older one


def release_startup_memory() -> None:
    """Give the heap that start-up needed only once (schema compilation, YAML) back to the OS."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to trim
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    # What start-up made lives as long as the process: keep it out of the collector's full passes,
    # so a gen-2 collection under load walks only what requests made (shorter pauses, a lower p99).
    gc.freeze()
    # Collect less often than CPython's default (700, 10, 10): the store keeps tens of thousands of
    # records alive, and each older-generation pass walks them. Measured on the token+cards/auth load
    # (wrk, 50 connections, 8 s, three alternating runs each): p99 31.6-32.5 ms with the default,
    # 17.3-19.3 ms with these, the same throughput (docs/benchmarks.md).
    gc.set_threshold(*GC_THRESHOLDS)


def _setup_logging() -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(SafeFormatter("%(asctime)s %(name)s %(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[handler])


def main(argv: Sequence[str] | None = None) -> int:
    _setup_logging()
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:  # a mistyped flag: the usage of the command it was given to
        getattr(args, "subparser", parser).error(f"unrecognized arguments: {' '.join(unknown)}")
    if args.command is None:
        parser.print_help()
        return 2
    if args.command == "check-scenarios":
        return check_scenarios(args.files)
    if args.command == "contract":
        return run_contract(args)
    if args.command == "cryptogram":
        return run_cryptogram(args)
    try:
        settings = build_settings(_cli_overrides(args), os.environ)
        workers = workers_from(args, os.environ)
    except ConfigError as exc:
        print(f"mock-epay: {exc}", file=sys.stderr)
        return 2
    if args.command == "reset":
        return reset_store(settings)
    if args.command == "export":
        return run_export(settings)
    if args.command == "import":
        return run_import(settings, args.file)
    return serve(settings, workers)
