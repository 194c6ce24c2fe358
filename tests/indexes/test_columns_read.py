"""Columns a SELECT reads per table: what a covering index must hold."""

from __future__ import annotations

from dbaudit.indexes.columns_read import ALL_COLUMNS, columns_read


def test_every_clause_counts_and_aliases_resolve() -> None:
    reads = columns_read(
        "SELECT p.name, count(r.id) FROM projects p LEFT JOIN renders r ON r.project_id = p.id "
        "WHERE p.user_id = $1 AND r.status = 'done' GROUP BY p.id ORDER BY p.updated_at DESC"
    )
    assert reads == {
        "projects": frozenset({"name", "id", "user_id", "updated_at"}),
        "renders": frozenset({"id", "project_id", "status"}),
    }


def test_self_join_reads_add_up_on_the_one_table() -> None:
    reads = columns_read(
        "SELECT r.prompt, parent.status FROM renders r "
        "LEFT JOIN renders parent ON parent.id = r.parent_render_id WHERE r.id = $1"
    )
    assert reads == {"renders": frozenset({"prompt", "status", "id", "parent_render_id"})}


def test_star_reads_everything_but_count_star_reads_nothing() -> None:
    assert columns_read("SELECT * FROM renders WHERE user_id = $1") == {
        "renders": frozenset({ALL_COLUMNS, "user_id"})
    }
    assert columns_read("SELECT r.* FROM renders r WHERE r.user_id = $1") == {
        "renders": frozenset({ALL_COLUMNS, "user_id"})
    }
    assert columns_read("SELECT count(*) FROM renders WHERE user_id = $1") == {
        "renders": frozenset({"user_id"})
    }


def test_subquery_outputs_and_select_aliases_are_not_table_columns() -> None:
    reads = columns_read(
        "SELECT ranked.id FROM (SELECT renders.id AS id, row_number() OVER "
        "(PARTITION BY renders.project_id ORDER BY renders.created_at) AS rank FROM renders "
        "WHERE renders.project_id IN ($1, $2)) AS ranked WHERE ranked.rank <= 3"
    )
    assert reads == {"renders": frozenset({"id", "project_id", "created_at"})}
    reads = columns_read("SELECT user_id, count(*) AS n FROM renders GROUP BY user_id ORDER BY n")
    assert reads == {"renders": frozenset({"user_id"})}


def test_an_unattributable_column_leaves_the_tables_out() -> None:
    # Without a schema, ``status`` could be either table's: no covering candidate on a guess.
    sql = "SELECT status FROM renders r JOIN projects p ON p.id = r.project_id WHERE p.user_id = 1"
    assert columns_read(sql) == {}
    schema = {"renders": ["id", "project_id", "status"], "projects": ["id", "user_id"]}
    assert columns_read(sql, schema) == {
        "renders": frozenset({"status", "project_id"}),
        "projects": frozenset({"id", "user_id"}),
    }


def test_writes_and_unparsable_text_read_nothing() -> None:
    assert columns_read("UPDATE renders SET status = $1 WHERE id = $2") == {}
    assert (
        columns_read(
            "WITH gone AS (DELETE FROM renders WHERE id = $1 RETURNING id) SELECT id FROM gone"
        )
        == {}
    )
    assert columns_read("SELECT FROM WHERE") == {}
