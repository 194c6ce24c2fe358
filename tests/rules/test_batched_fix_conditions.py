"""The batched fix of a per-item query keeps its other conditions (batchfix): a constant stays
in the one query, a condition the frontend could not read is named, never dropped."""

from __future__ import annotations

from pathlib import Path

from dbaudit.analysis import analyze
from dbaudit.frontends.python import parse_module

FIXTURE = Path(__file__).parent / "fixtures" / "DBA101_batch_keeps_conditions.py"


def fixes() -> dict[str, list[str]]:
    findings = analyze([parse_module(FIXTURE.name, FIXTURE.read_text())], select=["DBA101"])
    return {f.function: f.fix.code.splitlines() for f in findings.findings if f.fix is not None}


def test_constant_conditions_stay_in_the_one_query() -> None:
    code = fixes()["renders_of_tenant"]
    assert code[1] == (
        "rows = session.scalars(select(Render).where(Render.project_id.in_(keys), "
        "Render.tenant_id == tenant_id, Render.status == 'done')).all()"
        "  # one query for all of them"
    )


def test_conditions_not_read_are_named_never_dropped() -> None:
    found = fixes()
    assert found["renders_with_clauses"][1] == "# keep the query's other conditions: *clauses"
    either = found["renders_either_state"]
    assert either[1] == (
        "# keep the query's other conditions: or_(Render.status == 'done', Render.pinned == True)"
    )
    # an arm of the OR is neither kept as a condition of its own nor the key
    assert "select(Render).where(Render.project_id.in_(keys))" in either[2]
    django = found["django_renders"]
    assert django[1] == "# keep the query's other conditions: Q(public=True); .exclude(status='x')"
    assert "filter(project_id__in=keys, tenant_id=tenant)" in django[2]


def test_sql_fixes_pass_the_constant_values_or_name_the_where() -> None:
    found = fixes()
    assert found["asyncpg_renders"][1] == (
        'rows = await conn.fetch("SELECT * FROM renders WHERE project_id = ANY($1) '
        'AND tenant_id = $2", keys, tenant)  # one query for all of them'
    )
