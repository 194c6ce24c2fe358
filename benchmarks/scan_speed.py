"""Static audit speed on a large real tree, side by side with bandit and ruff in one run.

Downloads the sdists of django, SQLAlchemy and sympy from PyPI (``pip download --no-deps
--no-binary :all:``) into a temporary folder (never into the repository), unpacks them, then
times on the same files:

- ``dbaudit audit`` cold (empty cache, ``--jobs`` = every core),
- ``dbaudit audit`` again on the unchanged tree (content-hash cache),
- ``bandit -r`` (install it into the venv for this benchmark: ``.venv/bin/pip install bandit``),
- ``ruff check --select ALL --no-cache``,
- CPython's own ``ast.parse`` + ``ast.walk`` on the same number of processes (the floor for any
  tool built on ``ast``).

TypeScript, in the same run (``--typescript-only`` runs just this part, ``--python-only`` skips
it): ``npm pack`` of npm packages that ship their ``.ts`` sources (``TS_PACKAGES``, pinned) into
the same temporary folder; their TypeScript sources (declaration files left out) are copied into
one tree, and on it are timed:

- ``dbaudit audit`` cold (every core) and cached, as above,
- ``eslint`` with only ``no-await-in-loop`` on, parsed by typescript-eslint without type
  information (eslint, typescript-eslint and typescript installed with ``npm install`` into the
  temporary folder; one process, as eslint runs by default),
- tree-sitter-typescript's parse alone on the same number of processes (the floor for dbaudit's
  TypeScript frontend).

Each tool runs as a subprocess; peak memory is the highest summed PSS of the process and its
children, sampled every 20 ms. Usage::

    .venv/bin/python benchmarks/scan_speed.py [--workdir DIR] [--jobs N] [--skip-bandit]
        [--python-only | --typescript-only]
"""

from __future__ import annotations

import argparse
import ast
import math
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

PACKAGES = ("django", "SQLAlchemy", "sympy")
# npm packages whose tarballs hold their TypeScript sources (~660k lines of .ts, no .d.ts)
TS_PACKAGES = (
    "effect@4.1.0",
    "zod@4.6.7",
    "rxjs@7.8.2",
    "@tanstack/query-core@5.108.0",
    "@trpc/server@11.25.2",
)
TS_TOOLS = ("eslint@10.15.0", "typescript-eslint@8", "typescript@5")
TS_SOURCE_SUFFIXES = (".ts", ".tsx", ".mts", ".cts")
# every suffix dbaudit reads as TypeScript/JavaScript (dbaudit.scan.discovery.SCRIPT_SUFFIXES)
SCRIPT_SUFFIXES = (".ts", ".tsx", ".js", ".jsx", ".mjs", ".cjs", ".mts", ".cts")
TS_DECLARATION_SUFFIXES = (".d.ts", ".d.mts", ".d.cts")
# written next to the tree (eslint lints only files under its config's folder) and loading
# typescript-eslint from where npm installed it
ESLINT_CONFIG = """\
import { createRequire } from "node:module";

const tseslint = createRequire(new URL("./tools/package.json", import.meta.url))(
  "typescript-eslint",
);

// only the rule TypeScript users have for N+1 today, parsed without type information
export default [
  {
    files: ["**/*.ts", "**/*.tsx", "**/*.mts", "**/*.cts"],
    languageOptions: { parser: tseslint.parser },
    linterOptions: { reportUnusedDisableDirectives: "off" },
    rules: { "no-await-in-loop": "error" },
  },
];
"""
BIN = Path(sys.executable).parent


@dataclass(frozen=True)
class Timing:
    name: str
    seconds: float
    peak_mib: float
    exit_code: int
    note: str = ""


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        epilog=(
            "Competitors on a fresh machine: bandit with `.venv/bin/pip install bandit` (skipped "
            "with a note when missing); ruff comes with the dev extras; the TypeScript part needs "
            "node and npm, and installs eslint and typescript-eslint into WORKDIR itself."
        ),
    )
    parser.add_argument(
        "--workdir",
        default=os.path.join(tempfile.gettempdir(), "dbaudit-scan-speed"),
        help="where the sdists are downloaded and unpacked (reused between runs)",
    )
    parser.add_argument("--jobs", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--skip-bandit", action="store_true", help="bandit takes minutes")
    only = parser.add_mutually_exclusive_group()
    only.add_argument("--python-only", action="store_true", help="skip the TypeScript part")
    only.add_argument("--typescript-only", action="store_true", help="skip the Python part")
    args = parser.parse_args(argv)

    if not args.typescript_only:
        python_benchmark(args)
    if not args.python_only:
        if not args.typescript_only:
            print()
        return typescript_benchmark(args)
    return 0


def python_benchmark(args: argparse.Namespace) -> None:
    tree = prepare_tree(Path(args.workdir))
    files, lines = count_python(tree)
    print(f"tree: {tree} — {files:,} .py files, {lines:,} lines; {args.jobs} jobs", flush=True)
    if lines < 1_000_000:
        print("warning: fewer than 1M lines; the numbers are less meaningful", flush=True)

    # the sdists ship JavaScript too (Django's admin): the Python numbers cover .py files only
    only_python = [f"--exclude=*{suffix}" for suffix in SCRIPT_SUFFIXES]
    timings = dbaudit_cold_and_cached(tree, args.jobs, default_excludes=False, extra=only_python)
    timings.append(reference_ast(tree, args.jobs))
    ruff = BIN / "ruff"
    if ruff.exists():
        timings.append(
            run(
                "ruff check --select ALL",
                [
                    str(ruff),
                    "check",
                    "--select",
                    "ALL",
                    "--no-cache",
                    "--exit-zero",
                    "--quiet",
                    "--output-format",
                    "concise",
                    str(tree),
                ],
            )
        )
    else:
        print("ruff not installed in the venv: skipped", flush=True)
    bandit = BIN / "bandit"
    if args.skip_bandit:
        print("bandit: skipped (--skip-bandit)", flush=True)
    elif bandit.exists():
        timings.append(
            run("bandit -r", [str(bandit), "-r", "-q", "-f", "json", "-o", os.devnull, str(tree)])
        )
    else:
        print("bandit not installed: .venv/bin/pip install bandit", flush=True)

    print_table(timings, lines, "bandit")


def dbaudit_cold_and_cached(
    tree: Path, jobs: int, *, default_excludes: bool, extra: Sequence[str] = ()
) -> list[Timing]:
    timings: list[Timing] = []
    cache_dir = Path(tempfile.mkdtemp(prefix="dbaudit-bench-cache-"))
    # dbaudit runs from a copy of its source taken now: the cache is keyed by the analyzer's
    # source, so an edit made in the repository between the two runs must not reach them
    snapshot = Path(tempfile.mkdtemp(prefix="dbaudit-bench-src-"))
    shutil.copytree(
        Path(__file__).resolve().parents[1] / "src" / "dbaudit",
        snapshot / "dbaudit",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    environment = {**os.environ, "PYTHONPATH": str(snapshot)}
    try:
        dbaudit = [
            str(BIN / "python"),
            "-m",
            "dbaudit",
            "audit",
            str(tree),
            "--format",
            "json",
            "-o",
            os.devnull,
            "--jobs",
            str(jobs),
            "--cache-dir",
            str(cache_dir),
            "--isolated",
            "--no-progress",
            "--statistics",
        ]
        if not default_excludes:
            dbaudit.append("--no-default-excludes")
        dbaudit.extend(extra)
        timings.append(run("dbaudit (cold)", dbaudit, environment))
        timings.append(run("dbaudit (cached re-scan)", dbaudit, environment))
    finally:
        shutil.rmtree(cache_dir, ignore_errors=True)
        shutil.rmtree(snapshot, ignore_errors=True)
    return timings


# --- TypeScript ----------------------------------------------------------------------------------


def typescript_benchmark(args: argparse.Namespace) -> int:
    workdir = Path(args.workdir) / "typescript"
    if shutil.which("npm") is None or shutil.which("node") is None:
        print("TypeScript part skipped: node and npm are needed (npm pack, eslint)", flush=True)
        return 1
    tree = prepare_typescript_tree(workdir)
    eslint = prepare_eslint(workdir / "tools")
    files, lines = count_lines(tree, TS_SOURCE_SUFFIXES)
    print(
        f"TypeScript tree: {tree} — {files:,} files, {lines:,} lines; {args.jobs} jobs",
        flush=True,
    )
    if lines < 300_000:
        print("warning: fewer than 300k lines; the numbers are less meaningful", flush=True)
    timings = dbaudit_cold_and_cached(tree, args.jobs, default_excludes=True)
    timings.append(reference_tree_sitter(tree, args.jobs))
    timings.append(
        run(
            "eslint no-await-in-loop (1 process)",
            [
                str(eslint),
                "--config",
                str(workdir / "eslint.config.mjs"),
                "--no-warn-ignored",
                "--format",
                "json",
                "--output-file",
                os.devnull,
                str(tree),
            ],
            cwd=workdir,
        )
    )
    print_table(timings, lines, "eslint")
    return 0


def prepare_typescript_tree(workdir: Path) -> Path:
    """The .ts sources of ``TS_PACKAGES`` in ``workdir/tree`` (downloaded once, then reused)."""
    packs = workdir / "packs"
    tree = workdir / "tree"
    packs.mkdir(parents=True, exist_ok=True)
    if not any(packs.glob("*.tgz")):
        print(f"npm pack {', '.join(TS_PACKAGES)} into {packs} ...", flush=True)
        subprocess.run(
            ["npm", "pack", "--silent", *TS_PACKAGES],
            cwd=packs,
            check=True,
            stdout=subprocess.DEVNULL,
        )
    if not tree.exists() or not any(tree.iterdir()):
        tree.mkdir(parents=True, exist_ok=True)
        for archive in sorted(packs.glob("*.tgz")):
            target = tree / archive.name.removesuffix(".tgz")
            with tarfile.open(archive) as handle:
                members = [
                    m
                    for m in handle.getmembers()
                    if m.isfile()
                    and m.name.endswith(TS_SOURCE_SUFFIXES)
                    and not m.name.endswith(TS_DECLARATION_SUFFIXES)
                ]
                handle.extractall(target, members=members, filter="data")
    return tree


def prepare_eslint(tools: Path) -> Path:
    """eslint + typescript-eslint installed with npm into ``tools``; returns eslint's binary."""
    eslint = tools / "node_modules" / ".bin" / "eslint"
    tools.mkdir(parents=True, exist_ok=True)
    if not eslint.exists():
        print(f"npm install {', '.join(TS_TOOLS)} into {tools} ...", flush=True)
        (tools / "package.json").write_text('{"private": true}\n')
        subprocess.run(
            ["npm", "install", "--silent", "--no-audit", "--no-fund", *TS_TOOLS],
            cwd=tools,
            check=True,
        )
    (tools.parent / "eslint.config.mjs").write_text(ESLINT_CONFIG)
    return eslint


def _tree_sitter_parse(path: str) -> int:
    from dbaudit.frontends.typescript.syntax import dialect_for
    from dbaudit.frontends.typescript.syntax import parse as parse_tree

    with open(path, "rb") as handle:
        data = handle.read()
    return parse_tree(data, dialect_for(path)).root_node.end_byte


def reference_tree_sitter(tree: Path, jobs: int) -> Timing:
    print("running tree-sitter parse ...", flush=True)
    paths = [str(p) for p in tree.rglob("*") if p.name.endswith(TS_SOURCE_SUFFIXES) and p.is_file()]
    started = time.perf_counter()
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        sum(pool.map(_tree_sitter_parse, paths, chunksize=64))
    seconds = time.perf_counter() - started
    return Timing(f"tree-sitter parse only ({jobs} processes)", seconds, float("nan"), 0)


def prepare_tree(workdir: Path) -> Path:
    downloads = workdir / "sdists"
    tree = workdir / "tree"
    downloads.mkdir(parents=True, exist_ok=True)
    if not any(downloads.glob("*.tar.gz")):
        print(f"downloading {', '.join(PACKAGES)} sdists into {downloads} ...", flush=True)
        subprocess.run(
            [
                str(BIN / "python"),
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--no-binary",
                ":all:",
                "--quiet",
                "-d",
                str(downloads),
                *PACKAGES,
            ],
            check=True,
        )
    if not tree.exists() or not any(tree.iterdir()):
        tree.mkdir(parents=True, exist_ok=True)
        for archive in sorted(downloads.glob("*.tar.gz")):
            with tarfile.open(archive) as handle:
                handle.extractall(tree, filter="data")
    return tree


def count_python(tree: Path) -> tuple[int, int]:
    return count_lines(tree, (".py",))


def count_lines(tree: Path, suffixes: tuple[str, ...]) -> tuple[int, int]:
    files = lines = 0
    for path in tree.rglob("*"):
        if path.name.endswith(suffixes) and path.is_file():
            files += 1
            data = path.read_bytes()
            lines += data.count(b"\n") + (0 if not data or data.endswith(b"\n") else 1)
    return files, lines


def run(
    name: str,
    command: list[str],
    environment: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> Timing:
    print(f"running {name} ...", flush=True)
    started = time.perf_counter()
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=environment, cwd=cwd
    )
    sampler = PeakMemory(process.pid)
    sampler.start()
    _, stderr = process.communicate()
    seconds = time.perf_counter() - started
    sampler.stop()
    lines = stderr.decode(errors="replace").strip().splitlines()
    # dbaudit's --statistics line says what was parsed and what came from the cache
    note = next((line for line in lines if "lines/s" in line), lines[-1] if lines else "")
    if note:
        print(f"  {note}", flush=True)
    return Timing(name, seconds, sampler.peak_mib, process.returncode, note)


def _parse_and_walk(path: str) -> int:
    try:
        with open(path, "rb") as handle:
            tree = ast.parse(handle.read())
    except (SyntaxError, ValueError, RecursionError):
        return 0
    return sum(1 for _ in ast.walk(tree))


def reference_ast(tree: Path, jobs: int) -> Timing:
    print("running ast.parse + ast.walk ...", flush=True)
    paths = [str(p) for p in tree.rglob("*.py") if p.is_file()]
    started = time.perf_counter()
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        sum(pool.map(_parse_and_walk, paths, chunksize=64))
    seconds = time.perf_counter() - started
    return Timing(f"ast.parse + ast.walk ({jobs} processes)", seconds, float("nan"), 0)


class PeakMemory:
    """Highest summed memory of a process and all its descendants (Linux ``/proc``).

    PSS (proportional set size) where the kernel reports it, so pages a forked worker shares
    with its parent count once, not once per process; RSS otherwise.
    """

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak_bytes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    @property
    def peak_mib(self) -> float:
        return self.peak_bytes / (1024 * 1024)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        while not self._stop.is_set():
            total = sum(_memory_bytes(pid) for pid in _tree_pids(self.pid))
            self.peak_bytes = max(self.peak_bytes, total)
            self._stop.wait(0.02)


def _tree_pids(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                fields = handle.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def _memory_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as handle:
            for line in handle:
                if line.startswith(b"Pss:"):
                    return int(line.split()[1]) * 1024
    except (OSError, IndexError, ValueError):
        pass
    try:
        with open(f"/proc/{pid}/statm", "rb") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, IndexError, ValueError):
        return 0


def print_table(timings: list[Timing], lines: int, baseline: str) -> None:
    """One row per tool; ``baseline`` names the tool the others are compared with."""
    base = next((t for t in timings if t.name.startswith(baseline)), None)
    print()
    print(f"{'tool':<42} {'seconds':>9} {'lines/s':>12} {'vs ' + baseline:>10} {'peak mem':>10}")
    for timing in timings:
        rate = lines / timing.seconds if timing.seconds > 0 else float("inf")
        ratio = f"{base.seconds / timing.seconds:.1f}x" if base else "-"
        memory = "-" if math.isnan(timing.peak_mib) else f"{timing.peak_mib:.0f} MiB"
        # dbaudit: 3 = some files not analyzed; eslint: 1 = lint errors found
        status = "" if timing.exit_code in (0, 1, 3) else f"  (exit {timing.exit_code})"
        print(
            f"{timing.name:<42} {timing.seconds:>9.2f} {rate:>12,.0f} {ratio:>10} "
            f"{memory:>10}{status}"
        )
    cold = next((t for t in timings if t.name == "dbaudit (cold)"), None)
    warm = next((t for t in timings if t.name == "dbaudit (cached re-scan)"), None)
    if cold and warm and warm.seconds > 0:
        print(f"\ncached re-scan is {cold.seconds / warm.seconds:.1f}x faster than the cold scan")


if __name__ == "__main__":
    raise SystemExit(main())
