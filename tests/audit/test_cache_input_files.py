"""The scan cache and the other files a module's model is built from: a Python module that
loads .sql files with aiosql is audited again when only those files change."""

from __future__ import annotations

from pathlib import Path

import pytest

from dbaudit.audit import AuditOptions, scan
from dbaudit.scan.cache import Cache, file_key, inputs_digest
from dbaudit.scan.worker import FileMeta

DB = """\
from pathlib import Path

import aiosql

queries = aiosql.from_path(Path(__file__).parent / "sql", "asyncpg")
"""
SERVICE = """\
from app.db import queries


async def orders_per_user(conn, users):
    found = []
    for user in users:
        found.append(await queries.orders_of(conn, user_id=user.id))
    return found


async def totals_per_user(conn, users):
    found = []
    for user in users:
        found.append(await queries.total_of(conn, user_id=user.id))
    return found
"""
ORDERS = "-- name: orders_of\nSELECT * FROM orders WHERE user_id = :user_id;\n"
TOTALS = "-- name: total_of$\nSELECT sum(amount) FROM payments WHERE user_id = :user_id;\n"


@pytest.fixture()
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # aiosql's paths resolve from the module's own path
    for name, text in {
        "app/__init__.py": "",
        "app/db.py": DB,
        "app/services.py": SERVICE,
        "app/sql/orders.sql": ORDERS,
    }.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    return tmp_path


def flagged(root: Path) -> set[tuple[str, str]]:
    run = scan(["app"], AuditOptions(cwd=str(root), cache_dir=str(root / ".cache"), jobs=1))
    return {(f.rule, f.function) for f in run.audit.findings}


def test_editing_only_a_sql_file_changes_the_cached_audit(project: Path) -> None:
    assert flagged(project) == {("DBA101", "orders_per_user")}
    assert flagged(project) == {("DBA101", "orders_per_user")}  # served from the cache
    # a query added to the folder: the call in the other loop now reaches the database
    (project / "app" / "sql" / "totals.sql").write_text(TOTALS)
    assert flagged(project) == {("DBA101", "orders_per_user"), ("DBA101", "totals_per_user")}
    # a query removed from a file: its calls no longer name one
    (project / "app" / "sql" / "orders.sql").write_text("-- name: unused\nSELECT 1;\n")
    assert flagged(project) == {("DBA101", "totals_per_user")}


def test_a_module_binding_its_own_queries_is_parsed_again_when_they_change(
    project: Path,
) -> None:
    (project / "app" / "services.py").write_text(DB + "\n\n" + SERVICE.split("\n", 2)[2])
    (project / "app" / "db.py").write_text(
        "def count_users(cursor):\n    cursor.execute('SELECT count(*) FROM users')\n"
    )
    options = AuditOptions(cwd=str(project), cache_dir=str(project / ".cache"), jobs=1)
    first = scan(["app"], options)
    unchanged = scan(["app"], options)
    assert unchanged.stats.files_parsed == 0 and unchanged.stats.analysis_from_cache
    (project / "app" / "sql" / "orders.sql").write_text(ORDERS.replace("orders_of", "order_of"))
    edited = scan(["app"], options)
    assert [f.function for f in first.audit.findings] == ["orders_per_user"]
    assert edited.audit.findings == []
    # the module that loads the .sql files is parsed again; the other ones still come cached
    assert (edited.stats.files_parsed, edited.stats.files_from_cache) == (1, 1)
    assert not edited.stats.analysis_from_cache


def test_a_meta_is_served_only_while_its_input_files_hold_the_same(tmp_path: Path) -> None:
    sql = tmp_path / "q.sql"
    sql.write_text(ORDERS)
    patterns = (str(sql),)
    meta = FileMeta(touches_db=True, inputs=patterns, inputs_digest=inputs_digest(patterns))
    key = file_key("app/db.py", "abc")
    Cache(str(tmp_path / "c")).put_files({key: (meta, None)})
    assert Cache(str(tmp_path / "c")).get_metas([key]) == {key: meta}
    sql.write_text(TOTALS)
    assert Cache(str(tmp_path / "c")).get_metas([key]) == {}
    sql.unlink()  # gone is a change too
    assert Cache(str(tmp_path / "c")).get_metas([key]) == {}
