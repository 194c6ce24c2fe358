from dbaudit.frontends.python.sql_text import looks_like_sql, sql_facts


def test_select_with_positional_filter() -> None:
    facts = sql_facts("SELECT * FROM renders WHERE chain_id = $1 ORDER BY chain_position")
    assert facts.kind == "select"
    assert facts.tables == ("renders",)
    assert facts.filters == (("chain_id", "=", "$1"),)
    assert not facts.has_limit and not facts.batched


def test_any_and_in_are_batched() -> None:
    assert sql_facts("select id from renders where id = ANY($1)").batched
    assert sql_facts("SELECT id FROM renders WHERE id IN %s").batched


def test_aggregate_group_window_limit_and_joins() -> None:
    facts = sql_facts(
        "SELECT p.id, count(r.id), row_number() OVER (PARTITION BY p.id) FROM projects p "
        "LEFT JOIN renders r ON r.project_id = p.id GROUP BY p.id LIMIT 10"
    )
    assert facts.aggregates == ("count",)
    assert facts.group_by and facts.window and facts.has_limit
    assert facts.joins == 1
    assert facts.tables == ("projects", "renders")


def test_cte_kind_is_the_main_verb() -> None:
    facts = sql_facts("WITH x AS (SELECT 1) DELETE FROM renders WHERE id IN (SELECT * FROM x)")
    assert facts.kind == "delete"


def test_looks_like_sql() -> None:
    assert looks_like_sql("  -- comment\n select 1")
    assert not looks_like_sql("selected items")
    assert not looks_like_sql("hello")
