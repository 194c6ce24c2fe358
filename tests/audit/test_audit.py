"""The static audit end to end on small trees written by the tests (real parser, real rules)."""

from __future__ import annotations

import os
import pickle
import shutil
import tempfile
from pathlib import Path

import pytest

from dbaudit.audit import AuditError, AuditOptions, is_error, run_static_audit, scan
from dbaudit.findings import Severity

DAL = """\
from sqlalchemy import select, update
from app.models import Render


class RendersDAL:
    @staticmethod
    async def get_by_chain_id(session, chain_id):
        result = await session.execute(select(Render).where(Render.chain_id == chain_id))
        return result.scalars().all()

    @staticmethod
    async def remove_from_chain(session, render_id):
        await session.execute(update(Render).where(Render.id == render_id).values(chain_id=None))
"""

SERVICE = """\
from app.dal.renders import RendersDAL


async def delete_chains(session, chain_ids):
    for chain_id in chain_ids:
        renders = await RendersDAL.get_by_chain_id(session, chain_id)
        for render in renders:
            await RendersDAL.remove_from_chain(session, render.id)
"""


def _write(root: Path, files: dict[str, str | bytes]) -> None:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)


def _app(root: Path, **extra: str | bytes) -> Path:
    _write(root, {"app/dal/renders.py": DAL, "app/services/chains.py": SERVICE, **extra})
    return root


def _options(root: Path, **kwargs: object) -> AuditOptions:
    defaults: dict[str, object] = {"cwd": str(root), "cache_dir": str(root / ".cache")}
    defaults.update(kwargs)
    return AuditOptions(**defaults)  # type: ignore[arg-type]


def test_finds_the_n_plus_one_through_helpers_with_layers(tmp_path: Path) -> None:
    root = _app(tmp_path)
    audit = run_static_audit(["app"], _options(root))
    assert {(f.rule, f.path, f.line) for f in audit.findings} == {
        ("DBA102", "app/services/chains.py", 6),
        ("DBA103", "app/services/chains.py", 8),
    }
    layers = {f.path: f.layer for f in audit.files}
    assert layers == {"app/dal/renders.py": "data access", "app/services/chains.py": "services"}
    assert audit.roots == ("app",)
    assert audit.skipped == []


def test_files_without_database_access_are_audited_but_not_parsed(tmp_path: Path) -> None:
    root = _app(tmp_path, **{"app/util.py": "def add(a, b):\n    return a + b\n"})
    run = scan(["app"], _options(root, use_cache=False))
    assert run.stats.files_found == 3
    assert run.stats.files_parsed == 2
    assert "app/util.py" in {f.path for f in run.audit.files}


def test_bad_files_are_listed_with_a_reason_and_the_audit_goes_on(tmp_path: Path) -> None:
    root = _app(
        tmp_path,
        **{
            "app/broken.py": "import sqlalchemy\ndef f(:\n",
            "app/latin.py": b"import sqlalchemy\nx = '\xe9'\n",
            "app/empty.py": "",
            "app/nul.py": "import sqlalchemy\nx = 1\x00\n",
            "app/huge.py": "import sqlalchemy\n" + "x = 1\n" * 2000,
        },
    )
    os.symlink(root / "app", root / "app" / "dal" / "loop")
    audit = run_static_audit(["app"], _options(root, max_file_bytes=5000))
    reasons = {s.path: s.reason for s in audit.skipped}
    assert reasons["app/broken.py"].startswith("syntax error (line 2)")
    assert reasons["app/latin.py"] == "not valid UTF-8 (byte 23)"
    assert reasons["app/empty.py"] == "empty file"
    assert "null bytes" in reasons["app/nul.py"]
    assert reasons["app/huge.py"].startswith("too large")
    assert reasons["app/dal/loop"] == "symlink loop (points back to app)"
    assert {s.path for s in audit.skipped if is_error(s)} == {
        "app/broken.py",
        "app/latin.py",
        "app/nul.py",
        "app/dal/loop",
    }
    assert len(audit.findings) == 2  # the good files were still analyzed


def test_unreadable_files_and_folders_are_listed() -> None:
    """Audits in a forked child that dropped root, since root reads any file regardless of mode."""
    if os.geteuid() != 0:
        pytest.skip("needs root to fork a child that switches to an unprivileged user")
    import dbaudit.analysis
    import dbaudit.frontends.python
    import dbaudit.rules.registry  # noqa: F401  (imported before the child loses access)

    base = Path(tempfile.mkdtemp(prefix="dbaudit-perm-"))
    try:
        os.chmod(base, 0o755)
        _app(base)
        _write(base, {"app/secret.py": "import sqlalchemy\n", "app/closed/x.py": "x = 1\n"})
        for path in base.rglob("*"):
            os.chmod(path, 0o755 if path.is_dir() else 0o644)
        os.chmod(base / "app" / "secret.py", 0o000)
        os.chmod(base / "app" / "closed", 0o000)
        reader, writer = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: drop to nobody, audit, send the result back, exit
            try:
                os.close(reader)
                os.setgid(65534)
                os.setuid(65534)
                audit = run_static_audit(["app"], AuditOptions(cwd=str(base), use_cache=False))
                payload = pickle.dumps(audit)
                with os.fdopen(writer, "wb") as out:
                    out.write(payload)
            finally:
                os._exit(0)
        os.close(writer)
        with os.fdopen(reader, "rb") as incoming:
            data = incoming.read()
        os.waitpid(pid, 0)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    audit = pickle.loads(data)
    reasons = {s.path: s.reason for s in audit.skipped}
    assert reasons == {
        "app/secret.py": "unreadable: permission denied",
        "app/closed": "unreadable directory: permission denied",
    }
    assert len(audit.findings) == 2


def test_inline_suppression_on_the_line_or_the_loop_header(tmp_path: Path) -> None:
    suppressed = SERVICE.replace(
        "    for chain_id in chain_ids:",
        "    for chain_id in chain_ids:  # dbaudit: ignore[DBA102]",
    ).replace(
        "await RendersDAL.remove_from_chain(session, render.id)",
        "await RendersDAL.remove_from_chain(session, render.id)  # dbaudit: ignore",
    )
    root = _app(tmp_path, **{"app/services/chains.py": suppressed})
    run = scan(["app"], _options(root))
    assert run.audit.findings == []
    assert run.stats.suppressed == 2


def test_a_suppression_for_another_rule_keeps_the_finding(tmp_path: Path) -> None:
    other = SERVICE.replace(
        "    for chain_id in chain_ids:",
        "    for chain_id in chain_ids:  # dbaudit: ignore[DBA101]",
    )
    root = _app(tmp_path, **{"app/services/chains.py": other})
    assert {f.rule for f in run_static_audit(["app"], _options(root)).findings} == {
        "DBA102",
        "DBA103",
    }


def test_select_ignore_and_min_severity(tmp_path: Path) -> None:
    root = _app(tmp_path)
    only = run_static_audit(["app"], _options(root, select=("DBA103",)))
    assert [f.rule for f in only.findings] == ["DBA103"]
    without = run_static_audit(["app"], _options(root, ignore=("DBA103",)))
    assert [f.rule for f in without.findings] == ["DBA102"]
    prefix = run_static_audit(["app"], _options(root, select=("DBA1",), ignore=("DBA102",)))
    assert [f.rule for f in prefix.findings] == ["DBA103"]
    none = run_static_audit(["app"], _options(root, min_severity=Severity.CRITICAL))
    assert none.findings == []
    with pytest.raises(AuditError, match="unknown rule code 'DBA999'"):
        run_static_audit(["app"], _options(root, select=("DBA999",)))


def test_project_config_is_applied(tmp_path: Path) -> None:
    root = _app(
        tmp_path,
        **{
            "pyproject.toml": "[tool.dbaudit]\nignore = ['DBA102']\nexclude = ['legacy']\n",
            "app/legacy/old.py": "import sqlalchemy\ndef f(:\n",
        },
    )
    run = scan(["app"], _options(root))
    assert [f.rule for f in run.audit.findings] == ["DBA103"]
    assert run.audit.skipped == []  # the broken file was excluded by the config
    assert run.config.path == str(root / "pyproject.toml")
    isolated = scan(["app"], _options(root, use_project_config=False))
    assert len(isolated.audit.findings) == 2
    assert [s.path for s in isolated.audit.skipped] == ["app/legacy/old.py"]


def test_bad_project_config_is_an_audit_error(tmp_path: Path) -> None:
    root = _app(tmp_path, **{"pyproject.toml": "[tool.dbaudit]\nselcet = ['DBA1']\n"})
    with pytest.raises(AuditError, match="unknown key 'selcet'"):
        run_static_audit(["app"], _options(root))


def test_rescan_of_an_unchanged_tree_comes_from_the_cache(tmp_path: Path) -> None:
    root = _app(tmp_path)
    first = scan(["app"], _options(root))
    second = scan(["app"], _options(root))
    assert (first.stats.files_parsed, first.stats.analysis_from_cache) == (2, False)
    assert second.stats.files_from_cache == 2
    assert (second.stats.files_parsed, second.stats.analysis_from_cache) == (0, True)
    assert second.audit.findings == first.audit.findings
    # an edited file is parsed again, the other one still comes from the cache
    (root / "app" / "services" / "chains.py").write_text(SERVICE.replace("render.id", "render.pk"))
    third = scan(["app"], _options(root))
    assert (third.stats.files_parsed, third.stats.files_from_cache) == (1, 1)
    assert not third.stats.analysis_from_cache
    assert len(third.audit.findings) == 2


def test_the_pool_gives_the_same_audit_as_one_process(tmp_path: Path) -> None:
    files = {f"app/services/s{i:02d}.py": SERVICE for i in range(60)}
    root = _app(tmp_path, **files)
    pooled = run_static_audit(["app"], _options(root, jobs=2, use_cache=False))
    single = run_static_audit(["app"], _options(root, jobs=1, use_cache=False))
    assert pooled == single
    assert len(pooled.findings) == 2 * 61


def test_progress_is_reported_up_to_the_total(tmp_path: Path) -> None:
    root = _app(tmp_path)
    seen: list[tuple[int, int]] = []
    run_static_audit(["app"], _options(root, progress=lambda d, t: seen.append((d, t))))
    assert seen[-1] == (2, 2)


def test_no_path_and_bad_jobs_are_errors(tmp_path: Path) -> None:
    with pytest.raises(AuditError):
        run_static_audit([], _options(tmp_path))
    with pytest.raises(AuditError, match="--jobs"):
        run_static_audit(["."], _options(tmp_path, jobs=0))


def test_models_missing_from_the_cache_are_parsed_again(tmp_path: Path) -> None:
    import sqlite3

    root = _app(tmp_path)
    first = scan(["app"], _options(root))
    with sqlite3.connect(root / ".cache" / "cache.sqlite3") as db:
        db.execute("UPDATE files SET module = NULL")
        db.execute("DELETE FROM analyses")
    second = scan(["app"], _options(root))
    assert second.stats.files_from_cache == 2
    assert second.audit.findings == first.audit.findings
