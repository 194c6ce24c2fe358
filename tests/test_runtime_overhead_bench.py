"""``benchmarks/runtime_overhead.py``: its statistics, its report, and its children end to end at
the smallest settings (the figures are never asserted: only that they are there, and that every
tool recorded every statement)."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path
from types import CodeType, ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "runtime_overhead.py"
COMPETITORS_DIR = os.environ.get("DBAUDIT_BENCH_COMPETITORS", "/work/bench-competitors")
HAVE_COMPETITORS = (Path(COMPETITORS_DIR) / "pytest_queryguard").is_dir() and (
    Path(COMPETITORS_DIR) / "queryspy"
).is_dir()


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("runtime_overhead", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["runtime_overhead"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


ro = _load()

# the reference workload, CPU ms per pass, 20 rounds a mode, measured on the shared machine
BARE = [69, 69, 72, 70, 69, 66, 65, 72, 98, 65, 65, 65, 64, 64, 66, 65, 65, 67, 66, 66]
ON = [76, 79, 79, 79, 72, 72, 71, 76, 70, 71, 71, 71, 70, 72, 72, 71, 70, 72, 74, 74]


def _timings(cpus: list[float], scale: float = 1e-3) -> list[tuple[float, float]]:
    return [(cpu * scale * 1.4, cpu * scale) for cpu in cpus]


def test_the_figure_is_the_median_with_min_and_quartiles_beside_it() -> None:
    spread = ro.cpu_spread(_timings(BARE))
    assert spread.median == pytest.approx(0.066)
    assert spread.low == pytest.approx(0.064)
    assert spread.q1 < spread.median < spread.q3
    assert spread.passes == 20
    assert 0 < spread.iqr_percent < 10  # the 98 ms fluke is outside the quartiles


def test_one_fluke_pass_moves_the_min_not_the_median() -> None:
    fluke = [*ON[:-1], 57.0]  # one pass of "on" 12% under the other mode's min
    assert ro.cpu_spread(_timings(fluke)).low < ro.cpu_spread(_timings(BARE)).low
    assert ro.cpu_spread(_timings(fluke)).median == ro.cpu_spread(_timings(ON)).median


def test_a_difference_comes_with_its_noise() -> None:
    run = ro.ToolRun({"bare": _timings(BARE), "on": _timings(ON)}, recorded=147)
    more, noise = ro.added(run, "on")
    assert more == pytest.approx(0.006)  # 72 - 66 ms
    assert 0 < noise < more
    steady = ro.ToolRun({"bare": _timings([66.0] * 8), "on": _timings([70.0] * 8)}, 147)
    assert ro.added(steady, "on") == (pytest.approx(0.004), 0.0)


def test_a_single_pass_has_no_quartiles_but_a_figure() -> None:
    spread = ro.cpu_spread(_timings([70.0]))
    assert (spread.median, spread.low, spread.q1, spread.q3) == pytest.approx((0.07,) * 4)
    assert spread.error == 0.0


def test_the_counted_pass_must_have_recorded_every_statement(
    capsys: pytest.CaptureFixture[str],
) -> None:
    ro.check_seen("queryguard", [100, 47], 147)
    assert "queryguard recorded 147 statements in the 2 units" in capsys.readouterr().err
    with pytest.raises(SystemExit, match="recorded 0 of the 147 statements"):
        ro.check_seen("queryspy", [0, 0], 147)


def test_only_the_warm_up_round_counts() -> None:
    block, counting = contextlib.nullcontext, contextlib.nullcontext  # stand-ins
    assert ro.block_for("on", 0, lambda: block(), counting) is counting
    assert ro.block_for("on", 1, block, counting) is block
    assert ro.block_for("off", 0, block, counting) is contextlib.nullcontext
    assert ro.block_for("bare", 3, block, counting) is contextlib.nullcontext


def test_the_reference_target_lists_the_other_tools_beside_dbaudit(
    capsys: pytest.CaptureFixture[str],
) -> None:
    dbaudit = ro.ToolRun({"bare": _timings(BARE), "off": _timings(BARE), "on": _timings(ON)}, 147)
    queryguard = ro.ToolRun({"bare": _timings(BARE), "on": _timings([x + 11 for x in ON])}, 147)
    ro.summary({"reference": {"dbaudit": dbaudit, "queryguard": queryguard}}, {})
    out = capsys.readouterr().out
    assert "reference, a unit per operation, detection included: +9.1% ±" in out
    assert "(target < 3%): NOT met" in out
    assert (
        "pytest-queryguard 0.4.1 on the same workload: +25.8% ± 3.3% (+17.0 ms per pass), 2.8x"
        in out
    )
    assert "reference, hooks installed, no unit active: +0.0%" in out


def test_the_orm_target_lists_the_other_tools_per_query(capsys: pytest.CaptureFixture[str]) -> None:
    us = 1e-6
    dbaudit = ro.ToolRun({"bare": _timings(BARE, us), "on": _timings(ON, us)}, 20000)
    queryspy = ro.ToolRun(
        {"bare": _timings(BARE, us), "on": _timings([x + 11 for x in ON], us)}, 20000
    )
    ro.summary({"sqlite-orm": {"dbaudit": dbaudit, "queryspy": queryspy}}, {})
    out = capsys.readouterr().out
    assert "sqlite-orm, unit active, detection included: +6.0 ± 2.2 us per query" in out
    assert "(target < 10 us): met" in out
    assert "queryspy 0.6.0 on the same workload: +17.0 ± 2.2 us, 2.8x dbaudit's" in out


def test_a_tool_whose_child_failed_is_named_not_compared(
    capsys: pytest.CaptureFixture[str],
) -> None:
    dbaudit = ro.ToolRun({"bare": _timings(BARE), "on": _timings(ON)}, 147)
    failed = {"reference": {"queryspy": "queryspy recorded 0 of the 147 statements"}}
    ro.summary({"reference": {"dbaudit": dbaudit}}, failed)
    out = capsys.readouterr().out
    assert "queryspy 0.6.0 on the same workload: not measured (queryspy recorded 0 of" in out
    assert "x dbaudit's" not in out


def _code(source: str, filename: str = "/x/site-packages/pkg/mod.py") -> CodeType:
    return compile(source, filename, "exec")


def test_functions_are_listed_by_bytecodes_added() -> None:
    bytecodes = ro.Bytecodes()
    same, grows, new = (_code(f"{n} = 1", f"/x/site-packages/pkg/{n}.py") for n in "abc")
    bytecodes.counts["bare"] = Counter({same: 10, grows: 10})
    bytecodes.counts["on"] = Counter({same: 10, grows: 30, new: 40})
    rows = ro.function_rows(bytecodes, 2)
    assert [(bare, on) for _, bare, on in rows] == [(0.0, 20.0), (5.0, 15.0), (5.0, 5.0)]
    assert [name for name, _, _ in rows] == [
        "pkg/c.py:<module>",
        "pkg/b.py:<module>",
        "pkg/a.py:<module>",
    ]


def test_the_breakdown_prints_components_then_functions(
    capsys: pytest.CaptureFixture[str],
) -> None:
    bytecodes = ro.Bytecodes()
    driver = _code("d = 1", "/v/site-packages/sqlalchemy/engine/default.py")
    hook = _code("h = 1", "/w/src/dbaudit/runtime/capture/sqlalchemy.py")
    bytecodes.counts["bare"] = Counter({driver: 4000})
    bytecodes.counts["on"] = Counter({driver: 4000, hook: 400})
    bytecodes.cpu = {"bare": 80e-6, "on": 88e-6}
    ro.print_breakdown("sqlite-orm", bytecodes, 1, "query")
    ro.print_functions(bytecodes, 5, 1, "query")
    out = capsys.readouterr().out
    assert "capture hook (capture/)" in out
    assert "+10.0% bytecodes" in out
    assert "the 2 functions adding the most bytecodes per query:" in out
    lines = out.splitlines()
    assert lines[-2].split() == [
        "0.0",
        "400.0",
        "+400.0",
        "dbaudit/runtime/capture/sqlalchemy.py:<module>",
    ]
    assert lines[-1].split()[-1] == "sqlalchemy/engine/default.py:<module>"


def test_short_paths() -> None:
    assert ro.short_path("/a/.venv/lib/site-packages/sqlalchemy/orm/session.py") == (
        "sqlalchemy/orm/session.py"
    )
    assert ro.short_path("/work/main/src/dbaudit/runtime/unit.py") == "dbaudit/runtime/unit.py"
    assert ro.short_path(contextlib.__file__) == "contextlib.py"
    assert ro.short_path("/work/main/benchmarks/runtime_overhead.py") == "runtime_overhead.py"


def _child(workload: str, tool: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if tool != "dbaudit":
        env["PYTHONPATH"] = COMPETITORS_DIR
    return subprocess.run(
        [sys.executable, str(SCRIPT), "--child", workload, tool, *args],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
        env=env,
    )


def test_a_child_times_every_mode_and_checks_what_dbaudit_recorded() -> None:
    done = _child("sqlite-orm", "dbaudit", "--queries", "300", "--rounds", "2")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout.splitlines()[-1])
    assert data["recorded"] == 300
    assert {mode: len(passes) for mode, passes in data["timings"].items()} == {
        "bare": 2,
        "off": 2,
        "on": 2,
    }
    assert "dbaudit recorded 300 statements in the 3 units of its counted pass" in done.stderr


@pytest.mark.skipif(not HAVE_COMPETITORS, reason=f"no competitors in {COMPETITORS_DIR}")
@pytest.mark.parametrize("tool", ["queryguard", "queryspy"])
def test_a_competitor_child_records_every_statement(tool: str) -> None:
    done = _child("sqlite-orm", tool, "--queries", "200", "--rounds", "1")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout.splitlines()[-1])
    assert data["recorded"] == 200
    assert set(data["timings"]) == {"bare", "on"}


@pytest.mark.skipif(not HAVE_COMPETITORS, reason=f"no competitors in {COMPETITORS_DIR}")
def test_the_reference_workload_runs_all_three_tools() -> None:
    command = [sys.executable, str(SCRIPT), "--workloads", "reference", "--rounds", "1"]
    done = subprocess.run(
        [*command, "--competitors", COMPETITORS_DIR],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "CPU: median of 1 passes" in out
    for label in ("dbaudit bare", "dbaudit off", "dbaudit on", "queryguard idle", "queryspy on"):
        assert f"  {label} " in out
    recorded = next(line for line in out.splitlines() if "statements recorded per pass" in line)
    counts = [part.split()[-1] for part in recorded.split(": ", 1)[1].split(", ")]
    assert len(counts) == 3 and len(set(counts)) == 1, recorded
    assert "reference, a unit per operation, detection included:" in out
    # a figure with its sign either way: one pass on a busy machine can put a tool under bare
    for tool in ("pytest-queryguard 0.4.1", "queryspy 0.6.0"):
        assert re.search(rf"{tool} on the same workload: [+-]\d+\.\d% ± ", out), out


def test_breakdown_accepts_the_asyncpg_workload_and_a_function_count() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--help"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0
    assert "pg-orm-asyncpg" in done.stdout
    assert "--functions N" in done.stdout


def test_ablate_times_each_part_switched_off_and_puts_it_back() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--ablate", "--rounds", "2"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "median of 2 passes alternating in one process" in lines[0]
    labels = [line[2:22].strip() for line in lines[1:]]
    assert labels == ["bare", "on", "on, no detection", "on, no call sites", "on, neither"]
    assert all("% ± " in line for line in lines[2:])


def test_a_target_inside_the_noise_is_neither_met_nor_missed() -> None:
    assert ro.verdict(2.0, 0.5, 3.0) == "met"
    assert ro.verdict(4.0, 0.5, 3.0) == "NOT met"
    assert ro.verdict(2.0, 16.0, 3.0).startswith("at the noise (the median is under")
    assert ro.verdict(9.6, 1.0, 10.0).startswith("at the noise (the median is under")
    assert ro.verdict(10.3, 1.0, 10.0).startswith("at the noise (the median is over")


def _callgrind_dump(path: Path, label: str, instructions: int) -> None:
    # the header callgrind writes at a ``callgrind_control -d LABEL`` (then the cost lines)
    path.write_text(
        "# callgrind format\nversion: 1\ncreator: callgrind-3.19.0\npid: 42\npart: 2\n\n"
        f"desc: I1 cache: \ndesc: Timerange: Basic block 0 - 9\ndesc: Trigger: dump {label}\n\n"
        f"positions: line\nevents: Ir\nsummary: {instructions}\n\nob=(1) /lib/x.so\n0 12\n"
        f"totals: {instructions}\n"
    )


def test_instruction_counts_are_read_back_by_the_label_of_each_dump(tmp_path: Path) -> None:
    _callgrind_dump(tmp_path / "callgrind.out.1", "warm-up bare", 900)
    _callgrind_dump(tmp_path / "callgrind.out.2", "bare", 2_500_000)
    _callgrind_dump(tmp_path / "callgrind.out.3", "on, no call sites", 2_600_000)
    _callgrind_dump(tmp_path / "unrelated.txt", "on", 1)
    (tmp_path / "callgrind.out").write_text("")  # the file of the end of the run
    assert ro.read_dumps(str(tmp_path)) == {"bare": 2_500_000, "on, no call sites": 2_600_000}


def test_instruction_counts_print_each_mode_and_each_part(
    capsys: pytest.CaptureFixture[str],
) -> None:
    per_pass = {
        "bare": 200e6,
        "on": 208e6,
        "on, no detection": 206e6,
        "on, no call sites": 205e6,
        "on, neither": 203e6,
        "bare again": 200.2e6,
    }
    ro.print_instructions(per_pass, 10, 0.5)
    out = capsys.readouterr().out.splitlines()
    assert "10 passes per mode in one process" in out[0]
    assert out[2].split() == ["on", "208.00", "+4.00%"]
    assert out[6].split() == ["bare", "again", "200.20", "+0.10%"]
    assert out[8].split()[-2:] == ["+2.00", "+1.00%"]  # detection: on minus on without it
    assert out[9].split()[-2:] == ["+3.00", "+1.50%"]  # the walk
    assert out[10].split()[-2:] == ["+3.00", "+1.50%"]  # the rest: on, neither minus bare


def test_instructions_without_valgrind_is_one_line_and_exit_2(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--instructions"],
        capture_output=True,
        text=True,
        env={**os.environ, "PATH": str(tmp_path)},  # no valgrind there
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "runtime_overhead: --instructions needs valgrind and callgrind_control on PATH "
        "(Debian: apt-get install valgrind)"
    ]
