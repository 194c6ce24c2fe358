"""DBA108's COUNT fix for TypeScript reads the query's own ``where``, not a relation's."""

from __future__ import annotations

from pathlib import Path

from dbaudit.analysis import analyze
from dbaudit.frontends.typescript import parse

SHAPES = Path(__file__).parents[1] / "fixtures" / "ts_real_shapes"


def test_a_count_fix_keeps_the_querys_own_where_not_an_includes() -> None:
    path = SHAPES / "count_with_nested_where.ts"
    findings = analyze([parse(path.name, path.read_text()).module], select=["DBA108"]).findings
    fixes = {f.function: f.fix.code for f in findings if f.fix is not None}
    assert fixes["teamsOwned"] == (
        "const teamsCount = await prisma.team.count({ where: { ownerId } });"
    )
    # no where of its own: every post is counted, whatever the comments it loads
    assert "hidden" not in fixes["postsOf"]
