"""E's whole-program analysis run on the TypeScript fixture, next to the Python reference app.

The TypeScript naive variant must get the findings the Python naive variant gets (same rule
IDs, call chains across files), and the optimized variant none at low or above, with its good
practices listed.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from dbaudit.analysis import AnalysisResult, analyze
from dbaudit.findings import Severity
from dbaudit.frontends import python as python_frontend
from dbaudit.frontends.typescript import SUFFIXES, parse

FIXTURE = Path(__file__).parents[2] / "fixtures" / "ts_render_platform"
REFERENCE = Path(python_frontend.__file__).parents[2] / "reference" / "render_platform"
AT_LEAST_LOW = {Severity.LOW, Severity.MEDIUM, Severity.HIGH, Severity.CRITICAL}


@pytest.fixture(autouse=True)
def inside_the_fixture(monkeypatch: pytest.MonkeyPatch) -> None:
    """Paths as a user auditing this app sees them (``naive/lib/dal/renders.ts``): under
    ``tests/`` every finding would be downgraded as test code."""
    monkeypatch.chdir(FIXTURE)


def typescript(variant: str) -> AnalysisResult:
    files = sorted(p for p in Path(variant).rglob("*") if p.name.endswith(SUFFIXES))
    return analyze([parse(p.as_posix(), p.read_text()).module for p in files])


def python(variant: str) -> AnalysisResult:
    root = REFERENCE / variant
    return analyze(
        [python_frontend.parse_module(str(p), p.read_text()) for p in sorted(root.rglob("*.py"))]
    )


def rules(result: AnalysisResult, severities: set[Severity] | None = None) -> Counter[str]:
    return Counter(
        f.rule for f in result.findings if severities is None or f.severity in severities
    )


def by_function(result: AnalysisResult) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for finding in result.findings:
        found.setdefault(finding.function, set()).add(finding.rule)
    return found


def test_naive_gets_the_query_findings_of_the_python_reference() -> None:
    ts = by_function(typescript("naive"))
    assert ts["ChainService.userChainsWithRenders"] == {"DBA102"}
    assert ts["ChainService.deleteChain"] == {"DBA103"}
    assert ts["userProjectOverviews"] == {"DBA102"} and ts["recentProjectOverviews"] == {"DBA102"}
    assert ts["profileStats"] == {"DBA105", "DBA108"}
    assert ts["creditsWithReset"] == {"DBA107"}
    py = rules(python("naive"))
    for rule in ("DBA102", "DBA103", "DBA107", "DBA108"):
        assert rules(typescript("naive"))[rule] == py[rule], rule


def test_naive_nested_loop_cost_and_call_chain_across_files() -> None:
    result = typescript("naive")
    inner = next(
        f
        for f in result.findings
        if f.rule == "DBA102"
        and f.function == "ChainService.userChainsWithRenders"
        and f.severity == Severity.CRITICAL
    )
    assert inner.query_cost == "1 + N + N·M" and inner.fixed_query_cost == "3"
    assert [hop.path for hop in inner.call_chain] == [
        "naive/lib/services/chains.ts",
        "naive/lib/dal/renders.ts",
    ]
    assert inner.call_chain[-1].function == "RendersDAL.getByChainId"
    overview = next(f for f in result.findings if f.function == "userProjectOverviews")
    assert [hop.function for hop in overview.call_chain] == [
        "userProjectOverviews",
        "projectOverview",
        "RendersDAL.listForProject",
    ]
    assert overview.query_cost == "1 + N"


def test_naive_rule_ids_equal_the_python_reference() -> None:
    assert rules(typescript("naive")) == rules(python("naive"))
    # and the same severities per rule
    ts = sorted((f.rule, f.severity.value) for f in typescript("naive").findings)
    py = sorted((f.rule, f.severity.value) for f in python("naive").findings)
    assert ts == py


def test_optimized_is_clean_and_lists_its_good_practices() -> None:
    result = typescript("optimized")
    assert rules(result, AT_LEAST_LOW) == Counter()
    kinds = Counter(p.kind for p in result.good_practices)
    assert kinds["batched IN"] >= 4 and kinds["window function"] == 1
    assert kinds["joined lookup"] == 2 and kinds["bulk write"] == 1
    assert kinds["aggregation"] == 1 and kinds["concurrent awaits"] == 1
    concurrent = next(p for p in result.good_practices if p.kind == "concurrent awaits")
    assert "Promise.all" in concurrent.code


def test_prisma_naive_and_optimized() -> None:
    result = typescript("prisma")
    found = {(f.function, f.rule) for f in result.findings if f.severity in AT_LEAST_LOW}
    assert ("archiveRenders", "DBA103") in found
    assert ("dashboard", "DBA105") in found
    optimized = {f.path for f in result.findings if f.severity in AT_LEAST_LOW}
    assert not any(p.endswith("optimized.ts") for p in optimized)


def test_promise_all_over_map_is_reported_as_n_concurrent_queries() -> None:
    (fan_out,) = [f for f in typescript("prisma").findings if f.function == "projectOverviews"]
    assert fan_out.rule == "DBA101" and fan_out.severity == Severity.MEDIUM
    assert "concurrently" in fan_out.message and fan_out.query_cost == "N"


def test_commonjs_node_postgres_and_knex() -> None:
    found = {(f.function, f.rule) for f in typescript("legacy").findings}
    assert ("chainReport", "DBA101") in found and ("touchAll", "DBA103") in found
    assert not any(fn == "chainReportBatched" for fn, _ in found)


def test_star_re_exports_resolve() -> None:
    from dbaudit.analysis.callgraph import CallGraph

    modules = [
        parse(p.as_posix(), p.read_text()).module
        for p in sorted(Path("naive").rglob("*"))
        if p.name.endswith(SUFFIXES)
    ]
    graph = CallGraph(modules)
    caller = next(r for r in graph.functions.values() if r.function.qualname == "profileStats")
    call = next(c for c in caller.function.calls if c.callee == "UsersDAL.getById")
    target = graph.resolve(caller, call)
    assert target is not None and target.id == "naive/lib/dal/users.ts::UsersDAL.getById"


def test_files_with_dots_in_their_name_resolve(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dbaudit.analysis.callgraph import CallGraph

    (tmp_path / "users.service.ts").write_text(
        "export class UsersService {\n  static async byId(id: number) {\n"
        "    return db.select().from(users).where(eq(users.id, id));\n  }\n}\n"
    )
    (tmp_path / "users.actions.ts").write_text(
        "import { UsersService } from './users.service';\n"
        "export async function load(ids: number[]) {\n"
        "  for (const id of ids) { await UsersService.byId(id); }\n}\n"
    )
    monkeypatch.chdir(tmp_path)
    modules = [
        parse(name, Path(name).read_text()).module
        for name in ("users.service.ts", "users.actions.ts")
    ]
    graph = CallGraph(modules)
    caller = next(r for r in graph.functions.values() if r.function.qualname == "load")
    target = graph.resolve(caller, caller.function.calls[0])
    assert target is not None and target.function.qualname == "UsersService.byId"
