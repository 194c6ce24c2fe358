"""DBA103's bulk fix for Django's get_or_create / update_or_create per item keeps what they
do: paperless-ngx's modify_custom_fields (bulk_edit.py:322) and WorkflowSerializer
(serialisers.py:3311, 3370) got ``bulk_create([...])``, which inserts the rows that already
exist (or fails on their unique constraint) where update_or_create updated them."""

from __future__ import annotations

import textwrap

from dbaudit.analysis import analyze
from dbaudit.frontends.python import parse_module

SOURCE = textwrap.dedent(
    """\
    from app.models import CustomFieldInstance, Tag


    def set_fields(doc_ids, field_id, value):
        for doc_id in doc_ids:
            CustomFieldInstance.objects.update_or_create(
                document_id=doc_id, field_id=field_id, defaults={"value_text": value}
            )


    def ensure_tags(names):
        for name in names:
            Tag.objects.get_or_create(name=name)


    def tags_from_path(parts):
        for part in parts:
            Tag.objects.get_or_create(name__iexact=part, defaults={"name": part})


    def add_tags(names):
        for name in names:
            Tag.objects.create(name=name)
    """
)


def test_upserts_get_an_upsert_and_creates_a_bulk_create() -> None:
    module = parse_module("app/bulk_edit.py", SOURCE)
    fixes = {f.function: f.fix for f in analyze([module], select=["DBA103"]).findings}
    found = {name: fix.code for name, fix in fixes.items() if fix is not None}
    assert "update_conflicts=True" in found["set_fields"]
    assert "ignore_conflicts=True" in found["ensure_tags"]
    assert found["add_tags"] == "Tag.objects.bulk_create([Tag(...) for name in names])"
    assert found["tags_from_path"] == ""
    assert "`name__iexact`" in fixes["tags_from_path"].summary
