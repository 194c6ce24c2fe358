"""A per-item query that no equality or ``IN`` filter ties to the item (a negated ``Q``, an
``exclude``) is still a query per item, but it has no key an IN list could carry: the fix was
``Document.objects.filter(id__in=[t.id for t in tags_to_add])``, the tags' ids taken for
documents' ids (paperless-ngx's ``bulk_edit.add_tag``, ``~Q(tags__id=t.id)``). It gets the
finding without code; a query keyed by the item keeps its code."""

from __future__ import annotations

import textwrap

from dbaudit.analysis import analyze
from dbaudit.frontends.python import parse_module

SOURCE = textwrap.dedent(
    """\
    from django.db.models import Q

    from app.models import Document


    def add_tag(doc_ids, tags_to_add):
        for t in tags_to_add:
            qs = Document.objects.filter(Q(id__in=doc_ids) & ~Q(tags__id=t.id)).only("pk")
            print(list(qs.values_list("pk", flat=True)))


    def untagged(tags_to_add):
        for t in tags_to_add:
            print(list(Document.objects.exclude(tags__id=t.id).values_list("pk", flat=True)))


    def tagged(tags_to_add):
        for t in tags_to_add:
            print(list(Document.objects.filter(tags__id=t.id).values_list("pk", flat=True)))
    """
)


def test_a_query_with_no_key_gets_no_batched_code() -> None:
    module = parse_module("app/bulk_edit.py", SOURCE)
    found = {f.function: f for f in analyze([module], select=["DBA101"]).findings}
    assert found["add_tag"].fix.code == ""
    assert found["untagged"].fix.code == ""
    assert "keys = [t.id for t in tags_to_add]" in found["tagged"].fix.code
    assert "tags__id__in=keys" in found["tagged"].fix.code
