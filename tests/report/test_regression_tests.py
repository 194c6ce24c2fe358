"""The regression tests a report writes for the audited code: names, budgets, the reason when no
test can be written, and (against a real PostgreSQL) a generated test that fails on the naive
reference app and passes on the optimized one."""

from __future__ import annotations

import ast
import doctest
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import create_async_engine

import dbaudit
from dbaudit.audit import AuditOptions, run_static_audit
from dbaudit.db import PostgresServer, sqlalchemy_url, temporary_database
from dbaudit.findings import (
    Audit,
    CallSignature,
    Finding,
    Fix,
    RuntimeEvidence,
    Severity,
)
from dbaudit.frontends.typescript.syntax import count_errors, parse
from dbaudit.report import regression_tests
from dbaudit.report.regression_tests import RegressionTest, plan, python_module


def _finding(
    path: str = "app/services/chains.py",
    function: str = "delete_chain",
    *,
    rule: str = "DBA103",
    cost: str = "2 + N",
    fixed: str = "3",
    signature: CallSignature | None = None,
    code: str = "for render in renders:\n    await remove(session, render.id)",
    **extra: object,
) -> Finding:
    return Finding(
        rule=rule,
        severity=Severity.HIGH,
        message="one UPDATE per render",
        path=path,
        line=14,
        end_line=15,
        function=function,
        query_cost=cost,
        fixed_query_cost=fixed,
        code=code,
        signature=signature or CallSignature(("session", "chain_id"), True),
        **extra,  # type: ignore[arg-type]
    )


def _only_test(*findings: Finding) -> RegressionTest:
    tests = plan(Audit(findings=list(findings))).tests
    assert len(tests) == 1
    return tests[0]


def test_doctests() -> None:
    assert doctest.testmod(regression_tests).failed == 0


@pytest.mark.parametrize(
    ("path", "module"),
    [
        ("app/services/chains.py", "app.services.chains"),
        ("src/shop/dal/orders.py", "shop.dal.orders"),
        ("backend/src/shop/__init__.py", "shop"),
        ("my-app/app/models.py", "app.models"),  # the package starts after a non-identifier
        ("app/2024_fixes/run.py", "run"),
        ("scripts/fix-data.py", None),  # no module name can be imported
        ("app/class/x.py", "x"),  # a keyword is no package name
        ("lib/dal/x.ts", None),
    ],
)
def test_python_module_from_the_file_path(path: str, module: str | None) -> None:
    assert python_module(path) == module


def test_python_test_imports_the_real_function_and_pins_the_fixed_count() -> None:
    test = _only_test(_finding())
    assert test.framework == "pytest"
    assert test.budget == 3
    assert test.name == "test_delete_chain_runs_at_most_3_queries"
    assert test.save_as == "tests/query_budgets/test_delete_chain.py"
    assert test.fixtures == ("session", "chain_id")
    code = test.code
    ast.parse(code)  # valid Python
    assert "from app.services.chains import delete_chain\n" in code
    assert "@pytest.mark.asyncio\nasync def test_delete_chain_runs_at_most_3_queries(" in code
    assert "    with assert_max_queries(3):\n" in code
    assert "        await delete_chain(session=session, chain_id=chain_id)\n" in code
    assert "2 + N queries before the fix, 3 queries after it" in " ".join(code.split())


def test_methods_static_methods_and_sync_functions_are_called_as_they_are_defined() -> None:
    method = _only_test(
        _finding(
            function="RenderChainService.delete_chain",
            signature=CallSignature(("chain_id",), True, "RenderChainService", "method"),
        )
    )
    # an instance comes from a fixture named after the class; nothing to import for it
    assert "render_chain_service.delete_chain(chain_id=chain_id)" in method.code
    assert "import RenderChainService" not in method.code
    assert method.fixtures == ("render_chain_service", "chain_id")
    static = _only_test(
        _finding(
            function="RendersDAL.list_for_chain",
            signature=CallSignature(("session", "chain_id"), False, "RendersDAL", "staticmethod"),
        )
    )
    assert "from app.services.chains import RendersDAL\n" in static.code
    assert "\ndef test_renders_dal_list_for_chain_runs_at_most_3_queries(" in static.code
    assert "        RendersDAL.list_for_chain(session=session, chain_id=chain_id)" in static.code
    assert "asyncio" not in static.code and "await" not in static.code
    ast.parse(method.code)
    ast.parse(static.code)


def test_a_parameter_named_like_a_pytest_fixture_gets_a_fixture_of_its_own() -> None:
    test = _only_test(_finding(signature=CallSignature(("request", "user_id"))))
    assert "request=request_arg, user_id=user_id" in test.code
    assert test.fixtures == ("request_arg", "user_id")


def test_sequential_awaits_must_also_stay_concurrent() -> None:
    finding = _finding(rule="DBA105", cost="4 (sequential)", fixed="4 (concurrent)")
    test = _only_test(finding)
    assert test.budget == 4
    assert "from dbaudit.runtime import profile" in test.code
    assert 'profile("delete_chain", raise_on=("DBA105",))' in test.code
    ast.parse(test.code)


def test_a_concurrent_fix_pins_every_query_the_function_was_measured_to_run() -> None:
    # the sequence is 4 independent queries, but the function ran 5 (a guard lookup first):
    # overlapping the 4 removes none, so a budget of 4 would fail the fixed code
    evidence = RuntimeEvidence(5, 20.0, "get_profile_stats", "f", unit_queries=5, unit_ms=20.0)
    finding = _finding(rule="DBA105", cost="4 (sequential)", fixed="4 (concurrent)")
    test = _only_test(replace(finding, evidence=evidence))
    assert test.budget == 5
    # and its docstring says which 4 of the 5 the "before" counts
    assert "4 independent queries (sequential) of the 5 measured in get_profile_stats" in (
        " ".join(test.code.split())
    )


def test_django_code_is_marked_for_the_database_and_instrumented() -> None:
    finding = _finding(code="for user in users:\n    Order.objects.filter(user=user).count()")
    test = _only_test(finding)
    assert "@pytest.mark.django_db" in test.code
    assert "from django.db import connection" in test.code
    assert "instrument(connection)" in test.code
    ast.parse(test.code)


def test_findings_of_one_function_share_one_test_with_the_largest_fixed_count() -> None:
    stats = _finding(function="profile_stats", rule="DBA105", cost="4 (sequential)", fixed="4")
    count = _finding(function="profile_stats", rule="DBA108", cost="1", fixed="1")
    other = _finding(function="other")
    result = plan(Audit(findings=[stats, count, other]))
    assert [t.operation for t in result.tests] == ["profile_stats", "other"]
    assert result.tests[0].budget == 4
    assert result.test_for(count) is result.tests[0]
    assert result.fixtures("pytest") == ("session", "chain_id")


def test_order_follows_the_report() -> None:
    first, second = _finding(function="a"), _finding(function="b")
    assert [t.operation for t in plan(Audit(findings=[first, second]), [second, first]).tests] == [
        "b",
        "a",
    ]


@pytest.mark.parametrize(
    ("finding", "reason", "check"),
    [
        (
            _finding(rule="DBA201", cost="", fixed="", fix=Fix("set pool_size", "x", "python")),
            "a configuration finding: its fix is a setting, not a query count",
            "`dbaudit check app/services/chains.py --select DBA201`",
        ),
        (
            _finding(fixed="1 + N"),
            "the fixed count (1 + N) still grows with the data",
            "`dbaudit check app/services/chains.py --select DBA103`",
        ),
        (
            _finding(function="outer.<locals>.inner"),
            "`outer.<locals>.inner` cannot be imported by a test (a nested or private function)",
            "`dbaudit check app/services/chains.py --select DBA103`",
        ),
        (
            _finding(path="scripts/fix-data.py"),
            "no importable module name in the path scripts/fix-data.py",
            "`dbaudit check scripts/fix-data.py --select DBA103`",
        ),
        (
            replace(
                _finding(source="live", path="db://shop/renders", function="", rule="DBA402"),
                severity=Severity.MEDIUM,
            ),
            "a database finding: the live review checks it again",
            '`dbaudit indexes --db "$DATABASE_URL" --fail-on medium`',
        ),
        (
            replace(
                _finding(
                    source="runtime",
                    evidence=RuntimeEvidence(51, 40.0, "tests/test_api.py::test_projects"),
                ),
                signature=None,
            ),
            "how to call the function is not known (found at runtime)",
            "`@pytest.mark.max_queries(3)` on `tests/test_api.py::test_projects`",
        ),
    ],
)
def test_without_a_test_every_finding_gets_a_check_and_the_reason(
    finding: Finding, reason: str, check: str
) -> None:
    result = plan(Audit(findings=[finding]))
    assert result.tests == ()
    [safeguard] = result.safeguards
    assert (safeguard.reason, safeguard.check) == (reason, check)


# --- TypeScript ------------------------------------------------------------------------------


def _typescript(test: RegressionTest) -> None:
    tree = parse(test.code.encode(), "typescript")
    assert count_errors(tree.root_node) == 0, test.code


def test_vitest_test_counts_node_postgres_statements_and_calls_the_exported_function() -> None:
    finding = _finding(
        path="lib/services/render-chain.ts",
        function="RenderChainService.deleteChain",
        signature=CallSignature(("chainId",), True, "RenderChainService", "staticmethod"),
        code="for (const render of renders) {\n  await db.update(renders).set({ id: null });\n}",
    )
    test = _only_test(finding)
    assert test.framework == "vitest"
    assert (
        test.save_as == "lib/services/render-chain.RenderChainService.deleteChain.queries.test.ts"
    )
    assert test.fixtures == ("chainId",)
    code = test.code
    assert 'import { RenderChainService } from "./render-chain";' in code
    assert 'import { test } from "../../test/fixtures"; // test.extend fixtures: chainId' in code
    assert 'const query = vi.spyOn(pg.Client.prototype, "query");' in code
    assert "await RenderChainService.deleteChain(chainId);" in code
    assert "expect(query.mock.calls.length).toBeLessThanOrEqual(3);" in code
    _typescript(test)


def test_vitest_test_for_prisma_counts_query_events() -> None:
    finding = _finding(
        path="lib/services/naive.ts",
        function="archiveRenders",
        signature=CallSignature(("renderIds",), True),
        code="for (const id of renderIds) {\n  await prisma.render.update({ where: { id } });\n}",
        fixed="1",
    )
    test = _only_test(finding)
    assert test.fixtures == ("renderIds", "prisma")
    assert 'prisma.$on("query", () => {' in test.code
    assert "expect(queries).toBeLessThanOrEqual(1);" in test.code
    assert "pg.Client" not in test.code
    _typescript(test)


def test_javascript_gets_an_es_module_test_beside_it() -> None:
    finding = _finding(
        path="legacy/reports.cjs", function="touchAll", signature=CallSignature(("ids",), True)
    )
    test = _only_test(finding)
    assert test.save_as == "legacy/reports.touchAll.queries.test.mjs"
    assert 'import { touchAll } from "./reports.cjs";' in test.code
    _typescript(test)


def test_typescript_fixture_tree_gets_a_test_per_flagged_operation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The TypeScript reference app (Drizzle and Prisma): every generated test parses."""
    # TypeScript imports resolve from the working directory
    monkeypatch.chdir(Path(__file__).parents[1] / "fixtures")
    options = AuditOptions(use_cache=False, use_project_config=False, jobs=1)
    audit = run_static_audit(["ts_render_platform/naive", "ts_render_platform/prisma"], options)
    result = plan(audit)
    operations = {t.operation for t in result.tests}
    assert {"ChainService.deleteChain", "profileStats", "archiveRenders"} <= operations
    for test in result.tests:
        _typescript(test)
    assert all(s.test is not None or s.reason for s in result.safeguards)


# --- a generated test, run against the reference app -----------------------------------------

CONFTEST = """
import os

import pytest
import pytest_asyncio
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from dbaudit.db import sqlalchemy_url


@pytest_asyncio.fixture
async def session():
    engine = create_async_engine(sqlalchemy_url(os.environ["REFERENCE_URL"]))
    async with AsyncSession(engine) as opened:
        yield opened
    await engine.dispose()


@pytest.fixture
def user_id():
    return int(os.environ["REFERENCE_USER_ID"])
"""


@dataclass(frozen=True, slots=True)
class Loaded:
    url: str
    heavy_user_id: int


@pytest.fixture(scope="module")
async def loaded(pg_server: PostgresServer) -> AsyncIterator[Loaded]:
    from dbaudit.reference.render_platform.datagen import Scale, generate
    from dbaudit.reference.render_platform.schema import create_schema

    with temporary_database(pg_server) as url:
        engine = create_async_engine(sqlalchemy_url(url))
        try:
            await create_schema(engine, "optimized")
        finally:
            await engine.dispose()
        dataset = await generate(url, Scale.demo(), seed=0)
        yield Loaded(url, dataset.heavy_user_id)


def _generated_for(operation: str) -> RegressionTest:
    """The test the report writes for ``operation`` of the naive app, audited from the folder
    that holds the ``dbaudit`` package (so paths read ``dbaudit/reference/...``)."""
    source_root = Path(dbaudit.__file__).resolve().parent.parent
    options = AuditOptions(cwd=str(source_root), use_cache=False, use_project_config=False, jobs=1)
    app = "dbaudit/reference/render_platform"
    audit = run_static_audit([f"{app}/naive", f"{app}/schema.py"], options)
    return next(t for t in plan(audit).tests if t.operation == operation)


def _run(code: str, folder: Path, loaded: Loaded) -> subprocess.CompletedProcess[str]:
    folder.mkdir()
    (folder / "conftest.py").write_text(CONFTEST, encoding="utf-8")
    (folder / "test_generated.py").write_text(code, encoding="utf-8")
    environment = {
        **os.environ,
        "REFERENCE_URL": loaded.url,
        "REFERENCE_USER_ID": str(loaded.heavy_user_id),
    }
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(folder)],
        cwd=folder,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_generated_test_fails_on_the_naive_app_and_passes_on_the_optimized_one(
    loaded: Loaded, tmp_path: Path
) -> None:
    test = _generated_for("user_chains_with_renders")
    naive_import = "from dbaudit.reference.render_platform.naive.services.chains import"
    assert naive_import in test.code
    assert test.budget == 3
    # as written for the naive app: its N + N·M queries break the budget
    naive = _run(test.code, tmp_path / "naive", loaded)
    assert naive.returncode == 1, naive.stdout + naive.stderr
    assert "1 failed" in naive.stdout
    assert "expected at most 3 queries, 61 ran" in naive.stdout
    # the same test once the function is fixed (the optimized variant has the same name)
    fixed = test.code.replace(".naive.services.", ".optimized.services.")
    optimized = _run(fixed, tmp_path / "optimized", loaded)
    assert optimized.returncode == 0, optimized.stdout + optimized.stderr
    assert "1 passed" in optimized.stdout
