"""An N+1 is placed at the loop that repeats it, also when the query sits on a line holding a
comprehension: the first iterable runs once per call (the loop is further out), the element and
conditions once per item (the comprehension is the loop)."""

from __future__ import annotations

import importlib.util
import linecache
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from dbaudit.runtime import instrument, profile
from dbaudit.runtime.events import CallSite
from dbaudit.runtime.loops import loop_frame

FIXTURE = Path(__file__).parent.parent / "fixtures" / "comprehension_queries.py"


def _line_of(marker: str) -> int:
    for number, text in enumerate(FIXTURE.read_text().splitlines(), start=1):
        if marker in text:
            return number
    raise AssertionError(marker)


@pytest.fixture(scope="module")
def app() -> ModuleType:
    spec = importlib.util.spec_from_file_location("comprehension_queries", FIXTURE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def conn() -> Iterator[sqlite3.Connection]:
    connection = instrument(sqlite3.connect(":memory:"))
    connection.execute("CREATE TABLE tag (id int, article_id int, name text)")
    connection.executemany(
        "INSERT INTO tag VALUES (?, ?, ?)", [(i, i % 3, f"t{i}") for i in range(9)]
    )
    yield connection
    connection.close()


def _n_plus_one_lines(run: object, *args: object) -> list[tuple[str, int]]:
    with profile("comprehensions") as unit:
        run(*args)  # type: ignore[operator]
    return [(f.path, f.line) for f in unit.findings if f.rule == "DBA101"]


@pytest.mark.parametrize(
    ("function", "marker"),
    [
        ("list_articles", "out.append(tag_names(conn, article_id))"),
        ("list_articles_listcomp", "result.append(tag_name_list(conn, article_id))"),
    ],
)
def test_a_comprehensions_first_iterable_runs_once_the_loop_is_further_out(
    app: ModuleType, conn: sqlite3.Connection, function: str, marker: str
) -> None:
    lines = _n_plus_one_lines(getattr(app, function), conn, range(5))
    assert [line for _, line in lines] == [_line_of(marker)]
    assert all(path.endswith("comprehension_queries.py") for path, _ in lines)


@pytest.mark.parametrize(
    "function", ["each_in_listcomp", "each_in_genexpr", "each_in_dictcomp", "each_in_condition"]
)
def test_a_query_in_the_element_or_a_condition_runs_per_item(
    app: ModuleType, conn: sqlite3.Connection, function: str
) -> None:
    lines = _n_plus_one_lines(getattr(app, function), conn, range(5))
    marker = f"def {function}("
    assert [line for _, line in lines] == [_line_of(marker) + 1]


def test_without_an_instruction_span_the_line_decides(app: ModuleType) -> None:
    # a chain read back from an events file, or an interpreter run with -X no_debug_ranges
    path = str(FIXTURE)
    linecache.checkcache(path)
    in_genexpr_line = CallSite(path, _line_of("sorted(row[0] for row"), "tag_names")
    caller = CallSite(path, _line_of("out.append(tag_names"), "list_articles")
    assert loop_frame((in_genexpr_line, caller)) == (0, in_genexpr_line.line)


def test_an_instruction_span_outside_every_per_item_part_is_no_loop(app: ModuleType) -> None:
    path = str(FIXTURE)
    line = _line_of("sorted(row[0] for row")
    text = FIXTURE.read_text().splitlines()[line - 1]
    start = text.index("conn.execute(")
    iterable = (line, line, start, text.index(")))") + 2)
    element = (line, line, text.index("row[0]"), text.index("row[0]") + 6)
    outer = CallSite(path, _line_of("out.append(tag_names"), "list_articles")
    assert loop_frame((CallSite(path, line, "tag_names", iterable), outer)) == (
        1,
        _line_of("for article_id in ids:  # the loop of the N+1"),
    )
    assert loop_frame((CallSite(path, line, "tag_names", element), outer)) == (0, line)
