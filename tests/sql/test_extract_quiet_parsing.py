"""sqlglot's "contains unsupported syntax" warning for a statement it reads as a bare command
(mealie's ``CREATE EXTENSION IF NOT EXISTS pg_trgm`` migration) stays out of the audit's
stderr, and out of the log only while dbaudit parses."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import sqlglot

from dbaudit.sql.extract import extract

EXTENSION = "CREATE EXTENSION IF NOT EXISTS pg_trgm"


def test_extract_of_a_command_logs_nothing(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="sqlglot"):
        assert extract(EXTENSION).kind == "other"
    assert [r.getMessage() for r in caplog.records if r.name.startswith("sqlglot")] == []


def test_sqlglot_outside_dbaudit_still_logs(caplog: pytest.LogCaptureFixture) -> None:
    extract(EXTENSION)  # the quiet block ended with the parse: a user's own call warns
    with caplog.at_level(logging.WARNING, logger="sqlglot"):
        sqlglot.parse(EXTENSION, read="postgres")
    assert any("unsupported syntax" in r.getMessage() for r in caplog.records)


def test_audit_of_a_migration_with_an_extension_prints_nothing_and_reads_the_rest(
    tmp_path: Path,
) -> None:
    app = tmp_path / "app"
    app.mkdir()
    # a model, so the audit reviews the code's schema and reads each statement's SQL
    (app / "models.py").write_text(
        textwrap.dedent(
            """
            from sqlalchemy import ForeignKey, Integer, String
            from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


            class Base(DeclarativeBase):
                pass


            class Recipe(Base):
                __tablename__ = "recipes"
                id: Mapped[int] = mapped_column(Integer, primary_key=True)
                slug: Mapped[str] = mapped_column(String)


            class Rating(Base):
                __tablename__ = "ratings"
                id: Mapped[int] = mapped_column(Integer, primary_key=True)
                recipe_id: Mapped[int] = mapped_column(ForeignKey("recipes.id"))
                rating: Mapped[int] = mapped_column(Integer)
            """
        )
    )
    (app / "search.py").write_text(
        textwrap.dedent(
            """
            from sqlalchemy import text


            def enable_search(conn):
                conn.execute(text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
                conn.execute(text("SELECT id FROM recipes WHERE slug = :slug"), {"slug": "x"})


            def ratings(conn, recipe_ids):
                for recipe_id in recipe_ids:
                    conn.execute(
                        text("SELECT rating FROM ratings WHERE recipe_id = :rid"),
                        {"rid": recipe_id},
                    )
            """
        )
    )
    report = tmp_path / "audit.json"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "dbaudit",
            "audit",
            str(app),
            "--no-cache",
            "--no-progress",
            "-j",
            "1",
            "-f",
            "json",
            "-o",
            str(report),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode in (0, 1), done.stderr
    assert "unsupported syntax" not in done.stderr
    assert "pg_trgm" not in done.stderr
    # the statements after the extension are still read: the per-recipe query is reported
    findings = json.loads(report.read_text())["findings"]
    assert any(f["rule"] == "DBA101" and f["function"] == "ratings" for f in findings)
