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
