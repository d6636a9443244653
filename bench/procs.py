"""Processes for the bench: spawning a server and timing its first healthy answer, /proc, the receiver.

Everything binds and connects to 127.0.0.1. Every wait here is bounded by a timeout.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
HOST = "127.0.0.1"
TICK = os.sysconf("SC_CLK_TCK")
STARTUP_POLL_S = 0.001  # the health path is polled every millisecond: start-up figures are to ~1 ms


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def http_get(port: int, path: str, timeout: float = 1.0) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def http_post(port: int, path: str, timeout: float = 2.0) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request("POST", path, body=b"")
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


# -- /proc ---------------------------------------------------------------------------


def _stat_fields(pid: int) -> list[str]:
    # Fields after the command name (which may hold spaces): [0] is state, [1] ppid, [11] utime.
    return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (from /proc/PID/stat)."""
    fields = _stat_fields(pid)
    return (int(fields[11]) + int(fields[12])) / TICK


def children_map() -> dict[int, list[int]]:
    """ppid -> pids of every live process (one pass over /proc)."""
    tree: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError):
            tree.setdefault(int(_stat_fields(int(entry.name))[1]), []).append(int(entry.name))
    return tree


def descendants(pid: int) -> list[int]:
    """`pid` and every live process below it."""
    tree, found, todo = children_map(), [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(tree.get(current, []))
    return found


def tree_cpu_seconds(pid: int) -> float:
    """CPU of `pid` and its live descendants, plus what its exited, reaped children used."""
    total = 0.0
    for member in descendants(pid):
        with contextlib.suppress(OSError, IndexError):
            fields = _stat_fields(member)
            total += (int(fields[11]) + int(fields[12])) / TICK
            if member == pid:
                total += (int(fields[13]) + int(fields[14])) / TICK  # cutime + cstime
    return total


def rss_mb(pid: int) -> float:
    """VmRSS of a process in MB (from /proc/PID/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, all cores (from /proc/stat)."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    total = sum(values[:8])  # guest time is already inside user
    return (total - idle) / TICK, total / TICK


def children_cpu_seconds() -> float:
    """CPU used so far by this process's exited, waited-for children (wrk runs, mostly)."""
    usage = os.times()
    return usage.children_user + usage.children_system


# -- servers -------------------------------------------------------------------------


@dataclass
class Server:
    """A subprocess serving HTTP on `port`, its output going to a log file."""

    name: str
    argv: list[str]
    port: int
    health_path: str
    log_path: Path
    ready_lines: int = 0  # with > 0: also wait for that many "listening on" lines in the log
    proc: subprocess.Popen[bytes] | None = None
    healthy_after_ms: float = 0.0

    def start(self, timeout: float = 30.0) -> Server:
        """Spawn and poll the health path every millisecond; records ms from spawn to the first 200."""
        log = self.log_path.open("ab")
        spawned_at = time.perf_counter()
        self.proc = subprocess.Popen(self.argv, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        log.close()
        deadline = spawned_at + timeout
        while time.perf_counter() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}; see {self.log_path}")
            with contextlib.suppress(OSError, http.client.HTTPException):
                status, _ = http_get(self.port, self.health_path, timeout=0.5)
                if status == 200:
                    self.healthy_after_ms = (time.perf_counter() - spawned_at) * 1000
                    self._wait_for_ready_lines(deadline)
                    return self
            time.sleep(STARTUP_POLL_S)
        self.stop()
        raise RuntimeError(f"{self.name} not healthy within {timeout}s; see {self.log_path}")

    def _wait_for_ready_lines(self, deadline: float) -> None:
        """With several workers the first answers before the others listen: wait for all of them."""
        while self.ready_lines and time.perf_counter() < deadline:
            text = self.log_path.read_text(errors="replace")
            if len(re.findall(r"listening on http://", text)) >= self.ready_lines:
                return
            time.sleep(0.02)
        if self.ready_lines:
            self.stop()
            raise RuntimeError(f"{self.name}: not all {self.ready_lines} workers listened; "
                               f"see {self.log_path}")

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def rss_mb(self) -> float:
        """VmRSS of the process tree (workers included; shared pages counted once per process)."""
        return sum(rss_mb(pid) for pid in descendants(self.pid) if Path(f"/proc/{pid}").exists())

    def cpu_seconds(self) -> float:
        """CPU of the server and every worker it forked."""
        return tree_cpu_seconds(self.pid)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def mock_server(port: int, log_path: Path, extra: list[str], workers: int = 1) -> Server:
    """`python -m mock_epay serve` as a user starts it (request log on unless `extra` says --quiet)."""
    argv = [sys.executable, "-m", "mock_epay", "serve", "--host", HOST, "--port", str(port), *extra]
    if workers > 1:
        argv += ["--workers", str(workers)]
    return Server("mock-epay", argv, port, "/_mock/health", log_path,
                  ready_lines=workers if workers > 1 else 0)


def bare_server(port: int, log_path: Path) -> Server:
    argv = [sys.executable, str(BENCH / "bare_app.py"), "--port", str(port)]
    return Server("bare aiohttp", argv, port, "/", log_path)


class Receiver:
    """bench/receiver.py in its own process: the merchant's postLink."""

    def __init__(self, log_dir: Path) -> None:
        self.port = free_port()
        argv = [sys.executable, str(BENCH / "receiver.py"), "--port", str(self.port)]
        self.server = Server("callback receiver", argv, self.port, "/stats", log_dir / "receiver.log")
        self.url = f"http://{HOST}:{self.port}/cb"

    def __enter__(self) -> Receiver:
        self.server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.stop()

    def stats(self) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(http_get(self.port, "/stats", timeout=5)[1])
        return result

    def cpu_seconds(self) -> float:
        return self.server.cpu_seconds()

    def reset(self) -> None:
        http_post(self.port, "/reset")

    def settle(self, timeout: float, quiet_for: float) -> tuple[dict[str, Any], float]:
        """Wait until no callback arrived for `quiet_for` s (or `timeout`); the stats and the wait.

        Payments in flight when wrk stopped still get callbacks, so the count may exceed the
        payments wrk saw answered by up to the number of connections.
        """
        started = time.perf_counter()
        last_count, last_change = -1, started
        while True:
            stats = self.stats()
            now = time.perf_counter()
            if stats["count"] != last_count:
                last_count, last_change = stats["count"], now
            if now - last_change >= quiet_for or now - started >= timeout:
                return stats, now - started
            time.sleep(0.05)
