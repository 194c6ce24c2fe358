"""On a terminal: colours and a progress bar; piped: neither (tested with a fake terminal)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from dbaudit.commands import _static_options
from dbaudit.commands.audit import print_report
from dbaudit.findings import Audit, Finding, Severity


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_text_report_is_coloured_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TERM", "xterm-256color")
    monkeypatch.delenv("NO_COLOR", raising=False)
    terminal = _Terminal()
    monkeypatch.setattr("sys.stdout", terminal)
    audit = Audit(findings=[Finding("DBA101", Severity.HIGH, "query in a loop", "a.py", 3, 4)])
    print_report(audit, "text")
    assert "\x1b[" in terminal.getvalue()
    assert "a.py:3:1: " in terminal.getvalue().replace("\x1b[0m", "").replace("\x1b[1m", "")


def test_progress_bar_appears_on_a_terminal_for_a_long_scan(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TERM", "xterm-256color")
    terminal = _Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    monkeypatch.setattr(_static_options, "_PROGRESS_AFTER_SECONDS", 0.0)
    progress = _static_options._Progress()
    for done in range(0, 11):
        progress.update(done, 10)
    progress.close()
    assert "auditing" in terminal.getvalue()


def test_no_progress_bar_when_piped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from dbaudit.cli import main

    (tmp_path / "a.py").write_text("import sqlalchemy\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(_static_options, "_PROGRESS_AFTER_SECONDS", 0.0)
    assert main(["audit", ".", "--no-cache"]) == 0
    captured = capsys.readouterr()
    assert "auditing" not in captured.err and "\x1b[" not in captured.out
