"""`mock-epay contract`: a drift check that runs the same flows against two gateways and compares them.

Modules: `targets` (hosts, production refusal, pauses), `client` (bounded HTTP exchanges),
`flows` (the scripted requests), `shape` (descriptors of answers), `compare` (field-by-field
diff and the allow-list), `report` (table and JSON), `command` (flags and exit code).
"""

from __future__ import annotations

import argparse
from typing import TextIO

from mock_epay.contract.flags import add_contract_parser

__all__ = ["add_contract_parser", "run_contract"]


def run_contract(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """`mock-epay contract` (imported on use: `serve` never loads the check)."""
    from mock_epay.contract.command import run_contract as run

    return run(args, out)
