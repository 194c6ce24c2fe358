"""Every Python fix the rules write for their fixtures is valid Python: a fix applied as written
must at least parse. A loop header over several lines (``for x in f(a,\\n b):``) gave
``[x.id for x in f(a, b):]``, its ``):`` kept; an iterable longer than the model keeps was cut
short inside the code (``...order_by(User.id)).a…``); DBA108 summed ``Table.<column>``."""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

import pytest

from dbaudit.analysis import analyze
from dbaudit.frontends.python import parse_module
from dbaudit.model import ModuleModel

FIXTURES = Path(__file__).parent / "fixtures"


def _python_fixtures() -> list[Path]:
    return sorted(p for p in FIXTURES.iterdir() if p.name.startswith("DBA"))


def _load(path: Path) -> list[ModuleModel]:
    files = sorted(path.rglob("*.py")) if path.is_dir() else [path]
    base = path if path.is_dir() else path.parent
    return [parse_module(f.relative_to(base).as_posix(), f.read_text()) for f in files]


@pytest.mark.parametrize("path", _python_fixtures(), ids=lambda p: p.name)
def test_every_python_fix_of_the_fixtures_parses(path: Path) -> None:
    for finding in analyze(_load(path)).findings:
        fix = finding.fix
        if fix is None or not fix.code or fix.language not in {"", "python"}:
            continue
        try:
            ast.parse(fix.code)
        except SyntaxError as error:
            pytest.fail(f"{finding.rule} {finding.path}:{finding.line}: {error}\n{fix.code}")


def test_a_header_over_lines_is_written_on_one_line() -> None:
    path = FIXTURES / "DBA103_multiline_loops.py"
    codes = {
        f.function: f.fix.code
        for f in analyze(_load(path), select=["DBA103"]).findings
        if f.fix is not None
    }
    assert "[x.id for x in f(a, b)]" in codes["call_over_lines"]
    assert "sorted(users, key=lambda u: u.name)" in codes["sorted_over_lines"]
    assert (
        "select(User).where(User.team == team).order_by(User.id)).all()]"
        in codes["query_over_lines"]
    )
    assert "[x.id for x in User.objects.filter(team=team)]" in codes["django_over_lines"]
    assert "for i, x in enumerate(f(a, b), start=1):" in codes["commit_over_lines"]
    # longer than the model keeps: the items are named, the comment says which
    assert codes["longer_than_kept"].startswith("xs = ...  # the items of `for x in ")
    assert "[x.id for x in xs]" in codes["longer_than_kept"]


def test_dba108_sums_the_column_the_loop_adds_up() -> None:
    path = FIXTURES / "DBA108_rows_fetched_to_count.py"
    codes = {
        f.function: f.fix.code
        for f in analyze(_load(path), select=["DBA108"]).findings
        if f.fix is not None
    }
    # ``sum(t.amount for t in rows)`` in a function that awaits nothing
    assert "rows_sum = session.scalar(" in codes["spent"]
    assert "select(func.sum(CreditTransaction.amount))" in codes["spent"]


def test_dba108_writes_each_condition_of_the_query_as_sqlalchemy_does() -> None:
    source = textwrap.dedent(
        """
        async def open_grants(session, order_id):
            rows = (
                await session.scalars(
                    select(Grant).where(
                        Grant.order_id == order_id,
                        Grant.deleted_at.is_not(None),
                        Grant.member_id.is_(None),
                        or_(Grant.kind == "a", Grant.kind == "b"),
                    )
                )
            ).all()
            return len(rows)
        """
    )
    (finding,) = analyze([parse_module("app/grants.py", source)], select=["DBA108"]).findings
    assert finding.fix is not None
    code = finding.fix.code
    ast.parse(code)
    # polar's tests/scripts/test_restore_oneoff_grants.py:91 had ``deleted_at is_not None``
    assert "Grant.deleted_at.is_not(None), Grant.member_id.is_(None)" in code
    # an OR group is no filter of its own: the count keeps it, named as written
    assert code.startswith("# keep the query's other conditions: or_(")
