import pickle
import textwrap

from dbaudit.analysis import AnalysisResult, analyze
from dbaudit.frontends.python import parse_module

SOURCE = textwrap.dedent(
    """
    from sqlalchemy import select
    async def f(session, projects):
        for p in projects:
            await session.execute(select(R).where(R.pid == p.id))
    """
)


def test_analyze_runs_every_rule_and_sorts() -> None:
    result = analyze([parse_module("b.py", SOURCE), parse_module("a.py", SOURCE)])
    assert isinstance(result, AnalysisResult)
    assert [(f.path, f.rule) for f in result.findings] == [("a.py", "DBA101"), ("b.py", "DBA101")]
    assert pickle.loads(pickle.dumps(result.findings)) == result.findings


def test_select_limits_rules_and_empty_input() -> None:
    module = parse_module("a.py", SOURCE)
    assert analyze([module], select=["DBA105"]).findings == []
    assert analyze([]) == AnalysisResult()


def test_findings_in_tests_and_migrations_are_advisory() -> None:
    result = analyze(
        [
            parse_module("app/migrations/0002_fill.py", SOURCE),
            parse_module("app/tests/test_views.py", SOURCE),
            parse_module("app/views.py", SOURCE),
        ]
    )
    severities = {f.path: str(f.severity) for f in result.findings}
    assert severities == {
        "app/migrations/0002_fill.py": "info",
        "app/tests/test_views.py": "info",
        "app/views.py": "high",
    }
    assert all("runs once" in f.problem for f in result.findings if f.path != "app/views.py")
