"""The flags of `mock-epay contract`, kept apart from the check itself so `mock-epay serve` starts
without importing it (the check needs aiohttp's client, the flows and the comparer)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mock_epay.settings import (
    TEST_ACCOUNT_ID,
    TEST_CLIENT_ID,
    TEST_CLIENT_SECRET,
    TEST_SAVED_CARDS,
    TEST_TERMINAL_ID,
)

DEFAULT_MAX_REQUESTS = 60  # one run needs 35 per gateway
DEFAULT_TIMEOUT = 20.0


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
    parser.add_argument("--client-id", default=TEST_CLIENT_ID,
                        help="(default: the public test merchant)")
    parser.add_argument("--client-secret", default=TEST_CLIENT_SECRET)
    parser.add_argument("--terminal", default=TEST_TERMINAL_ID, help="terminal UUID")
    parser.add_argument("--account-id", default=TEST_ACCOUNT_ID, help="customer with saved cards")
    parser.add_argument("--card-id", default=TEST_SAVED_CARDS[0].id or "", help="saved card that approves")
    parser.add_argument("--declined-card-id", default=TEST_SAVED_CARDS[2].id or "",
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
