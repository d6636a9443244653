"""`mock-epay contract`: a drift check that runs the same flows against two gateways and compares them.

Modules: `targets` (hosts, production refusal, pauses), `client` (bounded HTTP exchanges),
`flows` (the scripted requests), `shape` (descriptors of answers), `compare` (field-by-field
diff and the allow-list), `report` (table and JSON), `command` (flags and exit code).
"""

from mock_epay.contract.command import add_contract_parser, run_contract

__all__ = ["add_contract_parser", "run_contract"]
