"""Report sections that compare: a durable store with memory, --workers 2 with 1, the mock with WireMock.

Each adds figure rows, notes and bar verdicts to a `report.Report`.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from loads import Load
from peer import PEER_WARMUP_S

if TYPE_CHECKING:
    from report import Report


def store_label(store: str) -> str:
    """The store for the table, without credentials or URL parameters (scheme://host:port/database)."""
    parts = urlsplit(store)
    if not parts.scheme or parts.scheme == "sqlite":
        return parts.scheme or store
    host = parts.hostname or ""
    return f"{parts.scheme}://{host}{f':{parts.port}' if parts.port else ''}{parts.path}"


def store_rows(report: Report) -> None:
    """--store: token and token+cards/auth on that store as ratios to memory; then --workers 2 vs 1."""
    from report import BARS, verdict

    store = store_label(report.opts.store)
    for key, base_key, label in (("token_store", "token", "token endpoint"),
                                 ("pay_store", "pay", "token+cards/auth")):
        load: Load | None = report.results.get(key)
        memory: Load | None = report.results.get(base_key)
        if load is None:
            continue
        name = f"{label} on {store}"
        if memory is not None:
            aim = BARS["pg_store_ratio"] if store.startswith("postgres") else BARS["store_ratio"]
            ok = load.rps / memory.rps >= aim
            report.table.add(name, f"{load.rps:,.0f} req/s", f"{load.rps / memory.rps:.2f} x memory",
                             f">= {aim} x memory (aim)", verdict(ok))
        else:
            report.table.add(name, f"{load.rps:,.0f} req/s", report.ratio(load.rps) + " x ceiling")
        report.latency(name, load, judged=False)
        report.cpu(name, load, memory or report.ceiling, " x memory" if memory else "")
        report.errors(name, load)
        callback_row(report, name, load)
    workers_rows(report)


def callback_row(report: Report, name: str, load: Load) -> None:
    from report import verdict

    cb = load.extra.get("callbacks")
    if cb:
        report.table.add(f"  {name} callbacks received / payments", f"{cb['count']} / {cb['expected']}", "",
                         "one each", verdict(report.callbacks_ok(cb)))


def cpu_breakdown(load: Load) -> str:
    """Where the CPU went per HTTP request, and how busy the machine's cores were."""
    parts = [f"mock {load.cpu_us_per_request:.0f}"]
    if "postgres_cpu_us" in load.extra:
        parts.append(f"PostgreSQL {load.extra['postgres_cpu_us']:.0f}")
    parts += [f"wrk {load.wrk_cpu_us:.0f}", f"receiver {load.extra.get('receiver_cpu_us', 0):.0f}"]
    ours_us = (load.cpu_us_per_request + load.extra.get("postgres_cpu_us", 0) + load.wrk_cpu_us
               + load.extra.get("receiver_cpu_us", 0))
    share = 100 * ours_us * load.requests / 1e6 / max(load.machine_busy_s, 1e-9)
    return (" + ".join(parts) + f" us; cores {load.machine_busy_pct:.0f}% busy, "
            f"{min(share, 100):.0f}% of it this bench")


def workers_rows(report: Report) -> None:

    one: Load | None = report.results.get("pay_store")
    two: Load | None = report.results.get("pay_store_w2")
    if one is None or two is None:
        if report.results.get("workers_note"):
            report.notes.append(report.results["workers_note"])
        return
    store = store_label(report.opts.store)
    report.table.add(f"token+cards/auth on {store}, --workers 2", f"{two.rps:,.0f} req/s",
                     f"{two.rps / one.rps:.2f} x --workers 1", "(scale-out figure)")
    report.latency(f"{store} --workers 2", two, judged=False)
    report.errors(f"{store} --workers 2", two)
    callback_row(report, f"{store} --workers 2", two)
    for workers, load in (("1", one), ("2", two)):
        report.notes.append(f"CPU per HTTP request on {store}, --workers {workers}: {cpu_breakdown(load)}")
    cores = os.cpu_count()
    report.notes.append(
        f"--workers: all figures on {store}; mock CPU sums every worker (and the supervisor); PostgreSQL "
        f"sums every server process; wrk and the receiver share the same {cores} cores, so a busy machine "
        "near 100% means the cores, not the mock, are the limit")


def peer_rows(report: Report) -> None:
    """--peer wiremock: WireMock's figures, the mock's as ratios to them (aims: 1.5x req/s, 5x lower p99)."""
    from report import BARS

    peer: dict[str, Any] | None = report.results.get("peer")
    names = [f"token >= {BARS['peer_rps']} x WireMock req/s (aim)",
             f"token p99 <= WireMock's / {BARS['peer_p99']:.0f} (aim)",
             f"token+cards/auth >= {BARS['peer_rps']} x WireMock req/s (aim)",
             f"token+cards/auth p99 <= WireMock's / {BARS['peer_p99']:.0f} (aim)"]
    if not peer or "note" in peer:
        if peer:
            report.notes.append(peer["note"])
        for name in names:
            report.bar(name, None, None)
        return
    runs = ", ".join(f"{ms:.0f}" for ms in peer["startup_all_ms"])
    report.table.add("WireMock (static stubs) start-up, median of 3", f"{peer['startup_ms']:.0f} ms")
    report.table.add("  WireMock start-up runs (spawn -> first 200 /__admin/health)", f"{runs} ms")
    report.table.add("  WireMock idle memory", f"{peer['idle_rss_mb']:.1f} MB")
    pairs = (("token", "token", "token endpoint"), ("pay", "pay", "token+cards/auth"))
    for index, (peer_key, mock_key, label) in enumerate(pairs):
        theirs: Load = peer[peer_key]
        ours: Load | None = report.results.get(mock_key)
        report.table.add(f"WireMock {label}", f"{theirs.rps:,.0f} req/s",
                         report.ratio(theirs.rps) + " x ceiling")
        report.table.add(f"  WireMock {label} p50 / p99", f"{theirs.p50_ms:.2f} / {theirs.p99_ms:.2f} ms")
        report.table.add(f"  WireMock {label} server CPU per request", f"{theirs.cpu_us_per_request:.0f} us")
        report.errors(f"WireMock {label}", theirs)
        rps_name, p99_name = names[2 * index], names[2 * index + 1]
        if ours is None:
            report.bar(rps_name, None, None)
            report.bar(p99_name, None, None)
            continue
        rps_x, p99_x = ours.rps / theirs.rps, theirs.p99_ms / max(ours.p99_ms, 1e-9)
        report.table.add(f"  mock-epay {label}: req/s / WireMock's, WireMock's p99 / ours",
                         f"{rps_x:.2f} x, {p99_x:.1f} x", "",
                         f">= {BARS['peer_rps']} x, >= {BARS['peer_p99']:.0f} x (aims)")
        report.bar(rps_name, f"{rps_x:.2f} x ({ours.rps:,.0f} vs {theirs.rps:,.0f})",
                   rps_x >= BARS["peer_rps"])
        report.bar(p99_name, f"{p99_x:.1f} x ({ours.p99_ms:.1f} vs {theirs.p99_ms:.1f} ms)",
                   p99_x >= BARS["peer_p99"])
    report.notes.append(f"WireMock: {peer['jar']} with {peer['options']}; stubs answer the mock's own token "
                        f"and cards/auth bodies, no state, no callbacks; {PEER_WARMUP_S} s warm-up per load "
                        "for the JVM")
