"""`mock-epay serve --workers N`: N processes on one port and one shared store, stopped together.

A real `mock-epay serve --workers 2 --store postgresql://...` is started on the session's throwaway
cluster (tests/pg_cluster.py). Which worker owns which connection is read from /proc (Linux).
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import aiohttp
import pytest

from tests.pg_cluster import pg_store_url, postgres_url  # noqa: F401  (fixtures)
from tests.test_cli import free_port, wait_healthy
from tests.test_postgres_store import pay, payment_token

PROC = Path("/proc")


class Workers:
    """A `serve --workers` parent process, its output collected as it comes."""

    def __init__(self, port: int, store_url: str, workers: int = 2) -> None:
        self.port = port
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            [sys.executable, "-m", "mock_epay", "serve", "--port", str(port), "--store", store_url,
             "--quiet", "--workers", str(workers)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)

    def worker_pids(self, count: int, deadline: float) -> list[int]:
        """The pids of the workers once each has logged that it listens."""
        while time.monotonic() < deadline:
            pids = [int(m.group(1)) for line in list(self.lines)
                    if (m := re.search(r"listening on http://\S+ \(pid (\d+)\)", line))]
            if len(pids) >= count:
                return pids
            time.sleep(0.05)
        raise AssertionError("workers did not all start:\n" + "".join(self.lines))

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
        self._reader.join(timeout=5)
        return code


def established_on_port(pid: int, port: int) -> int:
    """How many established TCP connections to `port` process `pid` holds (from /proc)."""
    inodes = set()
    for fd in (PROC / str(pid) / "fd").iterdir():
        target = os.readlink(fd) if fd.is_symlink() else ""
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    count = 0
    for table in ("tcp", "tcp6"):
        for line in (PROC / str(pid) / "net" / table).read_text().splitlines()[1:]:
            fields = line.split()
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            if local_port == port and fields[3] == "01" and fields[9] in inodes:  # 01: ESTABLISHED
                count += 1
    return count


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = (PROC / str(pid) / "status").read_text() if (PROC / str(pid)).exists() else ""
    return "State:\tZ" not in status


def test_workers_on_the_memory_store_are_refused_with_one_line_and_exit_2():
    process = subprocess.run([sys.executable, "-m", "mock_epay", "serve", "--port", str(free_port()),
                              "--workers", "2"], capture_output=True, text=True, timeout=60)
    assert process.returncode == 2
    lines = process.stderr.strip().splitlines()
    assert lines == ["mock-epay: --workers 2 needs a store the processes share (--store postgresql://...); "
                     "memory:// lives inside one process"]


@pytest.mark.skipif(not (PROC / "self" / "net" / "tcp").exists(), reason="reads connections from Linux /proc")
async def test_two_workers_share_one_port_and_one_store_and_stop_together(pg_store_url):  # noqa: F811
    port = free_port()
    workers = Workers(port, pg_store_url)
    try:
        wait_healthy(port, time.monotonic() + 60)
        pids = workers.worker_pids(2, time.monotonic() + 30)
        base = f"http://127.0.0.1:{port}"
        connector = aiohttp.TCPConnector(limit=0, force_close=False)
        async with aiohttp.ClientSession(connector=connector) as session:
            tokens = await asyncio.gather(*(payment_token(session, base, "000000501") for _ in range(30)))
            answers = await asyncio.gather(*(pay(session, base, token, "000000501") for token in tokens))
            # the 30 connections are still open: the kernel spread them over both workers
            held = {pid: established_on_port(pid, port) for pid in pids}
        assert all(count > 0 for count in held.values()), held
        assert [status for status, _ in answers].count(200) == 1, answers
        assert all(body["code"] == -1 for status, body in answers if status != 200)
    finally:
        code = workers.stop()
    assert code == 0, "".join(workers.lines)
    assert not any(alive(pid) for pid in pids)
    assert sum("shutting down" in line for line in workers.lines) == 2
