"""A migration tool's own statements (Alembic's version row, SQLite batch mode's sqlite_master
reads) are counted, never judged: the shape of a suite that migrates its test database (mealie's
backup-restore tests: DBA103 at the line that ran the migrations, N+1s at each revision's
``op.add_column``), next to the same loop over an application table, still reported."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

APP = """
from sqlalchemy import create_engine, text

engine = create_engine("sqlite://")
with engine.begin() as conn:
    conn.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY)"))
    conn.execute(text("INSERT INTO alembic_version VALUES ('r0')"))
    conn.execute(text("CREATE TABLE shelves (id INTEGER PRIMARY KEY, label TEXT)"))
    conn.execute(text("INSERT INTO shelves VALUES (1, 'a'), (2, 'b'), (3, 'c'), (4, 'd')"))


def step_through(revisions):
    with engine.begin() as conn:
        previous = "r0"
        for revision in revisions:
            conn.execute(
                text(
                    "UPDATE alembic_version SET version_num = :new "
                    "WHERE alembic_version.version_num = :old"
                ),
                {"new": revision, "old": previous},
            )
            previous = revision


def table_definitions(names):
    with engine.connect() as conn:
        for name in names:
            conn.execute(
                text("SELECT sql FROM sqlite_master WHERE name = :name AND type = 'table'"),
                {"name": name},
            ).scalar()


def relabel_each(labels):
    with engine.begin() as conn:
        for shelf_id, label in labels.items():
            conn.execute(
                text("UPDATE shelves SET label = :label WHERE id = :id"),
                {"label": label, "id": shelf_id},
            )
"""

TESTS = """
import pytest

from app import relabel_each, step_through, table_definitions


def test_migrations_step_through_revisions():
    step_through(["r1", "r2", "r3", "r4"])


def test_batch_mode_reads_table_definitions():
    table_definitions(["shelves", "alembic_version", "shelves_tmp", "other"])


@pytest.mark.max_queries(3)
def test_they_still_count():
    step_through(["s1", "s2", "s3", "s4"])


def test_relabel_shelves():
    relabel_each({1: "w", 2: "x", 3: "y", 4: "z"})
"""


def line_of(text: str, snippet: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if snippet in line)


def test_tool_statements_are_counted_not_judged(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(app=APP, test_tools=TESTS)
    result = pytester.runpytest_subprocess("--dbaudit", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, failed=2)
    # the statement's line in the loop body: the frame that runs once per shelf
    loop = line_of(APP.removeprefix("\n"), "for shelf_id, label in labels.items():") + 1
    result.stdout.fnmatch_lines(
        [
            "max_queries(3): 4 queries ran",
            f"*dbaudit DBA103 at app.py:{loop} (relabel_each): Row-by-row writes*",
            "FAILED test_tools.py::test_they_still_count*",
            "FAILED test_tools.py::test_relabel_shelves*",
        ]
    )
    result.stdout.fnmatch_lines(["*; 1 tests with findings"])
