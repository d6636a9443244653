"""The WireMock peer (`--peer wiremock`): static stubs of the token and cards/auth answers, start-up, loads.

The stubs answer with the bodies the mock itself sends, captured from a mock-epay started for
the purpose (so they track the mock's shapes). WireMock runs from its standalone jar
(`sh bench/get_wiremock.sh` fetches it from the npm registry package `wiremock`; nothing is
downloaded here) on Debian's Java, bound to 127.0.0.1, with the options WireMock documents for
performance testing: no request journal, no request logging. Without java or the jar the
peer is skipped with a note.
"""

from __future__ import annotations

import glob
import http.client
import json
import os
import shutil
import statistics
from pathlib import Path
from typing import Any

from loads import Load, Options, measured, warm_up, wrk_args
from procs import BENCH, HOST, Receiver, Server, free_port, mock_server, rss_mb

CACHE = BENCH / ".cache"
TERMINAL = "67e34d63-102f-4bd1-898e-370781d0074d"
# What pay.lua sends for its first payment: the token's scope carries the invoice (see pay.lua).
TOKEN_FORM = ("grant_type=client_credentials&client_id=test"
              "&client_secret=yF587AV9Ms94qN2QShFzVR3vFnWkhjbAK3sG"
              f"&terminal={TERMINAL}&amount=100&currency=KZT&invoiceID=77000001"
              "&scope=webapi%20usermanagement%20email_send%20verification%20statement%20statistics"
              "%20payment%20bench77000001")
PAY_BODY = {"amount": 100, "currency": "KZT", "name": "TEST TEST", "terminalId": TERMINAL,
            "invoiceId": "77000001", "description": "bench", "accountId": "testuser1",
            "email": "buyer@example.com", "phone": "77472261170", "language": "rus",
            "paymentType": "cardId", "cardId": {"id": "e7e2587f-de26-4f41-ae1f-80c1fea31728"}}
PEER_WARMUP_S = 3  # the JVM compiles its hot path during the first seconds: a longer warm-up is fairer
STARTUP_RUNS = 3
WIREMOCK_OPTIONS = ["--bind-address", HOST, "--no-request-journal", "--disable-request-logging",
                    "--disable-banner"]


def find_wiremock() -> tuple[list[str] | None, str]:
    """The java command for WireMock's standalone jar, or None and why it is skipped."""
    java = os.environ.get("JAVA") or shutil.which("java")
    jars = [os.environ["WIREMOCK_JAR"]] if os.environ.get("WIREMOCK_JAR") else sorted(
        glob.glob(str(CACHE / "wiremock-standalone-*.jar")))
    if not java:
        return None, ("note: WireMock peer skipped: no `java` on PATH "
                      "(Debian: apt-get install openjdk-17-jre-headless)")
    if not jars or not Path(jars[-1]).is_file():
        return None, ("note: WireMock peer skipped: no standalone jar; run `sh bench/get_wiremock.sh` "
                      "(or set WIREMOCK_JAR)")
    return [java, "-jar", jars[-1]], ""


def _post(port: int, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(HOST, port, timeout=10)
    try:
        conn.request("POST", path, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def capture_bodies(log_dir: Path) -> tuple[str, str]:
    """The mock's own answers to pay.lua's first token request and its payment (token JSON, auth JSON)."""
    port = free_port()
    with mock_server(port, log_dir / "peer-capture.log", ["--quiet"]):
        status, token = _post(port, "/oauth2/token", TOKEN_FORM.encode(),
                              {"Content-Type": "application/x-www-form-urlencoded"})
        if status != 200:
            raise RuntimeError(f"capturing the token answer for the stubs: {status} {token[:200]!r}")
        access = json.loads(token)["access_token"]
        status, auth = _post(port, "/payments/cards/auth", json.dumps(PAY_BODY).encode(),
                             {"Content-Type": "application/json", "Authorization": f"Bearer {access}"})
        if status != 200:
            raise RuntimeError(f"capturing the cards/auth answer for the stubs: {status} {auth[:200]!r}")
    return token.decode(), auth.decode()


def write_stubs(root: Path, token_body: str, auth_body: str) -> None:
    """WireMock mappings: POST /oauth2/token and POST /payments/cards/auth answer constant JSON."""
    mappings = root / "mappings"
    mappings.mkdir(parents=True, exist_ok=True)
    for name, path, body in (("token", "/oauth2/token", token_body),
                             ("auth", "/payments/cards/auth", auth_body)):
        stub = {"request": {"method": "POST", "urlPath": path},
                "response": {"status": 200, "body": body,
                             "headers": {"Content-Type": "application/json; charset=utf-8"}}}
        (mappings / f"{name}.json").write_text(json.dumps(stub))


def wiremock_server(command: list[str], root: Path, log_path: Path, extra: list[str]) -> Server:
    port = free_port()
    argv = [*command, "--port", str(port), "--root-dir", str(root), *WIREMOCK_OPTIONS, *extra]
    return Server("WireMock", argv, port, "/__admin/health", log_path)


def measure_wiremock(opts: Options, receiver: Receiver, extra: list[str]) -> dict[str, Any]:
    """WireMock's start-up (median of 3), idle RSS, and the token and token+cards/auth loads."""
    command, note = find_wiremock()
    if command is None:
        return {"note": note}
    root = opts.log_dir / "wiremock"
    write_stubs(root, *capture_bodies(opts.log_dir))
    log_path = opts.log_dir / "wiremock.log"
    starts, idle = [], []
    for _ in range(STARTUP_RUNS - 1):
        with wiremock_server(command, root, log_path, extra) as server:
            starts.append(server.healthy_after_ms)
            idle.append(rss_mb(server.pid))
    loads: dict[str, Load] = {}
    with wiremock_server(command, root, log_path, extra) as server:
        starts.append(server.healthy_after_ms)
        idle.append(rss_mb(server.pid))
        for key, script, args in (("token", "token.lua", wrk_args(0, opts.threads)),
                                  ("pay", "pay.lua", wrk_args(0, opts.threads, receiver.url))):
            warm_up(server.port, script, opts, args, seconds=PEER_WARMUP_S)
            loads[key] = measured(server, script, opts, args)
            loads[key].rss_after_mb = rss_mb(server.pid)
    return {"startup_ms": statistics.median(starts), "startup_all_ms": starts,
            "idle_rss_mb": statistics.median(idle), "options": " ".join([*WIREMOCK_OPTIONS, *extra]),
            "jar": command[-1], **loads}
