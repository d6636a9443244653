"""The benchmark harness runs: `bench/run.py --duration 1 --only token` prints its figures and every bar.

Nothing about speed is asserted (no timing assertions in the suite): only that the harness
starts the servers, drives wrk and prints the table and the list of issue 16's bars, with
the bars of loads it did not run marked "not run". Skipped without wrk.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk not installed (Debian package `wrk`)")
def test_a_one_second_token_run_prints_the_figures_and_every_bar():
    done = subprocess.run(
        [sys.executable, "bench/run.py", "--duration", "1", "--warmup", "0", "--only", "token"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)

    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    token_row = next(line for line in lines if line.startswith("token endpoint "))
    assert "req/s" in token_row and "x ceiling" in token_row
    bar_rows = {line.split("  ")[0]: line for line in lines[lines.index(next(
        line for line in lines if line.startswith("bar (issue 16)"))) + 2:] if "  " in line}
    assert bar_rows["token >= 0.5 x ceiling"].rstrip().endswith(("PASS", "MISS"))
    assert bar_rows["RSS bounded under --soak 120"].rstrip().endswith("not run")
    assert bar_rows["healthy <= 300 ms after spawn (median of 5)"].rstrip().endswith("not run")
