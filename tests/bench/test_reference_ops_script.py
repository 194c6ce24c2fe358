"""``benchmarks/reference_ops.py`` end to end at the smallest settings: every figure is reported."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "reference_ops.py"
SMALLEST = ["--quick", "--repeat", "1", "--clients", "2", "--calls-per-client", "1"]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *SMALLEST, *args],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


def test_text_report_compares_with_the_seed_estimates() -> None:
    completed = _run()
    assert completed.returncode == 0, completed.stderr
    out = completed.stdout
    assert "Before → after at 0 ms one-way delay" in out
    assert "Before → after at 1 ms one-way delay" in out
    assert "Throughput, 2 concurrent clients x 1 calls at 1 ms one-way delay" in out
    assert "Against the seed estimates" in out
    seed_rows = out.split("Against the seed estimates")[1].splitlines()[2:7]
    assert [row.split()[0] for row in seed_rows] == [
        "get_user_projects",
        "delete_chain",
        "get_profile_stats",
        "get_render_with_context",
        "get_user_credits_with_reset",
    ]
    assert all("the estimate" in row for row in seed_rows)
