"""Scenario files: precise errors for bad files, no half-loading, reload and watching, check-scenarios."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from mock_epay.cli import main
from mock_epay.scenarios.engine import ScenarioEngine
from mock_epay.scenarios.schema import ScenarioError
from mock_epay.scenarios.watch import WATCHER
from mock_epay.settings import Settings
from mock_epay.web.app_keys import ENGINE
from tests.test_scenario_library import trigger

GOOD = """\
# 100 declines with 465
- name: decline-100
  description: declines 100
  match: {amount: 100}
  outcome: {preset: blocked_card}
"""
OTHER_GOOD = """\
# 100 declines with 484
- name: decline-100-funds
  description: declines 100 for lack of funds
  match: {amount: 100}
  outcome: {preset: insufficient_funds}
"""
RULE = "- name: {name}\n  description: d\n  match: {match}\n  outcome: {outcome}\n"

BAD_FILES = {
    "wrong type": (RULE.format(name="a", match="{amount: lots}", outcome="{result: approve}"),
                   "rule index 0 ('a'), line 3: key 'match.amount': must be number or array or object, "
                   "got 'lots' (a string)"),
    "unknown outcome": (RULE.format(name="a", match="{}", outcome="{result: explode}"),
                        "key 'outcome.result': 'explode' is not one of approve, decline"),
    "bad regex": (RULE.format(name="a", match="{invoiceId: {regex: '([a-'}}", outcome="{result: approve}"),
                  "key 'match.invoiceId.regex': bad regular expression '([a-'"),
    "unknown reasonCode": (
        RULE.format(name="ok", match="{}", outcome="{result: approve}")
        + RULE.format(name="a", match="{}", outcome="{result: decline, reasonCode: 999}"),
        "rule index 1 ('a'), line 8: key 'outcome.reasonCode': 999 is not a reason code of spec 9.1"),
    "empty file": ("", "the file is empty; a scenario file is a list of rules"),
    "only comments": ("# nothing yet\n", "the file is empty"),
    "YAML syntax error": ("- name: a\n  description: [unclosed\n",
                          "not valid YAML: while parsing a flow sequence at line 2"),
    "unknown match key": (RULE.format(name="a", match="{amout: 5}", outcome="{result: approve}"),
                          "key 'match': unknown key 'amout' (known keys: amount,"),
    "unknown rule key": (RULE.format(name="a", match="{}", outcome="{result: approve}") + "  colour: red\n",
                         "rule index 0 ('a'), line 5: unknown key 'colour'"),
    "not a list": ("name: a\n", "a scenario file is a list of rules"),
    "duplicate name": (RULE.format(name="a", match="{}", outcome="{result: approve}") * 2,
                       "rule index 1 ('a'), line 5: name 'a' is already used by"),
    "decline without code": (RULE.format(name="a", match="{}", outcome="{result: decline}"),
                             "a decline needs a reasonCode"),
    "empty sequence": ("- name: a\n  description: d\n  match: {}\n  outcomes: []\n",
                       "key 'outcomes': must not be an empty list"),
    "server error status": (RULE.format(name="a", match="{}", outcome="{result: server_error, "
                                                                       "http_status: 501}"),
                            "a server_error is one of 500, 502, 503, got 501"),
    "missing name": ("- description: d\n  match: {}\n  outcome: {result: approve}\n",
                     "rule index 0, line 1: missing key 'name'"),
    "alias bomb": ("a: &a [1,1,1,1,1,1,1,1,1,1]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
                   "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
                   "e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: [*e,*e]\n",
                   "more than 100000 values once anchors and aliases are expanded"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_file_gets_a_precise_error(tmp_path, case):
    text, expected = BAD_FILES[case]
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ScenarioError) as caught:
        ScenarioEngine([path])
    message = str(caught.value)
    assert message.startswith(f"{path}: ")
    assert expected in message


def test_ten_megabyte_file_is_refused_before_parsing(tmp_path):
    path = tmp_path / "huge.yaml"
    path.write_bytes(b"- name: x\n" + b"#" * (10 * 1024 * 1024))
    with pytest.raises(ScenarioError) as caught:
        ScenarioEngine([path])
    assert str(caught.value) == (f"{path}: 10485770 bytes is more than the 1048576-byte limit for a "
                                 f"scenario file; split it into several files")


def test_every_problem_of_every_file_is_reported(tmp_path):
    one = tmp_path / "one.yaml"
    one.write_text(RULE.format(name="a", match="{amount: x}", outcome="{result: approve}")
                   + RULE.format(name="b", match="{}", outcome="{result: nope}"))
    two = tmp_path / "two.yaml"
    two.write_text("")
    with pytest.raises(ScenarioError) as caught:
        ScenarioEngine([one, two])
    assert [p.split(":")[0] for p in caught.value.problems] == [str(one), str(one), str(two)]


def test_directory_loads_yaml_files_in_name_order(tmp_path):
    (tmp_path / "b.yaml").write_text(OTHER_GOOD)
    (tmp_path / "a.yml").write_text(GOOD)
    (tmp_path / "notes.txt").write_text("not a scenario")
    engine = ScenarioEngine([tmp_path], include_defaults=False)
    assert [r.name for r in engine.rules] == ["decline-100", "decline-100-funds"]


async def test_bad_file_never_stops_a_running_server_and_reload_keeps_old_rules(make_client, tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text(GOOD)
    client = await make_client(Settings(log_requests=False, scenario_paths=(path,)))
    assert (await (await trigger(client, {"amount": 100})).json())["code"] == 465
    for text, _ in BAD_FILES.values():
        path.write_text(text)
        response = await client.post("/_mock/scenarios/reload")
        assert response.status == 400
        body = await response.json()
        assert body["code"] == -1
        assert body["message"].startswith(f"reload refused, the previous rules stay in force: {path}")
        assert (await (await trigger(client, {"amount": 100})).json())["code"] == 465
    listing = await (await client.get("/_mock/scenarios")).json()
    assert listing["last_error"].startswith(str(path))
    path.write_text(OTHER_GOOD)
    response = await client.post("/_mock/scenarios/reload")
    assert response.status == 200
    assert (await (await trigger(client, {"amount": 100})).json())["code"] == 484


async def test_bad_file_at_start_up_is_refused(make_client, tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("- nope\n")
    with pytest.raises(ScenarioError):
        await make_client(Settings(log_requests=False, scenario_paths=(path,)))


async def wait_for(condition, what: str) -> None:
    for _ in range(200):  # bounded: at most 200 x 10 ms
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


async def test_watched_directory_reloads_on_change_and_survives_a_bad_save(make_client, tmp_path, caplog):
    (tmp_path / "mine.yaml").write_text(GOOD)
    client = await make_client(Settings(log_requests=False, scenario_paths=(tmp_path,),
                                        watch_scenarios=True, scenario_watch_interval=0.02))
    watcher = client.app[WATCHER]
    assert (await (await trigger(client, {"amount": 100})).json())["code"] == 465

    (tmp_path / "mine.yaml").write_text("- name: [broken\n")
    await wait_for(lambda: watcher.failures == 1, "the bad save to be noticed")
    assert (await (await trigger(client, {"amount": 100})).json())["code"] == 465
    assert "scenario reload refused" in caplog.text

    (tmp_path / "mine.yaml").unlink()
    (tmp_path / "new.yaml").write_text(OTHER_GOOD)
    await wait_for(lambda: watcher.reloads == 1, "the new file to load")
    assert (await (await trigger(client, {"amount": 100})).json())["code"] == 484
    assert client.app[ENGINE].last_error is None


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mock_epay", *args],
                          capture_output=True, text=True, timeout=30)


def test_check_scenarios_accepts_good_files(tmp_path, capsys):
    good = tmp_path / "good.yaml"
    good.write_text(GOOD)
    assert main(["check-scenarios", str(good)]) == 0
    assert capsys.readouterr().out == f"{good}: ok, 1 rules\n"


def test_check_scenarios_without_arguments_checks_the_shipped_library(capsys):
    assert main(["check-scenarios"]) == 0
    out = capsys.readouterr().out
    for name in ("default.yaml", "declines.yaml", "chaos.yaml", "operations.yaml"):
        assert name in out


def test_check_scenarios_names_file_rule_and_problem(tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text(GOOD)
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD_FILES["unknown reasonCode"][0])
    result = run_cli("check-scenarios", str(good), str(bad), str(tmp_path / "missing.yaml"))
    assert result.returncode == 1
    assert f"{tmp_path / 'missing.yaml'}: no such file or directory" in result.stderr
    assert (f"{bad}: rule index 1 ('a'), line 8: key 'outcome.reasonCode': 999 is not a reason code"
            in result.stderr)


def test_serve_refuses_a_bad_scenario_file(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("")
    assert main(["serve", "--port", "0", "--scenarios", str(bad)]) == 2
    assert f"{bad}: the file is empty" in capsys.readouterr().err


def test_serve_flags_reach_the_settings():
    from mock_epay.cli import _cli_overrides, build_parser

    args = build_parser().parse_args(["serve", "--scenarios", "a.yaml", "--scenarios", "dir",
                                      "--no-default-scenarios", "--watch-scenarios"])
    overrides = _cli_overrides(args)
    assert overrides["scenario_paths"] == (Path("a.yaml"), Path("dir"))
    assert overrides["default_scenarios"] is False and overrides["watch_scenarios"] is True
    plain = _cli_overrides(build_parser().parse_args(["serve"]))
    assert plain["default_scenarios"] is None and "scenario_paths" not in plain


def test_every_problem_of_a_rule_is_reported_on_the_line_of_its_key(tmp_path):
    path = tmp_path / "three.yaml"
    path.write_text("- name: three-mistakes\n"
                    "  description: d\n"
                    "  colour: red\n"
                    "  match: {amount: lots}\n"
                    "  outcome:\n"
                    "    result: decline\n"
                    "    reasonCode: 999\n")
    with pytest.raises(ScenarioError) as caught:
        ScenarioEngine([path])
    where = f"{path}: rule index 0 ('three-mistakes')"
    assert caught.value.problems == [
        f"{where}, line 3: unknown key 'colour' (known keys: name, description, match, header_only, "
        f"outcome, outcomes, sequence_by)",
        f"{where}, line 4: key 'match.amount': must be number or array or object, got 'lots' (a string)",
        f"{where}, line 7: key 'outcome.reasonCode': 999 is not a reason code of spec 9.1 "
        f"(known: -1, 454-473, 475-505, 521-529, 703, 1612, 1636, 1654, 1759, 2092)",
    ]


def test_check_scenarios_names_shipped_files_by_name_never_by_a_package_path(capsys):
    assert main(["check-scenarios"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("default.yaml (shipped): ok, ")
    assert all("/" not in line and "mock_epay" not in line for line in out)


APPROVE_THEN_DECLINE = """\
- name: approve-then-decline
  description: approves, then would decline
  match: {invoiceId: {regex: "^77"}}
  outcomes:
    - {result: approve}
    - {result: decline, reasonCode: 466}
"""


def test_check_scenarios_warns_about_a_step_after_an_approve(tmp_path, capsys):
    path = tmp_path / "seq.yaml"
    path.write_text(APPROVE_THEN_DECLINE)
    assert main(["check-scenarios", str(path)]) == 0
    captured = capsys.readouterr()
    assert captured.out == f"{path}: ok, 1 rules, 1 warning(s)\n"
    assert captured.err.startswith(
        f"{path}: rule index 0 ('approve-then-decline'), line 6: warning: outcomes[1] can never be "
        f"used: outcomes[0] approves the invoice")


def readme_rule() -> str:
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    block = readme.split("# Declines the first attempt of any invoice starting with 77", 1)[1]
    return "# Declines" + block.split("```", 1)[0]


async def test_the_readme_example_declines_the_first_attempt_then_approves(tmp_path, make_client, capsys):
    path = tmp_path / "readme.yaml"
    path.write_text(readme_rule())
    assert main(["check-scenarios", str(path)]) == 0
    assert capsys.readouterr().err == ""  # no warning
    client = await make_client(Settings(log_requests=False, scenario_paths=(path,)))
    first = await trigger(client, {"amount": 1000}, invoice="770000001")
    assert first.status == 400 and (await first.json())["code"] == 466
    retry = await trigger(client, {"amount": 1000}, invoice="770000001")
    assert retry.status == 200 and (await retry.json())["code"] == 0


def test_the_shipped_rule_validator_was_generated_from_the_current_schema() -> None:
    """`rule_validator.py` is fastjsonschema's output for RULE_SCHEMA, pre-generated for start-up time:
    after a schema change run `python scripts/rule_validator.py`."""
    from mock_epay.scenarios import rule_validator
    from mock_epay.scenarios.schema import _rule_validator, schema_digest

    assert schema_digest() == rule_validator.SCHEMA_SHA256
    assert _rule_validator() is rule_validator.validate


def test_the_generated_validator_refuses_what_the_compiled_one_refuses() -> None:
    import fastjsonschema

    from mock_epay.scenarios import rule_validator
    from mock_epay.scenarios.schema import RULE_SCHEMA

    compiled = fastjsonschema.compile(RULE_SCHEMA)
    samples = [{"name": "ok", "outcome": {"kind": "approve"}}, {"name": "x", "outcome": {"kind": 5}},
               {"outcome": {"kind": "decline"}}, {"name": "m", "match": {"amount": {"gt": -1}},
                                                  "outcome": {"kind": "approve"}}, []]
    for sample in samples:
        results = []
        for validate in (compiled, rule_validator.validate):
            try:
                validate(sample)
                results.append("ok")
            except fastjsonschema.JsonSchemaValueException as exc:
                results.append(exc.message)
        assert results[0] == results[1], sample
