"""The command line, run as a user runs it: a real process, a real port, the health endpoint."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


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
