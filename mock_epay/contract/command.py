"""`mock-epay contract`: its flags, and one run from flags to exit code.

Exit 0: the two gateways answer alike (apart from allowed, known differences); 1: drift;
2: a gateway could not be reached, the flows could not run, or the flags were not usable.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
from pathlib import Path
from typing import Any, TextIO

import aiohttp

from mock_epay.contract.client import Exchange, GatewayClient, RunAborted
from mock_epay.contract.compare import AllowFileError, AllowList, compare
from mock_epay.contract.flows import Credentials, FlowRun, InvoiceNumbers
from mock_epay.contract.report import EXIT_ERROR, RunResult, dumps, json_report, render_table
from mock_epay.contract.targets import Gateway, TargetError, build_gateway, default_pause, refuse_production

DEFAULT_MAX_REQUESTS = 60  # one run needs 35 per gateway
DEFAULT_TIMEOUT = 20.0
_DEFAULTS = Credentials()


def add_contract_parser(sub: Any) -> None:
    """Register `mock-epay contract` on the CLI's subparsers."""
    parser = sub.add_parser(
        "contract",
        help="run the same flows against two gateways and report drift (exit 0 same, 1 drift, 2 error)",
        description="Run one scripted set of flows against two ePay gateways (e.g. mock-epay and the "
                    "bank's test gateway) with the same credentials and compare the answers field by "
                    "field: HTTP status, keys, JSON types, enumerations and formats, never volatile values.",
    )
    parser.add_argument("--left", required=True, metavar="URL", help="API base of the first gateway")
    parser.add_argument("--right", required=True, metavar="URL", help="API base of the second gateway")
    for side in ("left", "right"):
        parser.add_argument(f"--{side}-oauth", metavar="URL",
                            help=f"OAuth base or token URL of the {side} gateway (default: the bank's "
                                 "OAuth host for a bank API host, else the API's origin)")
        parser.add_argument(f"--{side}-widget", metavar="URL",
                            help=f"payment-api.js URL of the {side} gateway (default: derived likewise)")
    parser.add_argument("--json", dest="json_file", type=Path, metavar="FILE",
                        help="write the JSON report here")
    parser.add_argument("--allow", dest="allow_files", action="append", type=Path, default=[], metavar="FILE",
                        help="YAML list of known differences (repeatable), on top of the shipped one")
    parser.add_argument("--no-shipped-allow", dest="shipped_allow", action="store_false",
                        help="do not apply the shipped known_differences.yaml")
    parser.add_argument("--client-id", default=_DEFAULTS.client_id,
                        help="(default: the public test merchant)")
    parser.add_argument("--client-secret", default=_DEFAULTS.client_secret)
    parser.add_argument("--terminal", default=_DEFAULTS.terminal, help="terminal UUID")
    parser.add_argument("--account-id", default=_DEFAULTS.account_id, help="customer with saved cards")
    parser.add_argument("--card-id", default=_DEFAULTS.card_id, help="saved card that approves")
    parser.add_argument("--declined-card-id", default=_DEFAULTS.declined_card_id,
                        help="saved card that declines")
    parser.add_argument("--auth-terminal", metavar="UUID",
                        help="two-stage terminal for the charge and cancel flows, so their payment stays "
                             "AUTH (default: --terminal)")
    parser.add_argument("--post-link", metavar="URL",
                        help="postLink sent with each payment (default: none is sent)")
    parser.add_argument("--pause", type=float, metavar="SECONDS",
                        help="pause between requests (default 0.3 s to a non-loopback host, 0 on loopback)")
    parser.add_argument("--max-requests", type=int, default=DEFAULT_MAX_REQUESTS,
                        help=f"requests per gateway at most (default {DEFAULT_MAX_REQUESTS})")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, help="seconds per request")
    parser.add_argument("--allow-production", action="store_true",
                        help="allow production hosts (refused by default: the flows make payments)")


def run_contract(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Run `mock-epay contract` from parsed flags; print the table, write the JSON; return the exit code."""
    out = out or sys.stdout
    try:
        left = build_gateway("left", args.left, args.left_oauth, args.left_widget)
        right = build_gateway("right", args.right, args.right_oauth, args.right_widget)
        refuse_production((left, right), args.allow_production)
        allow = AllowList.load(args.allow_files, shipped=args.shipped_allow)
        _check_limits(args)
    except (TargetError, AllowFileError, ValueError) as exc:
        print(f"mock-epay contract: {exc}", file=sys.stderr)
        return EXIT_ERROR
    credentials = Credentials(
        client_id=args.client_id, client_secret=args.client_secret, terminal=args.terminal,
        account_id=args.account_id, card_id=args.card_id, declined_card_id=args.declined_card_id,
        post_link=args.post_link, auth_terminal=args.auth_terminal,
    )
    result = asyncio.run(_run_both(left, right, credentials, args))
    if result.comparison is not None:
        result.comparison = allow.split(result.comparison)
    out.write(render_table(result))
    if args.json_file:
        args.json_file.write_text(dumps(json_report(result)), encoding="utf-8")
    return result.exit_code


def _check_limits(args: argparse.Namespace) -> None:
    if args.pause is not None and not 0 <= args.pause <= 60:
        raise ValueError("--pause must be between 0 and 60 seconds")
    if not 1 <= args.max_requests <= 500:
        raise ValueError("--max-requests must be between 1 and 500")
    if not 0 < args.timeout <= 300:
        raise ValueError("--timeout must be between 0 and 300 seconds")


async def _run_both(left: Gateway, right: Gateway, credentials: Credentials,
                    args: argparse.Namespace) -> RunResult:
    """Both gateways at once, each at its own pace; errors are collected, not raised."""
    result = RunResult(left=left, right=right, exchanges={"left": [], "right": []},
                       requests={"left": 0, "right": 0})
    outcomes = await asyncio.gather(
        _run_one(left, credentials, args, result), _run_one(right, credentials, args, result),
        return_exceptions=True,
    )
    for outcome in outcomes:
        if isinstance(outcome, RunAborted):
            result.errors.append(outcome)
        elif isinstance(outcome, BaseException):
            raise outcome
    if not result.errors:
        result.comparison = compare(result.exchanges["left"], result.exchanges["right"])
    return result


async def _run_one(gateway: Gateway, credentials: Credentials, args: argparse.Namespace,
                   result: RunResult) -> list[Exchange]:
    pause = args.pause if args.pause is not None else default_pause(gateway)
    connector = aiohttp.TCPConnector(limit=1)
    async with aiohttp.ClientSession(connector=connector, trust_env=not gateway.is_loopback) as session:
        client = GatewayClient(gateway, session, pause=pause, max_requests=args.max_requests,
                               timeout=args.timeout)
        run = FlowRun(client, credentials, InvoiceNumbers(random.Random()))
        try:
            exchanges = await run.run()
        finally:
            result.requests[gateway.name] = client.sent
            result.exchanges[gateway.name] = run.exchanges
        return exchanges
