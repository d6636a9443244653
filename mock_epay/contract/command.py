"""`mock-epay contract`: its flags, and one run from flags to exit code.

Exit 0: the two gateways answer alike (apart from allowed, known differences); 1: drift;
2: a gateway could not be reached, the flows could not run, or the flags were not usable.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
from typing import TextIO

import aiohttp

from mock_epay.contract.client import Exchange, GatewayClient, RunAborted
from mock_epay.contract.compare import AllowFileError, AllowList, compare
from mock_epay.contract.flows import Credentials, FlowRun, InvoiceNumbers
from mock_epay.contract.report import EXIT_ERROR, RunResult, dumps, json_report, render_table
from mock_epay.contract.targets import Gateway, TargetError, build_gateway, default_pause, refuse_production


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
