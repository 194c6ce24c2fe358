"""Django querysets that run no query of their own, read on saleor: one embedded in
``Exists(...)``/``Subquery(...)`` or reading ``OuterRef`` is SQL of the outer query, and a
helper that only builds a lazy queryset, which its caller combines (``&=``, ``|=``) or embeds,
is no query per item. Helpers whose queryset is iterated, counted or kept stay reported."""

from __future__ import annotations

import textwrap

from dbaudit.analysis import analyze
from dbaudit.findings import Finding
from dbaudit.frontends.python import parse_module


def findings(source: str, rule: str, path: str = "app/filters.py") -> dict[str, Finding]:
    module = parse_module(path, textwrap.dedent(source))
    return {f.function: f for f in analyze([module], select=[rule]).findings}


_SUBQUERIES = """
from django.db.models import Exists, OuterRef, Q, Subquery


def filter_by_values(qs, queries):
    filters = []
    for values in queries.values():
        assigned = AssignedValue.objects.using(qs.db).filter(value_id__in=values)
        filters.append(Q(Exists(assigned.filter(product_id=OuterRef("pk")))))
    return qs.filter(*filters)


def latest_per_group(qs, groups):
    for group in groups:
        newest = Render.objects.filter(project_id=OuterRef("pk"), kind=group.kind)
        qs = qs.annotate(**{group.name: Subquery(newest.values("id")[:1])})
    return qs


def values_per_group(queries):
    out = []
    for values in queries.values():
        assigned = AssignedValue.objects.filter(value_id__in=values)
        out.append(list(assigned))
    return out
"""


def test_dba101_a_queryset_used_as_a_subquery_is_no_query_of_its_own() -> None:
    found = findings(_SUBQUERIES, "DBA101")
    # ``Exists(assigned.filter(product_id=OuterRef("pk")))`` was a query per values
    assert "filter_by_values" not in found
    assert "latest_per_group" not in found
    # the same queryset evaluated per item is the N+1 it was
    assert "AssignedValue" in found["values_per_group"].message


_LAZY_HELPERS = """
from django.db.models import Exists, OuterRef, Q


def checkouts_of(predicate):
    return Checkout.objects.filter(total__gt=predicate["gt"])


def narrowed(result_qs, base_qs, predicate):
    checkouts = Checkout.objects.filter(pk__in=base_qs.values("pk"), total__gt=predicate["gt"])
    result_qs &= checkouts
    return result_qs


def and_all(result_qs, base_qs, data):
    for predicate in data:
        result_qs = narrowed(result_qs, base_qs, predicate)
    return result_qs


def or_all(result_qs, data):
    for predicate in data:
        result_qs |= checkouts_of(predicate)
    return result_qs


def embedded_all(qs, data):
    lookup = Q()
    for predicate in data:
        matching = checkouts_of(predicate)
        if matching is not None:
            lookup &= Q(Exists(matching.filter(customer_id=OuterRef("id"))))
    return qs.filter(lookup)


def listed_all(data):
    out = []
    for predicate in data:
        out.append(checkouts_of(predicate))
    return out


def iterated_all(data):
    for predicate in data:
        for checkout in checkouts_of(predicate):
            show(checkout)


def counted_all(data):
    for predicate in data:
        show(checkouts_of(predicate).count())


def shown_all(data):
    for predicate in data:
        qs = checkouts_of(predicate)
        show(qs)


def count_matching(predicate):
    return Checkout.objects.filter(total__gt=predicate["gt"]).count()


def counted_in_helper(data):
    for predicate in data:
        show(count_matching(predicate))
"""


def test_dba102_a_helper_building_a_lazy_queryset_combined_by_the_caller_is_no_query() -> None:
    found = findings(_LAZY_HELPERS, "DBA102")
    for combined in ("and_all", "or_all", "embedded_all"):
        assert combined not in found, combined
    # iterated, counted, kept in a list or handed to an unknown call: a query per item
    for evaluated in ("listed_all", "iterated_all", "counted_all", "shown_all"):
        assert "queries Checkout once per predicate" in found[evaluated].message, evaluated
    assert "counted_in_helper" in found


_INVARIANT = """
import random
from sqlalchemy import select


def tag_things(session, things):
    for t in things:
        site = session.scalars(select(Site).where(Site.name == "site_name")).first()
        show(t, site)


def per_thing(session, things):
    for t in things:
        site = session.scalars(select(Site).where(Site.id == t.site_id)).first()
        show(t, site)


def named_in_body(session, things):
    for t in things:
        name = t.site_name
        site = session.scalars(select(Site).where(Site.name == name)).first()
        show(t, site)


def random_users(things):
    for t in things:
        user = Users.query.filter_by(id=random.randint(1, 100)).first()
        show(t, user)


def get_or_create(session, names):
    for name in names:
        site = session.scalars(select(Site).where(Site.name == "default")).first()
        if site is None:
            session.add(Site(name="default"))
            session.flush()
        show(name, site)
"""


def test_dba101_a_query_the_same_on_every_item_is_run_once_not_batched_on_a_constant() -> None:
    found = findings(_INVARIANT, "DBA101", path="app/views.py")
    same = found["tag_things"]
    # it got keys = ['site_name' for t in things] and an IN over one constant
    assert "runs the same query on Site once per t" in same.message
    assert same.fix is not None and "run it once before the loop" in same.fix.summary
    assert same.fix.code == ""
    # keyed by the item, by a name the body assigns, or by a value drawn per call: per item
    for name in ("per_thing", "named_in_body", "random_users"):
        assert "same query" not in found[name].message, name
    assert "keys = [t.site_id for t in things]" in (found["per_thing"].fix or same.fix).code
    # the loop adds the row the next item finds: no "once before the loop", no IN on 'default'
    created = found["get_or_create"]
    assert "same query" not in created.message
    assert created.fix is not None and created.fix.code == ""


_WALRUS = """
def clear(deliveries):
    for delivery in deliveries:
        if payload_id := delivery.payload_id:
            payload = EventPayload.objects.filter(pk=payload_id, deliveries__isnull=True).first()
            show(payload)
"""


def test_dba101_a_name_bound_by_a_walrus_in_the_loop_is_per_item() -> None:
    # ``payload_id := delivery.payload_id`` was no assignment: "the same query on every item"
    found = findings(_WALRUS, "DBA101", path="app/tasks.py")
    assert "runs a query on EventPayload per delivery" in found["clear"].message
    # keyed by what the walrus reads, the query's other condition kept in the one query
    code = found["clear"].fix.code if found["clear"].fix else ""
    assert "keys = [delivery.payload_id for delivery in deliveries]" in code
    assert "EventPayload.objects.filter(pk__in=keys, deliveries__isnull=True)" in code
    module = parse_module("app/tasks.py", textwrap.dedent(_WALRUS))
    (bound,) = [a for a in module.functions[0].assigns if a.targets == ("payload_id",)]
    assert bound.loops == (0,) and bound.reads == {"delivery"}


_BULK_WRITES = """
from sqlalchemy import update, delete


def mark_rendered(session, projects, tenant):
    for p in projects:
        session.execute(
            update(Render)
            .where(Render.project_id == p.id, Render.tenant_id == tenant)
            .values(status="x")
        )


def mark_own_kind(session, projects):
    for p in projects:
        session.execute(
            update(Render)
            .where(Render.project_id == p.id, Render.kind == p.kind)
            .values(status="x")
        )


def drop_old(session, projects, cutoff):
    for p in projects:
        session.execute(delete(Render).where(Render.project_id == p.id, Render.created < cutoff))


def close_django(projects, tenant):
    for p in projects:
        Render.objects.filter(project_id=p.id, tenant_id=tenant).update(status="x")


def delete_django(projects, tenant):
    for p in projects:
        Render.objects.filter(project_id=p.id, tenant_id=tenant).delete()


def close_either(projects, tenant):
    either = Q(tenant_id=tenant) | Q(public=True)
    for p in projects:
        Render.objects.filter(either, project_id=p.id).update(status="x")


def prune_links(listings):
    for listing in listings:
        rule_id = None
        if listing.discount:
            rule_id = listing.discount.rule_id
        Link.objects.filter(listing_id=listing.id).exclude(rule_id=rule_id).delete()
"""


def test_dba103_a_bulk_write_keeps_the_statements_other_conditions() -> None:
    found = findings(_BULK_WRITES, "DBA103", path="app/tasks.py")

    def code(name: str) -> str:
        fix = found[name].fix
        assert fix is not None
        return fix.code

    # the bulk UPDATE wrote every render of the projects, of every tenant
    assert (
        ".where(Render.project_id.in_([p.id for p in projects]), Render.tenant_id == tenant)"
        in code("mark_rendered")
    )
    assert "Render.created < cutoff" in code("drop_old")
    assert (
        "Render.objects.filter(project_id__in=[p.id for p in projects], tenant_id=tenant)"
        ".update(" in code("close_django")
    )
    # a DELETE stays a DELETE (it was written .update(...))
    assert code("delete_django").endswith(
        "Render.objects.filter(project_id__in=[p.id for p in projects], tenant_id=tenant).delete()"
    )
    # a second condition per item: no one IN over the keys says it
    assert code("mark_own_kind") == ""
    assert code("prune_links") == ""  # it deleted every link but the ones of no rule
    # a condition the frontend keeps whole (a Q built before) is named, never dropped
    assert "# keep the query's other conditions: either" in code("close_either")
