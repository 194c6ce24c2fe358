"""``dbaudit.database_review``: an advised index answers the foreign keys it leads with, and
``database_label`` names the database as the reader knows it (real PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from dbaudit.database_review import Review, _serves_foreign_key, review_database
from dbaudit.db import PostgresServer, temporary_database
from dbaudit.findings import Finding
from dbaudit.indexes.advisor import AdvisorSettings, IndexAdvice
from dbaudit.indexes.candidates import Candidate
from dbaudit.indexes.workload import from_statements
from dbaudit.schema.model import ForeignKey, IndexKey

# renders.project_id is set on every row, renders.chain_id on one in ten (so the advisor's
# index for it is partial, WHERE chain_id IS NOT NULL), renders.user_id is read by no statement.
SCHEMA = """
CREATE TABLE users (id bigint PRIMARY KEY);
CREATE TABLE projects (id bigint PRIMARY KEY, user_id bigint NOT NULL REFERENCES users(id));
CREATE TABLE chains (id bigint PRIMARY KEY);
CREATE TABLE renders (
    id bigint PRIMARY KEY,
    project_id bigint NOT NULL REFERENCES projects(id),
    user_id bigint NOT NULL REFERENCES users(id),
    chain_id bigint REFERENCES chains(id),
    prompt text NOT NULL
);
INSERT INTO users SELECT g FROM generate_series(1, 500) g;
INSERT INTO projects SELECT g, 1 + g % 500 FROM generate_series(1, 2000) g;
INSERT INTO chains SELECT g FROM generate_series(1, 3000) g;
INSERT INTO renders
SELECT g, 1 + g % 2000, 1 + g % 500, CASE WHEN g % 10 = 0 THEN 1 + g % 3000 END,
       repeat('a prompt ', 8)
FROM generate_series(1, 50000) g;
ANALYZE;
"""
WORKLOAD = from_statements(
    [
        ("SELECT * FROM renders WHERE project_id = $1", 500),
        ("SELECT * FROM renders WHERE chain_id = $1", 200),
    ]
)
LABEL = "render_platform"


@pytest.fixture(scope="module")
def review_url(pg_server: PostgresServer) -> Iterator[str]:
    with temporary_database(pg_server) as url:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(SCHEMA)
        yield url


@pytest.fixture(scope="module")
def review(review_url: str) -> Review:
    return review_database(
        review_url, WORKLOAD, settings=AdvisorSettings(allow_rollback_indexes=True)
    )


@pytest.fixture(scope="module")
def labelled(review_url: str) -> Review:
    return review_database(
        review_url,
        WORKLOAD,
        settings=AdvisorSettings(allow_rollback_indexes=True),
        database_label=LABEL,
    )


def _by_rule(findings: list[Finding], rule: str) -> list[Finding]:
    return [f for f in findings if f.rule == rule]


def test_an_advised_index_answers_the_foreign_key_it_leads_with(review: Review) -> None:
    assert review.problems == []
    advice = {f.fix.code: f for f in _by_rule(review.findings(), "DBA401") if f.fix}
    project = "CREATE INDEX CONCURRENTLY renders_project_id_idx ON renders (project_id);"
    assert project in advice
    assert advice[project].message.endswith("; also indexes foreign key renders_project_id_fkey")
    foreign_keys = [f.message.split()[2] for f in _by_rule(review.findings(), "DBA402")]
    assert "renders_project_id_fkey" not in foreign_keys
    # no advised index leads with these: their findings stay
    assert {"renders_user_id_fkey", "projects_user_id_fkey"} <= set(foreign_keys)
    # the record the reporters read says it too, and no DDL is there twice
    (recommended,) = [r for r in review.to_database_review().recommendations if r.ddl == project]
    assert "also indexes foreign key renders_project_id_fkey" in recommended.reason
    ddl = [f.fix.code for f in review.findings() if f.fix and f.fix.language == "sql"]
    names = [code.split()[3] for code in ddl if code.startswith("CREATE INDEX")]
    assert len(names) == len(set(names))


def test_a_partial_index_on_the_not_null_rows_answers_the_foreign_key(review: Review) -> None:
    partial = [
        f
        for f in _by_rule(review.findings(), "DBA401")
        if f.fix and "WHERE chain_id IS NOT NULL" in f.fix.code
    ]
    assert len(partial) == 1
    assert partial[0].message.endswith("; also indexes foreign key renders_chain_id_fkey")
    foreign_keys = [f.message.split()[2] for f in _by_rule(review.findings(), "DBA402")]
    assert "renders_chain_id_fkey" not in foreign_keys


def _advice(columns: tuple[str, ...], predicate: str | None = None) -> IndexAdvice:
    candidate = Candidate("renders", tuple(IndexKey(c, c) for c in columns), predicate)
    return IndexAdvice(
        ddl="CREATE INDEX ...",
        table="renders",
        priority="high",
        est_size=8192,
        queries=(),
        reason="equality columns",
        saving=1.0,
        write_cost=0.0,
        candidate=candidate,
    )


@pytest.mark.parametrize(
    ("columns", "predicate", "serves"),
    [
        (("chain_id",), None, True),
        (("chain_id", "position"), None, True),  # leading columns
        (("chain_id",), "chain_id IS NOT NULL", True),
        (("chain_id",), "(chain_id IS NOT NULL)", True),
        (("chain_id",), "status = 'done'", False),  # misses rows a key check must see
        (("chain_id",), "chain_id IS NOT NULL AND status = 'done'", False),
        (("position", "chain_id"), None, False),  # chain_id is not the leading column
        (("project_id",), None, False),
    ],
)
def test_which_advice_serves_a_foreign_key(
    columns: tuple[str, ...], predicate: str | None, serves: bool
) -> None:
    key = ForeignKey("renders_chain_id_fkey", "renders", ("chain_id",), "chains", ("id",))
    assert _serves_foreign_key(_advice(columns, predicate), key) is serves
    other_table = ForeignKey("x_chain_id_fkey", "gallery", ("chain_id",), "chains", ("id",))
    assert _serves_foreign_key(_advice(columns, predicate), other_table) is False


def test_database_label_names_the_database_in_every_finding(
    review: Review, labelled: Review
) -> None:
    real = review.database_name
    assert real.startswith("dbaudit_tmp_")
    assert all(f.path.startswith(f"db://{real}") for f in review.findings())
    findings = labelled.findings()
    assert [f.rule for f in findings] == [f.rule for f in review.findings()]
    assert all(f.path.startswith(f"db://{LABEL}") for f in findings)
    for finding in findings:
        text = [finding.path, finding.message, finding.problem]
        if finding.fix:
            text += [finding.fix.summary, finding.fix.code]
        assert not any(real in part for part in text), finding
    (timeout,) = _by_rule(findings, "DBA501")
    assert f"is off for database {LABEL}:" in timeout.message
    assert timeout.fix is not None
    assert timeout.fix.code == f"ALTER DATABASE {LABEL} SET statement_timeout = '30s';"
    assert labelled.to_database_review().database == LABEL
    assert real in review.to_database_review().database
