"""The command dispatcher: lazy imports, help, and errors as one line with exit 2."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote

import pytest

from dbaudit.cli import COMMANDS, build_parser, main


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dbaudit", *args], capture_output=True, text=True, check=False
    )


def test_only_the_chosen_command_is_imported() -> None:
    probe = (
        "import sys; from dbaudit.cli import main; code = main(['rules']); "
        "heavy = [m for m in ('psycopg', 'asyncpg', 'dbaudit.commands.demo') if m in sys.modules]; "
        "print('HEAVY', heavy)"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert "HEAVY []" in done.stdout
    assert "DBA101" in done.stdout


def test_top_level_help_lists_every_command() -> None:
    text = build_parser().format_help()
    for name in COMMANDS:
        assert name in text


def test_unknown_command_is_a_usage_error() -> None:
    done = _run("nonsense")
    assert done.returncode == 2
    assert "invalid choice: 'nonsense'" in done.stderr
    assert "Traceback" not in done.stderr


def test_no_command_prints_help_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "COMMAND" in capsys.readouterr().out


def test_database_error_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DBAUDIT_DATABASE", "env")
    monkeypatch.setenv("DBAUDIT_DATABASE_URL", "postgresql://u:hunter2@127.0.0.1:1/x")
    done = subprocess.run(
        [sys.executable, "-m", "dbaudit", "demo", "--repeat", "1"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert lines[-1].startswith("dbaudit: error: no PostgreSQL server available")
    assert "hunter2" not in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.embedded_server
def test_sigterm_stops_the_embedded_server(tmp_path: Path) -> None:
    env = {**os.environ, "DBAUDIT_DATABASE": "embedded"}
    process = subprocess.Popen(
        [sys.executable, "-m", "dbaudit", "demo", "--repeat", "1", "--clients", "0", "--no-report"],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert process.stderr is not None
    data_dir = ""
    for line in process.stderr:
        found = re.search(r"host=([^)\s,]+)", line)
        if found:
            data_dir = unquote(found.group(1))
            break
    assert data_dir, "the demo never said which embedded server it started"
    assert _postgres_running_in(data_dir)
    process.send_signal(signal.SIGTERM)
    _, errors = process.communicate(timeout=60)
    # what the demo wrote once signalled says why, if it did not exit as SIGTERM asks (one
    # fresh-clone CI run under load exited 1 here, and no output was kept to tell why)
    assert process.returncode == 128 + signal.SIGTERM, errors[-3000:]
    assert not _postgres_running_in(data_dir)
    assert not os.path.exists(data_dir)


def _postgres_running_in(data_dir: str) -> bool:
    listing = subprocess.run(
        ["ps", "-ww", "-eo", "args"], capture_output=True, text=True, check=True
    )
    return any("postgres" in line and data_dir in line for line in listing.stdout.splitlines())
