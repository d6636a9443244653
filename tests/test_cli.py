"""The command line, run as a user runs it: a real process, a real port, the health endpoint."""

from __future__ import annotations

import json
import logging
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from mock_epay.core.log_format import SafeFormatter


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_healthy(port: int, deadline: float) -> dict:
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_mock/health", timeout=1) as r:
                return json.loads(r.read())
        except OSError:
            time.sleep(0.02)
    raise AssertionError("server did not become healthy")


def test_python_dash_m_serves_and_logs_one_line_per_request(tmp_path: Path):
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "mock_epay", "serve", "--port", str(port), "--seed", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        health = wait_healthy(port, time.monotonic() + 15)
        assert health["status"] == "ok"
        assert health["version"]
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=10)
    assert process.returncode == 0
    assert "GET /_mock/health 200" in output


def test_bad_config_exits_non_zero_with_the_key(tmp_path: Path):
    config = tmp_path / "bad.yaml"
    config.write_text("port: nope\n")
    result = subprocess.run(
        [sys.executable, "-m", "mock_epay", "serve", "--config", str(config)],
        capture_output=True, text=True, timeout=30,
    )
    assert result.returncode == 2
    assert str(config) in result.stderr and "'port'" in result.stderr


def test_version_flag():
    result = subprocess.run([sys.executable, "-m", "mock_epay", "--version"],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0
    assert "mock-epay" in result.stdout


def test_a_crlf_in_the_path_cannot_forge_a_log_line():
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "mock_epay", "serve", "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        wait_healthy(port, time.monotonic() + 15)
        forged = "/x%0d%0a2026-01-01%2000:00:00%20mock_epay%20FORGED"
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}{forged}", timeout=5)
        except urllib.error.HTTPError as exc:
            assert exc.code == 404
        time.sleep(0.2)  # the access log is flushed in batches
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=10)
    [line] = [line for line in output.splitlines() if "FORGED" in line]
    assert "GET /x\\r\\n2026-01-01 00:00:00 mock_epay FORGED 404" in line
    assert not line.startswith("2026-01-01")


def test_log_records_are_one_line_each_with_control_characters_escaped():
    record = logging.LogRecord("mock_epay", logging.WARNING, __file__, 1,
                               "callback to %s failed", ("http://shop/\r\nFAKE line\x1b[31m",), None)
    text = SafeFormatter("%(name)s %(message)s").format(record)
    assert text == "mock_epay callback to http://shop/\\r\\nFAKE line\\x1b[31m failed"


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mock_epay", *args],
                          capture_output=True, text=True, timeout=30)


def test_help_names_the_demo_the_dashboard_the_test_credentials_and_the_docs():
    result = run_cli("--help")
    assert result.returncode == 0
    for expected in ("http://127.0.0.1:8080/_mock/demo", "http://127.0.0.1:8080/_mock/ui/",
                     "client_id=test", "client_secret=yF587AV9Ms94qN2QShFzVR3vFnWkhjbAK3sG",
                     "docs/scenarios.md", "README", "mock-epay serve --help"):
        assert expected in result.stdout


def test_serve_help_gives_every_flag_its_environment_variable():
    from mock_epay.cli import build_parser

    serve = build_parser()._subparsers._group_actions[0].choices["serve"]
    flags = [action for action in serve._actions if action.option_strings and action.dest != "help"]
    assert len(flags) >= 12
    for action in flags:
        assert "env MOCK_EPAY_" in action.help, action.option_strings
    assert "MOCK_EPAY_HEADER_TIMEOUT" in run_cli("serve", "--help").stdout


def test_a_mistyped_serve_flag_shows_the_usage_of_serve():
    result = run_cli("serve", "--prot", "8080")
    assert result.returncode == 2
    assert result.stderr.startswith("usage: mock-epay serve ")
    assert "mock-epay serve: error: unrecognized arguments: --prot 8080" in result.stderr


def test_an_unknown_store_url_is_one_line_and_exit_2(tmp_path, capsys):
    from mock_epay.cli import main

    assert main(["serve", "--port", "0", "--store", "nosuch://x"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "nosuch://x" in err and "memory://" in err


def test_the_store_setting_comes_from_flag_env_and_config(tmp_path):
    from mock_epay.settings import build_settings

    config = tmp_path / "c.yaml"
    config.write_text("store: memory://\n", encoding="utf-8")
    assert build_settings({}, {}).store == "memory://"
    assert build_settings({"config_file": config}, {}).store == "memory://"
    assert build_settings({}, {"MOCK_EPAY_STORE": "memory://x"}).store == "memory://x"
    assert build_settings({"store": "memory://y"}, {"MOCK_EPAY_STORE": "memory://x"}).store == "memory://y"


def test_a_started_server_collects_garbage_less_often_than_cpythons_default():
    """`release_startup_memory` (run once the server listens) freezes start-up objects and raises the
    collector's thresholds: the p99 of the payment load halves with them (docs/benchmarks.md)."""
    import gc

    from mock_epay.cli import GC_THRESHOLDS, release_startup_memory

    before = gc.get_threshold()
    try:
        release_startup_memory()
        assert gc.get_threshold() == GC_THRESHOLDS
        assert GC_THRESHOLDS[0] > 700 and gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
