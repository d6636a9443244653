"""The real server process stops promptly: SIGTERM during a hanging request, slow clients, busy ports."""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

from tests.conftest import TOKEN_PATH, token_form
from tests.test_cards_auth import payment_body
from tests.test_cli import free_port, wait_healthy

HANG_RULE = """\
- name: hang-everything
  description: every payment hangs until the client gives up
  match: {}
  outcome: {result: hang}
"""


def start_server(port: int, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "mock_epay", "serve", "--port", str(port), "--seed", "1", *args],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


def post_json(url: str, body: dict, token: str, timeout: float) -> None:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST", headers={
        "Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with contextlib.suppress(OSError):  # the request ends with the server; its answer is not the point
        urllib.request.urlopen(request, timeout=timeout).read()


def fetch_token(port: int) -> str:
    data = urllib.parse.urlencode(token_form()).encode()
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{TOKEN_PATH}", data=data, timeout=5) as r:
        return json.loads(r.read())["access_token"]


def port_is_closed(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
    except OSError:
        return True
    return False


def test_sigterm_during_a_hanging_request_exits_within_ten_seconds_with_code_zero(tmp_path: Path):
    rules = tmp_path / "hang.yaml"
    rules.write_text(HANG_RULE)
    port = free_port()
    process = start_server(port, "--scenarios", str(rules))
    try:
        wait_healthy(port, time.monotonic() + 20)
        token = fetch_token(port)
        hanging = threading.Thread(target=post_json, daemon=True, args=(
            f"http://127.0.0.1:{port}/payments/cards/auth", payment_body(), token, 60))
        hanging.start()
        time.sleep(0.5)  # the request is now inside the hang
        sent = time.monotonic()
        process.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        assert port_is_closed(port)
        output, _ = process.communicate(timeout=30)
        took = time.monotonic() - sent
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    print(f"SIGTERM with a hanging request: exit code {process.returncode} after {took:.2f} s")
    assert process.returncode == 0
    assert took < 10
    assert "mock-epay: SIGTERM, shutting down" in output
    assert "Traceback" not in output
    hanging.join(timeout=5)


def test_a_client_sending_headers_a_byte_at_a_time_is_cut_off():
    port = free_port()
    process = start_server(port, "--header-timeout", "1")
    try:
        wait_healthy(port, time.monotonic() + 20)
        request = b"GET /_mock/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 40
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            started = time.monotonic()
            answer = b""
            for byte in request:
                try:
                    sock.sendall(bytes([byte]))
                except OSError:
                    break
                sock.settimeout(0.5)
                try:
                    chunk = sock.recv(4096)
                except TimeoutError:
                    continue
                answer += chunk
                break  # answered (408) or closed (b"")
            closed_after = time.monotonic() - started
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    print(f"slow headers (a byte every 0.5 s, header timeout 1 s): cut off after {closed_after:.2f} s")
    assert closed_after < 2.5
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert b"request headers not complete within 1 s" in answer
    assert "request headers not complete within 1 s" in output


def test_a_busy_port_is_one_line_and_exit_code_two():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "mock_epay", "serve", "--port", str(port)],
            capture_output=True, text=True, timeout=30,
        )
    assert result.returncode == 2
    assert f"mock-epay: cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr
    assert "listening" not in result.stderr


def test_an_out_of_range_port_is_refused_before_binding():
    result = subprocess.run([sys.executable, "-m", "mock_epay", "serve", "--port", "99999"],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert "port must be 0-65535, got 99999" in result.stderr
    assert "Traceback" not in result.stderr and "listening" not in result.stderr


def test_a_non_numeric_port_variable_names_the_variable_and_the_type():
    env = {"MOCK_EPAY_PORT": "abc", "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-m", "mock_epay", "serve"],
                            capture_output=True, text=True, timeout=30, env=env)
    assert result.returncode == 2
    expected = "mock-epay: environment variable MOCK_EPAY_PORT='abc': expected an integer"
    assert result.stderr.strip() == expected
