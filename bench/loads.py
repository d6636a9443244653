"""The loads: one wrk run with its CPU accounting; the measured ceiling, token, pay, start-up and soak.

Every wrk run is bounded (`-d` seconds, and a subprocess timeout of that plus 60 s); every
wait for callbacks is bounded by the receiver's settle timeout.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from procs import (
    BENCH,
    HOST,
    ROOT,
    Receiver,
    Server,
    bare_server,
    children_cpu_seconds,
    free_port,
    machine_busy,
    mock_server,
)

LUA = BENCH / "lua"
WRK = os.environ.get("WRK", "wrk")
# Invoice numbers: the main run uses [0, 900000), the warm-up [900000, 1000000).
WARMUP_OFFSET = 900_000
SOAK_SAMPLE_S = 5.0


@dataclass
class Options:
    duration: int
    connections: int
    threads: int
    server_args: list[str]
    quiet_runs: bool
    soak: int
    log_dir: Path
    warmup: int = 1
    store: str = ""
    peer: str = ""


@dataclass
class Load:
    """One wrk run's figures (latencies in ms; CPU in µs per HTTP request)."""

    seconds: float
    requests: int
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    token_ok: int
    auth_ok: int
    other_ok: int
    non2xx: int
    socket_errors: dict[str, int]
    first_error: str
    overflow: int
    wrk_cpu_us: float = 0.0
    machine_busy_pct: float = 0.0
    machine_busy_s: float = 0.0
    rss_before_mb: float = 0.0
    rss_after_mb: float = 0.0
    cpu_us_per_request: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def payments_per_s(self) -> float:
        return self.auth_ok / self.seconds if self.seconds else 0.0

    @property
    def errors(self) -> int:
        return self.non2xx + sum(self.socket_errors.values()) + self.overflow


def wrk_argv(port: int, script: str, seconds: float, opts: Options, script_args: list[str]) -> list[str]:
    return [WRK, f"-t{opts.threads}", f"-c{opts.connections}", f"-d{seconds}s", "--timeout", "5s",
            "-s", str(LUA / script), f"http://{HOST}:{port}", "--", *script_args]


def parse_wrk(stdout: str) -> dict[str, Any]:
    """The BENCH_JSON line the Lua scripts print ({} when wrk printed none)."""
    line = next((ln for ln in stdout.splitlines() if ln.startswith("BENCH_JSON ")), "BENCH_JSON {}")
    result: dict[str, Any] = json.loads(line.removeprefix("BENCH_JSON "))
    return result


def run_wrk(port: int, script: str, seconds: float, opts: Options, script_args: list[str]) -> Load:
    """One wrk run; also wrk's own CPU and how busy the whole machine was meanwhile."""
    wrk_cpu, (busy, total) = children_cpu_seconds(), machine_busy()
    done = subprocess.run(wrk_argv(port, script, seconds, opts, script_args), capture_output=True,
                          text=True, timeout=seconds + 60, check=False)
    busy_after, total_after = machine_busy()
    data = parse_wrk(done.stdout)
    if done.returncode != 0 or not data:
        raise RuntimeError(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    elapsed = data["duration_us"] / 1e6
    requests = max(int(data["requests"]), 1)
    return Load(
        seconds=elapsed, requests=data["requests"], rps=data["requests"] / elapsed,
        p50_ms=data["p50_us"] / 1000, p90_ms=data["p90_us"] / 1000, p99_ms=data["p99_us"] / 1000,
        max_ms=data["max_us"] / 1000, token_ok=data["token_ok"], auth_ok=data["auth_ok"],
        other_ok=data["other_ok"], non2xx=data["non2xx"], socket_errors=data["socket_errors"],
        first_error=data["first_error"], overflow=data["overflow"],
        wrk_cpu_us=(children_cpu_seconds() - wrk_cpu) * 1e6 / requests,
        machine_busy_pct=100 * (busy_after - busy) / max(total_after - total, 1e-9),
        machine_busy_s=busy_after - busy,
    )


def measured(server: Server, script: str, opts: Options, script_args: list[str],
             side_cpu: dict[str, Callable[[], float]] | None = None) -> Load:
    """One measured wrk run on `server`, with its CPU per request and that of `side_cpu` processes."""
    sides = side_cpu or {}
    cpu_before = server.cpu_seconds()
    sides_before = {name: read() for name, read in sides.items()}
    load = run_wrk(server.port, script, opts.duration, opts, script_args)
    load.cpu_us_per_request = (server.cpu_seconds() - cpu_before) * 1e6 / max(load.requests, 1)
    for name, read in sides.items():
        load.extra[f"{name}_cpu_us"] = (read() - sides_before[name]) * 1e6 / max(load.requests, 1)
    return load


def warm_up(port: int, script: str, opts: Options, script_args: list[str], seconds: float = 0) -> None:
    if seconds or opts.warmup:
        run_wrk(port, script, seconds or opts.warmup, opts, script_args)


def wrk_args(offset: int, threads: int, *more: str) -> list[str]:
    return [str(offset), str(threads), *more]


# -- scenarios ---------------------------------------------------------------------


def measure_ceiling(opts: Options) -> Load:
    port = free_port()
    with bare_server(port, opts.log_dir / "bare.log") as server:
        warm_up(port, "bare.lua", opts, wrk_args(0, opts.threads))
        load = measured(server, "bare.lua", opts, wrk_args(0, opts.threads))
        load.rss_after_mb = server.rss_mb()
    return load


def measure_token(opts: Options, extra: list[str], log_name: str) -> Load:
    port = free_port()
    with mock_server(port, opts.log_dir / log_name, extra) as server:
        rss_before = server.rss_mb()
        warm_up(port, "token.lua", opts, wrk_args(WARMUP_OFFSET * 10, opts.threads))
        load = measured(server, "token.lua", opts, wrk_args(0, opts.threads))
        load.rss_before_mb, load.rss_after_mb = rss_before, server.rss_mb()
    return load


def measure_pay(opts: Options, extra: list[str], log_name: str, receiver: Receiver, workers: int = 1,
                side_cpu: dict[str, Callable[[], float]] | None = None) -> Load:
    """Token + cards/auth on a fresh server (the 1e6 invoice suffixes are per server run)."""
    port = free_port()
    with mock_server(port, opts.log_dir / log_name, extra, workers) as server:
        rss_before = server.rss_mb()
        if opts.warmup:
            warm_up(port, "pay.lua", opts, wrk_args(WARMUP_OFFSET, opts.threads, receiver.url))
            receiver.settle(timeout=30, quiet_for=1.0)
        receiver.reset()
        sides = {"receiver": receiver.cpu_seconds, **(side_cpu or {})}
        load = measured(server, "pay.lua", opts, wrk_args(0, opts.threads, receiver.url), sides)
        load.rss_before_mb, load.rss_after_mb = rss_before, server.rss_mb()
        stats, waited = receiver.settle(timeout=60, quiet_for=2.0)
        stats["expected"] = load.auth_ok
        stats["drain_s_after_load"] = max(0.0, waited - 2.0)
        load.extra["callbacks"] = stats
        load.extra["rss_after_drain_mb"] = server.rss_mb()
        receiver.reset()
    return load


def measure_startup(extra: list[str], log_dir: Path, runs: int = 5) -> dict[str, Any]:
    """ms from spawn to the first 200 of the health path (median of `runs`), and idle RSS."""
    result: dict[str, Any] = {}
    factories: dict[str, Callable[[int], Server]] = {
        "mock": lambda p: mock_server(p, log_dir / "startup.log", extra),
        "bare": lambda p: bare_server(p, log_dir / "startup-bare.log"),
    }
    for name, factory in factories.items():
        times, rss = [], []
        for _ in range(runs):
            with factory(free_port()) as server:
                times.append(server.healthy_after_ms)
                rss.append(server.rss_mb())
        result[name] = {"startup_ms": statistics.median(times), "startup_all_ms": times,
                        "idle_rss_mb": statistics.median(rss)}
    return result


def soak_verdict(samples: list[tuple[float, float, int]], seconds: float) -> dict[str, Any]:
    """"Bounded": no sample of the second half exceeds the first half's peak RSS by more than 5%.

    Samples are (seconds since start, RSS MB, callbacks received so far); only those taken
    while wrk was loading count. The first half is where the store's caps fill up
    (`max_transactions` and the token cap), the second half shows whether memory keeps growing.
    """
    under_load = [s for s in samples if s[0] <= seconds + 0.5]
    first = [mb for t, mb, _ in under_load if t < seconds / 2] or [under_load[0][1]]
    second = [mb for t, mb, _ in under_load if t >= seconds / 2] or [under_load[-1][1]]
    first_peak, second_peak = max(first), max(second)
    growth_pct = (second_peak / first_peak - 1) * 100 if first_peak else 0.0
    half_payments = max((n for t, _, n in under_load if t < seconds / 2), default=0)
    return {"first_half_peak_mb": first_peak, "second_half_peak_mb": second_peak,
            "growth_pct": growth_pct, "bounded": growth_pct <= 5.0,
            "first_half_callbacks": half_payments}


def measure_soak(opts: Options, receiver: Receiver) -> dict[str, Any]:
    """A long token+cards/auth run sampling the mock's RSS (and callbacks so far) every 5 s."""
    port = free_port()
    samples: list[tuple[float, float, int]] = []
    with mock_server(port, opts.log_dir / "soak.log", opts.server_args) as server:
        receiver.reset()
        argv = wrk_argv(port, "pay.lua", opts.soak, opts, wrk_args(0, opts.threads, receiver.url))
        started = time.perf_counter()
        samples.append((0.0, server.rss_mb(), 0))
        with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as wrk:
            deadline = started + opts.soak + 60
            while wrk.poll() is None and time.perf_counter() < deadline:
                time.sleep(min(SOAK_SAMPLE_S, max(0.0, deadline - time.perf_counter())))
                samples.append((time.perf_counter() - started, server.rss_mb(), receiver.stats()["count"]))
            if wrk.poll() is None:
                wrk.kill()
            out, _ = wrk.communicate(timeout=10)
        data = parse_wrk(out)
        stats, _ = receiver.settle(timeout=60, quiet_for=2.0)
        samples.append((time.perf_counter() - started, server.rss_mb(), stats["count"]))
        receiver.reset()
    return {"samples": samples, "payments": data.get("auth_ok", 0), "non2xx": data.get("non2xx", 0),
            "requests": data.get("requests", 0), "peak_mb": max(mb for _, mb, _ in samples),
            "callbacks": stats, **soak_verdict(samples, opts.soak)}


def server_supports(flag: str) -> bool:
    done = subprocess.run([sys.executable, "-m", "mock_epay", "serve", "--help"], cwd=ROOT,
                          capture_output=True, text=True, timeout=30, check=False)
    return flag in done.stdout
