"""The command line: `mock-epay serve` and friends; `python -m mock_epay` runs it too."""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import gc
import logging
import os
import sys
from collections.abc import Sequence
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mock-epay", description="A local sandbox of Halyk Bank's ePay payment gateway.",
        epilog=_TOP_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"mock-epay {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="{serve,check-scenarios,contract,cryptogram}")
    _serve_parser(sub)
    _check_parser(sub)
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


def serve(settings: Settings) -> int:
    """`mock-epay serve`: 0 after SIGTERM / SIGINT, 2 when it cannot start (one line says why)."""
    from mock_epay.app import create_app
    from mock_epay.scenarios.schema import ScenarioError
    from mock_epay.web.admin_guard import AUTO_TOKEN, exposure_problem, is_loopback, resolve_admin_token
    from mock_epay.web.server import run

    if not 0 <= settings.port <= 65535:
        print(f"mock-epay: port must be 0-65535, got {settings.port}", file=sys.stderr)
        return 2
    generated = settings.admin_token == AUTO_TOKEN
    settings = resolve_admin_token(settings)
    problem = exposure_problem(settings)
    if problem:
        print(f"mock-epay: {problem}", file=sys.stderr)
        return 2
    try:
        app = create_app(settings)
    except ScenarioError as exc:
        print(f"mock-epay: bad scenario file, not starting:\n{exc}", file=sys.stderr)
        return 2
    except ConfigError as exc:
        print(f"mock-epay: {exc}", file=sys.stderr)
        return 2

    def listening() -> None:
        log.info("mock-epay %s listening on http://%s:%s", __version__, settings.host, settings.port)
        if generated and settings.admin_token:
            log.info("admin token (generated, MOCK_EPAY_ADMIN_TOKEN=auto): %s", settings.admin_token)
        elif settings.admin_token is None and not is_loopback(settings.host):
            log.warning("the /_mock/ admin API is open to anyone who reaches this port (allow_open_admin)")
        release_startup_memory()

    return run(app, settings.host, settings.port, settings.header_timeout, on_listening=listening)


def release_startup_memory() -> None:
    """Give the heap that start-up needed only once (schema compilation, YAML) back to the OS."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to trim
        ctypes.CDLL("libc.so.6").malloc_trim(0)


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
    except ConfigError as exc:
        print(f"mock-epay: {exc}", file=sys.stderr)
        return 2
    return serve(settings)
