"""Modules written for Python 3.12+ (PEP 695 type parameters) are audited on 3.11 too."""

from __future__ import annotations

import ast
import contextlib
import textwrap
from pathlib import Path

import pytest

from dbaudit.audit import AuditOptions, run_static_audit
from dbaudit.frontends.python.newer_syntax import (
    parse_python,
    with_bracketed_exceptions,
    without_type_parameters,
)

LOADERS = textwrap.dedent(
    """\
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from app.models import Render


    class Loader[K, V]:
        def load_many[T: (int, str)](self, keys: list[K]) -> list[V]:
            return [self.load(key) for key in keys]


    type Ids = list[int]
    type Pair[
        A,
        B,
    ] = tuple[A, B]


    def renders_of[
        T
    ](session: Session, projects: list[T]) -> list[Render]:
        found = []
        for project in projects:
            found += session.scalars(select(Render).where(Render.project_id == project.id)).all()
        return found
    """
)


def test_type_parameters_become_spaces_and_every_line_stays_where_it_was() -> None:
    rewritten = without_type_parameters(LOADERS)
    assert rewritten.count("\n") == LOADERS.count("\n")
    assert "class Loader      :" in rewritten
    assert "Ids      = list[int]" in rewritten
    tree = parse_python(LOADERS, "loaders.py")
    functions = {n.name: n.lineno for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
    assert functions == {"load_many": 8, "renders_of": 19}
    (loop,) = [n for n in ast.walk(tree) if isinstance(n, ast.For)]
    assert (loop.lineno, loop.col_offset) == (23, 4)


def test_the_audit_reads_a_module_with_type_parameters(tmp_path: Path) -> None:
    (tmp_path / "loaders.py").write_text(LOADERS)
    with contextlib.chdir(tmp_path):
        audit = run_static_audit(["."], AuditOptions(cwd=str(tmp_path), use_cache=False, jobs=1))
    assert [(f.path, f.line, f.rule) for f in audit.findings] == [("loaders.py", 24, "DBA101")]


def test_a_real_syntax_error_is_still_one() -> None:
    broken = "def f[T](x):\n    return x +\n"
    with pytest.raises(SyntaxError) as raised:
        parse_python(broken, "broken.py")
    assert raised.value.lineno == 2
    assert without_type_parameters("def f(:\n") == "def f(:\n"  # does not tokenize: as it was


# PEP 758 (Python 3.14): an exception list without brackets
HANDLERS = textwrap.dedent(
    """\
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from app.models import Render


    def render_ids(session: Session, projects: list[int]) -> list[int]:
        found = []
        for project in projects:
            try:
                found += session.scalars(select(Render.id).filter_by(project_id=project)).all()
            except ValueError, TypeError:
                continue
            try:
                found.append(session.scalar(select(Render.id).where(Render.id == project)))
            except* KeyError, LookupError: found.append(session.scalar(select(Render.id)))
        return found
    """
)


def test_an_exception_list_without_brackets_gets_them_and_columns_stay() -> None:
    rewritten = with_bracketed_exceptions(HANDLERS)
    assert rewritten.count("\n") == HANDLERS.count("\n")
    assert "except(ValueError,TypeError):" in rewritten
    assert "except*(KeyError,LookupError): found" in rewritten
    tree = parse_python(HANDLERS, "handlers.py")
    calls = [
        n
        for n in ast.walk(tree)
        if isinstance(n, ast.Call) and ast.unparse(n.func) == "found.append"
    ]
    source_line = HANDLERS.splitlines()[15]
    assert calls[-1].col_offset == source_line.index("found.append")
    # brackets already there, a single exception and ``as`` are left as they are
    for kept in ("try: f()\nexcept (A, B): pass\n", "try: f()\nexcept A as e: pass\n"):
        assert with_bracketed_exceptions(kept) == kept


def test_the_audit_reads_a_module_with_an_exception_list_without_brackets(tmp_path: Path) -> None:
    (tmp_path / "handlers.py").write_text(HANDLERS)
    with contextlib.chdir(tmp_path):
        audit = run_static_audit(["."], AuditOptions(cwd=str(tmp_path), use_cache=False, jobs=1))
    assert [s.reason for s in audit.skipped if "syntax" in s.reason] == []
    assert [(f.line, f.rule) for f in audit.findings] == [
        (11, "DBA101"),
        (15, "DBA101"),
        (16, "DBA101"),
    ]
