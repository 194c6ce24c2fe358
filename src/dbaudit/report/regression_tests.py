"""Regression tests written for the audited code: one per flagged operation, pinning the query
count its fix reaches, so the N+1 (or the extra round trips) cannot come back unnoticed.

Python gets a pytest test that uses dbaudit's ``assert_max_queries`` fixture and imports the
function from the module its file path names (``app/services/chains.py`` ->
``app.services.chains``). TypeScript and JavaScript get a Vitest test that counts the statements
sent through node-postgres (Drizzle's node-postgres driver, Knex, ``pg``) with a spy on
``pg.Client.prototype.query``, or Prisma's query events when the code uses Prisma. Either way
the function's arguments come from fixtures named after its parameters (pytest fixtures; Vitest
``test.extend`` fixtures), which the user defines once, with data that makes every loop run
several times.

A finding whose fix does not end in a fixed number of queries (a connection setting, an index,
a fix whose count still grows with the data) or whose function a test cannot import gets the
check that keeps it fixed instead, with the reason: ``dbaudit check`` for a static rule,
``dbaudit indexes`` for the live review, a ``max_queries`` marker on the test that measured a
runtime-only finding.
"""

from __future__ import annotations

import keyword
import posixpath
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from dbaudit.findings import Audit, CallSignature, Finding, Severity
from dbaudit.report.common import (
    current_text,
    evaluate_cost,
    has_loop_size,
    is_concurrent_fix,
    is_database_finding,
    language_of,
    line_range,
)

# Rules whose fix is a setting, not a query count.
CONFIGURATION_RULES = frozenset({"DBA201"})
# Rules the runtime profiler also detects: a generated Python test fails on them too, so a fix
# that keeps the count but loses the concurrency (DBA105) is still caught.
RUNTIME_DETECTED = {"DBA105": "the queries must run concurrently, not one after another"}
# pytest fixtures a parameter name must not shadow: the test asks for its own under another name
PYTEST_RESERVED = frozenset(
    {"request", "assert_max_queries", "tmp_path", "monkeypatch", "capsys", "caplog", "pytestconfig"}
)
FIXTURES_MODULE = "test/fixtures"  # where the Vitest tests import their ``test.extend`` from
_PRISMA = re.compile(r"\bprisma\b|\$transaction\b|\.findMany\(|\.findUnique\(", re.IGNORECASE)
_DJANGO = re.compile(r"\.objects\.|\bselect_related\(|\bprefetch_related\(")
_WORD_BREAK = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_IDENTIFIER = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")


@dataclass(frozen=True, slots=True)
class RegressionTest:
    """A test for one operation (function), pinning the query count after its fix."""

    name: str  # the test's name: a Python function name, or a Vitest test title
    operation: str  # the function under test, as findings name it (``RendersDAL.get``)
    source: str  # the file it is in
    save_as: str  # where to save the test, relative to the project
    language: str  # python, typescript, javascript
    framework: Literal["pytest", "vitest"]
    budget: int
    fixtures: tuple[str, ...]  # what the test asks the user's setup for
    code: str
    findings: tuple[Finding, ...]  # what it keeps fixed


@dataclass(frozen=True, slots=True)
class Safeguard:
    """What keeps one finding fixed: a generated test, or else a check to run in CI and why."""

    finding: Finding
    test: RegressionTest | None = None
    check: str = ""  # Markdown: a command in backticks, or an instruction
    reason: str = ""  # why there is no generated test


@dataclass(frozen=True, slots=True)
class RegressionPlan:
    tests: tuple[RegressionTest, ...]
    safeguards: tuple[Safeguard, ...]  # one per finding, in the audit's order

    def test_for(self, finding: Finding) -> RegressionTest | None:
        for safeguard in self.safeguards:
            if safeguard.finding is finding:
                return safeguard.test
        return None

    def fixtures(self, framework: str) -> tuple[str, ...]:
        """Every fixture the tests of ``framework`` ask for, in first-use order."""
        names = (f for t in self.tests if t.framework == framework for f in t.fixtures)
        return tuple(dict.fromkeys(names))


def plan(audit: Audit, order: Sequence[Finding] | None = None) -> RegressionPlan:
    """A test per flagged operation whose fix has a fixed query count; a check for the rest.

    Tests and safeguards follow ``order`` (the findings in the order a report lists them;
    ``audit.findings`` by default).
    """
    findings = list(audit.findings if order is None else order)
    groups: dict[tuple[str, str], list[Finding]] = defaultdict(list)
    reasons: dict[int, str] = {}
    for finding in findings:
        reason = _untestable(finding)
        if reason:
            reasons[id(finding)] = reason
        else:
            groups[(finding.path, finding.function)].append(finding)
    written: dict[int, RegressionTest] = {}
    tests = []
    for members in groups.values():
        test = write_test(members)
        tests.append(test)
        written.update((id(f), test) for f in members)
    safeguards = tuple(
        Safeguard(f, test=written[id(f)])
        if id(f) in written
        else Safeguard(f, check=check_command(f), reason=reasons[id(f)])
        for f in findings
    )
    return RegressionPlan(tuple(tests), safeguards)


def _untestable(finding: Finding) -> str:
    """Why no query-count test can be written for ``finding`` ("" when one can)."""
    if is_database_finding(finding):
        return "a database finding: the live review checks it again"
    if finding.rule in CONFIGURATION_RULES:
        return "a configuration finding: its fix is a setting, not a query count"
    if not finding.fixed_query_cost or evaluate_cost(finding.fixed_query_cost) is None:
        return "no fixed query count to pin"
    if has_loop_size(finding.fixed_query_cost):
        return f"the fixed count ({finding.fixed_query_cost}) still grows with the data"
    if finding.signature is None or not finding.function:
        found = " (found at runtime)" if finding.source == "runtime" else ""
        return f"how to call the function is not known{found}"
    if language_of(finding.path) == "python" and python_module(finding.path) is None:
        return f"no importable module name in the path {finding.path}"
    if not all(_IDENTIFIER.fullmatch(part) for part in finding.function.split(".")):
        return f"`{finding.function}` cannot be imported by a test (a nested or private function)"
    return ""


def check_command(finding: Finding) -> str:
    """The CI check that fails when ``finding`` comes back, where no test was written."""
    if is_database_finding(finding):
        fail_on = max(finding.severity, Severity.LOW)
        return f'`dbaudit indexes --db "$DATABASE_URL" --fail-on {fail_on}`'
    evidence = finding.evidence
    if finding.source == "runtime" and evidence is not None and "::" in evidence.unit:
        budget = evaluate_cost(finding.fixed_query_cost) if finding.fixed_query_cost else None
        if budget is not None and not has_loop_size(finding.fixed_query_cost):
            return f"`@pytest.mark.max_queries({budget})` on `{evidence.unit}`"
        return f"`pytest --dbaudit`, which fails `{evidence.unit}` on {finding.rule}"
    if finding.source == "runtime":
        return f"`pytest --dbaudit`, which fails the test that runs it on {finding.rule}"
    return f"`dbaudit check {finding.path} --select {finding.rule}`"


def write_test(findings: list[Finding]) -> RegressionTest:
    """The test for one function's findings (each one testable, all in the same function)."""
    budget = max(_budget(f) for f in findings)
    first = findings[0]
    if language_of(first.path) == "python":
        return _python_test(findings, budget)
    return _vitest_test(findings, budget)


def _budget(finding: Finding) -> int:
    value = evaluate_cost(finding.fixed_query_cost)
    assert value is not None  # _untestable let through only findings with a count
    evidence = finding.evidence
    if is_concurrent_fix(finding) and evidence is not None and evidence.unit_queries > value:
        # "4 (concurrent)" counts the sequence only: the function measured more (a guard lookup
        # before it), and overlapping removes none of them, so the fixed code still runs those
        return evidence.unit_queries
    return value


# --- names -----------------------------------------------------------------------------------


def python_module(path: str) -> str | None:
    """The module a file is imported as, from its path relative to the project.

    ``src/`` layouts start after ``src``; a folder that is no identifier (``my-app``) cannot be
    part of an import, so the package starts after it.

    >>> python_module("src/shop/dal/orders.py"), python_module("my-app/app/models/__init__.py")
    ('shop.dal.orders', 'app.models')
    >>> python_module("scripts/2024-fix.py") is None
    True
    """
    parts = posixpath.normpath(path).lstrip("/").split("/")
    if not parts[-1].endswith(".py"):
        return None
    parts[-1] = parts[-1][: -len(".py")]
    for index in range(len(parts) - 2, -1, -1):
        if parts[index] == "src":
            parts = parts[index + 1 :]
            break
    if parts[-1] == "__init__" and len(parts) > 1:
        parts = parts[:-1]
    kept: list[str] = []
    for part in reversed(parts):
        if not part.isidentifier() or keyword.iskeyword(part):
            break
        kept.insert(0, part)
    if not kept or kept[-1] != parts[-1]:
        return None
    return ".".join(kept)


def snake_case(name: str) -> str:
    """``RendersDAL.list_for_project`` -> ``renders_dal_list_for_project``.

    >>> snake_case("RenderChainService.deleteChain")
    'render_chain_service_delete_chain'
    """
    words = _WORD_BREAK.sub("_", name.replace(".", "_"))
    return re.sub(r"_+", "_", words).strip("_").lower()


def camel_case(name: str) -> str:
    """``RenderChainService`` -> ``renderChainService`` (a Vitest fixture for an instance)."""
    return name[:1].lower() + name[1:]


def _count(budget: int) -> str:
    return f"{budget} {'query' if budget == 1 else 'queries'}"


def _summary(findings: list[Finding]) -> str:
    """``DBA102 (lines 21-22): 1 + N + N·M queries before the fix``."""
    rules = ", ".join(dict.fromkeys(f.rule for f in findings))
    lines = sorted({(f.line, f.end_line) for f in findings})
    span = (
        line_range(lines[0][0], max(end for _, end in lines))
        if lines[0][0] >= 1
        else "the function"
    )
    costliest = max(findings, key=lambda f: evaluate_cost(f.query_cost) or 0)
    # current_text: a sequence that is part of what the function ran says so ("4 independent
    # queries (sequential) of the 5 measured"), never reads as fewer than the budget after it
    return f"{rules} ({span}): {current_text(costliest)} before the fix"


# --- pytest ----------------------------------------------------------------------------------


def _python_test(findings: list[Finding], budget: int) -> RegressionTest:
    first = findings[0]
    signature = first.signature
    assert signature is not None
    module = python_module(first.path)
    assert module is not None
    operation = first.function
    django = any(_DJANGO.search(_text_of(f)) for f in findings)
    fixtures = [("assert_max_queries", "assert_max_queries")]
    arguments = []
    for param in signature.params:
        fixture = f"{param}_arg" if param in PYTEST_RESERVED else param
        fixtures.append((param, fixture))
        arguments.append(f"{param}={fixture}")
    imports = ["import pytest"]
    if django:
        imports.append("from django.db import connection")
    detected = sorted({f.rule for f in findings} & RUNTIME_DETECTED.keys())
    runtime_names = ["profile"] if detected else []
    if django:
        runtime_names.append("instrument")
    second = []
    if runtime_names:
        second.append(f"from dbaudit.runtime import {', '.join(sorted(runtime_names))}")
    target, imported = _python_target(operation, signature)
    instance = ""
    if signature.binding == "method":
        owner = signature.owner or operation.rsplit(".", 1)[0]
        instance = snake_case(owner)
        fixtures.insert(1, (instance, instance))
    if imported:
        second.append(f"from {module} import {imported}")
    name = f"test_{snake_case(operation)}_runs_at_most_{budget}_{_plural(budget)}"
    decorators = []
    if django:
        decorators.append("@pytest.mark.django_db")
    if signature.is_async:
        decorators.append("@pytest.mark.asyncio")
    keyword_ = "async def" if signature.is_async else "def"
    await_ = "await " if signature.is_async else ""
    fixture_names = [fixture for _, fixture in fixtures]
    head = f"{keyword_} {name}({', '.join(fixture_names)}) -> None:"
    if len(head) > 99:
        inner = "".join(f"    {fixture},\n" for fixture in fixture_names)
        head = f"{keyword_} {name}(\n{inner}) -> None:"
    user_fixtures = [f for f in fixture_names if f != "assert_max_queries"]
    body = []
    if user_fixtures:
        note = (
            f"# {', '.join(user_fixtures)}: fixtures of your conftest.py, with data that makes"
            " every loop run several times"
        )
        if instance:
            note += f" ({instance}: a {owner} from {module})"
        body += [f"    {line}" for line in _wrap(note, 95, "# ")]
    if django:
        body.append("    instrument(connection)  # Django's queries reach dbaudit's counter")
    managers = [f"assert_max_queries({budget})"]
    for rule in detected:
        body.append(f"    # {rule}: {RUNTIME_DETECTED[rule]}")
        managers.append(f'profile("{operation}", raise_on=("{rule}",))')
    call = f"{await_}{target}({', '.join(arguments)})"
    if len(f"    with {', '.join(managers)}:") <= 99:
        body.append(f"    with {', '.join(managers)}:")
    else:
        body += ["    with (", *(f"        {m}," for m in managers), "    ):"]
    body.append(f"        {call}")
    docstring = (
        f'"""Keeps the fix of `{operation}` in {first.path}: {_summary(findings)}, '
        f'{_count(budget)} after it. Written by dbaudit."""'
    )
    code = "\n".join(
        [
            *_wrap(docstring),
            "",
            *imports,
            *(["", *sorted(second)] if second else []),
            "",
            "",
            *decorators,
            head,
            *body,
            "",
        ]
    )
    return RegressionTest(
        name=name,
        operation=operation,
        source=first.path,
        save_as=f"tests/query_budgets/test_{snake_case(operation)}.py",
        language="python",
        framework="pytest",
        budget=budget,
        fixtures=tuple(f for f in user_fixtures),
        code=code,
        findings=tuple(findings),
    )


def _plural(budget: int) -> str:
    return "query" if budget == 1 else "queries"


def _python_target(operation: str, signature: CallSignature) -> tuple[str, str]:
    """What the test calls and what it imports for that."""
    if signature.binding == "method":
        owner = signature.owner or operation.rsplit(".", 1)[0]
        return f"{snake_case(owner)}.{operation.rsplit('.', 1)[-1]}", ""
    return operation, operation.split(".", 1)[0]


def _wrap(text: str, width: int = 99, continuation: str = "") -> list[str]:
    """Words of ``text`` in lines of at most ``width`` characters (a longer word stands alone);
    lines after the first start with ``continuation`` (``# `` for a comment)."""
    lines: list[str] = []
    current = ""
    for word in text.split(" "):
        if current and len(current) + 1 + len(word) > width:
            lines.append(current)
            current = continuation + word
        else:
            current = f"{current} {word}" if current else word
    lines.append(current)
    return lines


def _text_of(finding: Finding) -> str:
    parts = [finding.code, finding.fix.code if finding.fix else ""]
    parts += [hop.detail for hop in finding.call_chain]
    return "\n".join(parts)


# --- Vitest ----------------------------------------------------------------------------------


def _vitest_test(findings: list[Finding], budget: int) -> RegressionTest:
    first = findings[0]
    signature = first.signature
    assert signature is not None
    operation = first.function
    prisma = any(_PRISMA.search(_text_of(f)) for f in findings)
    folder, filename = posixpath.split(first.path)
    stem, suffix = posixpath.splitext(filename)
    typescript = language_of(first.path) == "typescript"
    # the test is an ES module: beside CommonJS or ESM-only JavaScript, say so in its suffix
    extension = ".ts" if typescript else (".mjs" if suffix in (".mjs", ".cjs") else ".js")
    save_as = posixpath.join(folder, f"{stem}.{operation}.queries.test{extension}")
    module = f"./{stem}" if typescript else f"./{filename}"
    fixtures_path = posixpath.relpath(FIXTURES_MODULE, folder or ".")
    if not fixtures_path.startswith("."):
        fixtures_path = f"./{fixtures_path}"
    method = operation.rsplit(".", 1)[-1]
    if signature.binding == "method":
        instance = camel_case(signature.owner or operation.rsplit(".", 1)[0])
        target, imported = f"{instance}.{method}", ""
        fixtures = [*signature.params, instance]
    else:
        target, imported = operation, operation.split(".", 1)[0]
        fixtures = list(signature.params)
    if prisma:
        fixtures.append("prisma")
    fixtures = list(dict.fromkeys(fixtures))
    title = f"{operation} runs at most {_count(budget)}"
    header = (
        f"// Keeps the fix of {operation} in {first.path}: {_summary(findings)}, "
        f"{_count(budget)} after it. Written by dbaudit."
    )
    lines = _wrap(header, 99, "// ")
    if not prisma:
        lines.append('import pg from "pg";')
    lines.append(
        'import { expect } from "vitest";' if prisma else 'import { expect, vi } from "vitest";'
    )
    lines.append("")
    listed = ", ".join(fixtures) or "none"
    lines.append(f'import {{ test }} from "{fixtures_path}"; // test.extend fixtures: {listed}')
    if imported:
        lines.append(f'import {{ {imported} }} from "{module}";')
    lines.append("")
    arguments = ", ".join(signature.params)
    context = f"{{ {', '.join(fixtures)} }}" if fixtures else "{}"
    lines.append(f'test("{title}", async ({context}) => {{')
    if prisma:
        lines += [
            "  // Prisma's query events: the client must be created with",
            '  // log: [{ emit: "event", level: "query" }]',
            "  let queries = 0;",
            '  prisma.$on("query", () => {',
            "    queries += 1;",
            "  });",
            f"  await {target}({arguments});",
            f"  expect(queries).toBeLessThanOrEqual({budget});",
        ]
    else:
        lines += [
            "  // each statement sent through node-postgres (Drizzle's node-postgres driver, Knex)",
            '  const query = vi.spyOn(pg.Client.prototype, "query");',
            "  try {",
            f"    await {target}({arguments});",
            f"    expect(query.mock.calls.length).toBeLessThanOrEqual({budget});",
            "  } finally {",
            "    query.mockRestore();",
            "  }",
        ]
    lines += ["});", ""]
    return RegressionTest(
        name=title,
        operation=operation,
        source=first.path,
        save_as=save_as,
        language=language_of(first.path),
        framework="vitest",
        budget=budget,
        fixtures=tuple(fixtures),
        code="\n".join(lines),
        findings=tuple(findings),
    )
