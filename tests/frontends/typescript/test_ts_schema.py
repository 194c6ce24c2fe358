"""Drizzle schema files -> ModelClass (program model) and Table (schema model)."""

from __future__ import annotations

from pathlib import Path

from dbaudit.frontends.typescript import parse
from dbaudit.frontends.typescript.queries import Source
from dbaudit.frontends.typescript.schema import drizzle_schema_tables
from dbaudit.frontends.typescript.syntax import parse as parse_tree
from dbaudit.model import ForeignKey

FIXTURE = Path(__file__).parents[2] / "fixtures" / "ts_render_platform"


def tables(path: Path):  # type: ignore[no-untyped-def]
    data = path.read_bytes()
    return {
        t.name: t
        for t in drizzle_schema_tables(
            parse_tree(data, "typescript").root_node.named_children, Source(data)
        )
    }


def test_models_use_code_names_and_foreign_keys_point_at_sql_tables() -> None:
    path = FIXTURE / "naive" / "lib" / "db" / "schema.ts"
    module = parse(str(path), path.read_text(), resolve_files=False).module
    models = {m.name: m for m in module.models}
    assert module.functions == ()  # index builders and relation callbacks are not functions
    assert set(models) == {
        "users",
        "projects",
        "renderChains",
        "renders",
        "subscriptionPlans",
        "userSubscriptions",
        "userCredits",
    }
    renders = models["renders"]
    assert renders.library == "drizzle" and renders.table == "renders"
    assert "chainId" in renders.columns
    assert ForeignKey("chainId", "render_chains", "id") in renders.foreign_keys
    chain = next(r for r in renders.relationships if r.name == "chain")
    assert chain.target == "renderChains" and not chain.uselist and chain.lazy == "noload"
    assert next(r for r in models["projects"].relationships if r.name == "renders").uselist


def test_schema_tables_for_the_index_review() -> None:
    naive = tables(FIXTURE / "naive" / "lib" / "db" / "schema.ts")
    optimized = tables(FIXTURE / "optimized" / "lib" / "db" / "schema.ts")
    renders = naive["renders"]
    assert renders.column("chain_id") is not None and renders.column("chain_id").nullable  # type: ignore[union-attr]
    assert [
        fk.columns for fk in renders.foreign_keys if fk.referenced_table == "render_chains"
    ] == [("chain_id",)]
    # naive: primary keys and unique constraints only
    assert [i.name for i in renders.indexes] == ["renders_pkey"]
    assert any(i.unique and i.keys[0].column == "email" for i in naive["users"].indexes)
    assert any(
        i.name == "user_credits_user_id_key" and i.unique for i in naive["user_credits"].indexes
    )
    # optimized: the secondary indexes, with SQL column names
    keys = {i.name: tuple(k.column for k in i.keys) for i in optimized["renders"].indexes}
    assert keys["renders_chain_id_position_idx"] == ("chain_id", "chain_position")
    assert keys["renders_project_id_created_at_idx"] == ("project_id", "created_at")


def test_files_without_tables_have_no_models() -> None:
    module = parse("x.ts", "export const a = 1;", resolve_files=False).module
    assert module.models == ()


def test_schema_from_sources_merges_files_and_notes_problems() -> None:
    from dbaudit.frontends.typescript.schema import schema_from_sources

    path = FIXTURE / "optimized" / "lib" / "db" / "schema.ts"
    schema = schema_from_sources(
        [
            (str(path), path.read_text()),
            ("other.ts", "export const x = 1;"),
            ("dup.ts", 'export const again = pgTable("renders", { id: serial("id") });'),
        ]
    )
    assert schema.table("renders") is not None and len(schema.tables) == 7
    assert schema.notes == ("dup.ts: table renders declared again; the first one is kept",)
    fks = {
        (fk.table, fk.columns, fk.referenced_table) for t in schema.tables for fk in t.foreign_keys
    }
    assert ("renders", ("parent_render_id",), "renders") in fks


def test_index_review_sees_unindexed_foreign_keys_without_a_database() -> None:
    from dbaudit.frontends.typescript.schema import schema_from_sources
    from dbaudit.indexes.candidates import covering_index, foreign_key_candidates

    def unindexed(variant: str) -> set[tuple[str, str]]:
        path = FIXTURE / variant / "lib" / "db" / "schema.ts"
        schema = schema_from_sources([(str(path), path.read_text())])
        return {
            (table.name, candidate.keys[0].column or "")
            for table in schema.tables
            for candidate in foreign_key_candidates(table)
            if covering_index(table, candidate) is None
        }

    assert {
        ("renders", "chain_id"),
        ("renders", "project_id"),
        ("render_chains", "project_id"),
    } <= unindexed("naive")
    optimized = unindexed("optimized")
    assert ("renders", "chain_id") not in optimized and (
        "render_chains",
        "project_id",
    ) not in optimized


def test_expression_and_partial_indexes_keep_their_sql() -> None:
    # openstatus: ``.on(sql`LOWER(${t.email})`)`` was read as a column named "email})`"
    path = (
        Path(__file__).parents[2]
        / "fixtures"
        / "ts_real_shapes"
        / "schema"
        / "drizzle_expression_index.ts"
    )
    indexes = {i.name: i for i in tables(path)["subscribers"].indexes}
    active = indexes["subscribers_email_page_active"]
    assert [(k.expression, k.column) for k in active.keys] == [
        ("LOWER(email)", None),
        ("page_id", "page_id"),
    ]
    assert active.unique and active.predicate == "unsubscribed_at IS NULL"
    lower = indexes["subscribers_lower_email_idx"]
    assert [(k.expression, k.column) for k in lower.keys] == [("lower(email)", None)]
    assert lower.predicate is None
    plain = indexes["subscribers_pageId_idx"]
    assert [k.column for k in plain.keys] == ["page_id"] and plain.predicate is None
    vip = indexes["subscribers_vip_idx"]
    assert vip.predicate == "tags @> '{vip}'"
