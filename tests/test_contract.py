"""`mock-epay contract` between two real mock servers on loopback: same, drifted, unreachable, refused."""

from __future__ import annotations

import json
import shlex
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from mock_epay.cli import build_parser, main
from mock_epay.contract.targets import build_gateway, refuse_production
from mock_epay.gateway.models import Terminal, evolve
from mock_epay.settings import DEFAULT_MERCHANT, TEST_SAVED_CARDS, Settings
from mock_epay.testing import MockEpay, MockEpayServer

TWO_STAGE_TERMINAL = "5a0e4a5e-7c0f-4f8e-9d55-0c7c3a1d2b01"
MERCHANT = evolve(DEFAULT_MERCHANT, terminals=(
    *DEFAULT_MERCHANT.terminals, Terminal(id=TWO_STAGE_TERMINAL, number="98120009", two_stage=True),
))
# Every setting the drift tests flip is set explicitly on both sides, so other defaults may change.
BASE = Settings(log_requests=False, merchants=(MERCHANT,), payment_expires_in_as_string=True)


@pytest.fixture(scope="module")
def reference() -> Iterator[MockEpay]:
    with MockEpayServer(BASE) as handle:
        yield handle


@pytest.fixture(scope="module")
def twin() -> Iterator[MockEpay]:
    with MockEpayServer(BASE) as handle:
        yield handle


@pytest.fixture(scope="module")
def numeric_expires_in() -> Iterator[MockEpay]:
    with MockEpayServer(evolve(BASE, payment_expires_in_as_string=False)) as handle:
        yield handle


def run(capsys: pytest.CaptureFixture[str], tmp_path: Path, left: str, right: str,
        *flags: str) -> tuple[int, str, dict]:
    report = tmp_path / "report.json"
    code = main(["contract", "--left", left, "--right", right, "--json", str(report),
                 "--auth-terminal", TWO_STAGE_TERMINAL, *flags])
    captured = capsys.readouterr()
    data = json.loads(report.read_text(encoding="utf-8")) if report.exists() else {}
    return code, captured.out + captured.err, data


def steps(report: dict, side: str) -> dict[str, dict]:
    return {step["flow"]: step for step in report["steps"][side]}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_two_mocks_with_the_same_settings_agree_and_exit_0(capsys, tmp_path, reference, twin):
    code, out, report = run(capsys, tmp_path, reference.api_url, twin.api_url)

    assert code == 0, out
    assert "no drift (exit 0)" in out
    assert report["outcome"] == "no drift" and report["drift"] == []
    left = steps(report, "left")
    # every flow of the issue ran for real: the two-stage payment is charged, the refunds go through
    assert left["paid/cards-auth"]["status"] == 200
    assert left["declined/cards-auth"]["body"]["code"] == 465
    assert left["charge/charge"]["status"] == 200
    assert left["cancel/cancel"]["status"] == 200
    assert left["refund-partial/refund"]["status"] == 200
    assert left["errors/duplicate-invoice"]["body"]["code"] == -1
    assert left["widget/script"]["shape"]["script: global halyk"] == "present"
    assert left["paid/status"]["shape"]["$.transaction.createdDate"] == "string rfc3339"
    assert left["paid/cards-auth"]["shape"]["$.reference"] == "string digits(12)"
    # each gateway got its own invoice numbers
    assert left["paid/status"]["request"].rsplit("/", 1)[1] != \
        steps(report, "right")["paid/status"]["request"].rsplit("/", 1)[1]
    assert report["requests"]["left"] == report["requests"]["right"] <= 60


def test_a_numeric_payment_expires_in_is_drift_named_by_flow_and_field(
        capsys, tmp_path, reference, numeric_expires_in):
    code, out, report = run(capsys, tmp_path, reference.api_url, numeric_expires_in.api_url)

    assert code == 1
    row = next(line for line in out.splitlines() if line.startswith("paid/token-urlencoded"))
    # the same difference in the 8 payment-token steps is one row of the table
    assert row.split() == ["paid/token-urlencoded", "(and", "7", "more)", "$.expires_in", "string",
                           "digits(4)", "integer"]
    assert "DRIFT: 1 difference(s), 8 field(s) in 8 flow(s) (exit 1)" in out
    assert {"flow": "paid/token-urlencoded", "field": "$.expires_in", "left": "string digits(4)",
            "right": "integer"} in report["drift"]
    assert {d["field"] for d in report["drift"]} == {"$.expires_in"}  # nothing else differs


def test_a_different_http_status_for_an_unknown_invoice_is_drift(capsys, tmp_path, reference):
    with MockEpayServer(evolve(BASE, status_unknown_http=200)) as other, \
            MockEpayServer(evolve(BASE, status_unknown_http=400)) as left:
        code, out, report = run(capsys, tmp_path, left.api_url, other.api_url)

    assert code == 1
    assert {"flow": "unknown-invoice/status", "field": "HTTP status", "left": "400", "right": "200"} \
        in report["drift"]
    assert "unknown-invoice/status" in out


def test_a_known_difference_in_an_allow_file_is_reported_but_not_counted(
        capsys, tmp_path, reference, numeric_expires_in):
    allow = tmp_path / "ours.yaml"
    allow.write_text(
        "- flow: '*/*token*'\n"
        "  field: $.expires_in\n"
        "  right: integer\n"
        "  reason: our bank sends expires_in as a number\n",
        encoding="utf-8",
    )
    code, out, report = run(capsys, tmp_path, reference.api_url, numeric_expires_in.api_url,
                            "--allow", str(allow))

    assert code == 0, out
    assert "8 known difference(s) allowed" in out
    assert "our bank sends expires_in as a number" in out
    assert report["drift"] == [] and len(report["allowed"]) == 8
    assert report["allowed"][0]["rule_source"] == str(allow)


def test_an_unreachable_right_side_exits_2_naming_the_step(capsys, tmp_path, reference):
    dead = f"http://127.0.0.1:{free_port()}/api"
    code, out, report = run(capsys, tmp_path, reference.api_url, dead)

    assert code == 2
    assert "ERROR: right gateway, step tokens/service-urlencoded" in out
    assert "the flows could not run" in out
    assert report["outcome"] == "could not run"
    assert report["errors"] == [{"gateway": "right", "step": "tokens/service-urlencoded",
                                 "why": report["errors"][0]["why"], "unreachable": True}]
    assert "Cannot connect" in report["errors"][0]["why"] or "refused" in report["errors"][0]["why"]


def test_wrong_credentials_stop_the_run_with_exit_2_and_the_reason(capsys, tmp_path, reference, twin):
    code, out, _ = run(capsys, tmp_path, reference.api_url, twin.api_url, "--client-secret", "nope")

    assert code == 2
    assert "no access_token in the service-token answer (HTTP 401" in out


def test_the_request_budget_bounds_a_run(capsys, tmp_path, reference, twin):
    code, out, report = run(capsys, tmp_path, reference.api_url, twin.api_url, "--max-requests", "5")

    assert code == 2
    assert "request budget of 5 requests is spent" in out
    assert report["requests"] == {"left": 5, "right": 5}


def test_production_hosts_are_refused_without_allow_production(capsys, tmp_path, reference):
    code, err, report = run(capsys, tmp_path, reference.api_url, "https://epay-api.homebank.kz")

    assert code == 2 and report == {}
    assert "epay-api.homebank.kz is a production host" in err and "--allow-production" in err


def test_no_full_card_number_reaches_the_table_or_the_json(capsys, tmp_path, reference, numeric_expires_in):
    report_path = tmp_path / "report.json"
    code, out, _ = run(capsys, tmp_path, reference.api_url, numeric_expires_in.api_url)
    text = out + report_path.read_text(encoding="utf-8")

    assert code == 1
    for card in TEST_SAVED_CARDS:
        assert card.card_number not in text
    assert "440563...5096" in text  # the saved-card list shows the mask


ROOT = Path(__file__).resolve().parent.parent


def documented_commands() -> list[tuple[str, list[str]]]:
    """Every `mock-epay contract ...` command line in the README, docs/contract.md and the nightly job."""
    commands = []
    for name in ("README.md", "docs/contract.md", "examples/contract-nightly.yml"):
        text = (ROOT / name).read_text(encoding="utf-8").replace("\\\n", " ")
        for line in text.splitlines():
            if line.strip().startswith("mock-epay contract "):
                argv = shlex.split(line.split("|")[0])[1:]
                commands.append((name, argv))
    return commands


def test_the_documented_commands_target_the_banks_test_hosts_with_flags_that_exist():
    commands = documented_commands()
    assert {name for name, _ in commands} == {"README.md", "docs/contract.md",
                                              "examples/contract-nightly.yml"}
    for name, argv in commands:
        args = build_parser().parse_args(argv)
        right = build_gateway("right", args.right, args.right_oauth, args.right_widget)
        refuse_production((right,), allow_production=False)
        assert right.token_url == "https://testoauth.homebank.kz/epay2/oauth2/token", name
        assert right.widget_url == "https://test-epay.homebank.kz/payform/payment-api.js", name
        assert args.json_file is not None, name
