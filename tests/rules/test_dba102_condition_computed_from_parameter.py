"""DBA102's 'the same query on every item' needs every condition besides the key to be the
same on each call: a condition the helper computes from a parameter the loop passes per item
is another query each time. paperless-ngx's ``existing_document_matches_workflow(document,
trigger)`` per trigger (matching.py:688) filters ``Document.objects.filter(id=document.id)``
by ``custom_field_q``, parsed from ``trigger.filter_custom_field_query``: it was 'runs the
same query on Document (key document.id) once per trigger: N round trips for one answer'."""

from __future__ import annotations

import textwrap

from dbaudit.analysis import analyze
from dbaudit.frontends.python import parse_module

SOURCE = textwrap.dedent(
    """\
    from app.models import Document
    from app.parser import parse


    def matches_query(document, trigger):
        if trigger.query:
            q, annotations = parse(trigger.query)
            qs = Document.objects.filter(id=document.id).annotate(**annotations).filter(q)
            if not qs.exists():
                return False
        return True


    def matches_plain(document, trigger):
        if trigger.enabled:
            return Document.objects.filter(id=document.id).exists()
        return False


    def run(document, triggers):
        for trigger in triggers:
            print(matches_query(document, trigger))


    def run_plain(document, triggers):
        for trigger in triggers:
            print(matches_plain(document, trigger))
    """
)


def test_a_condition_computed_from_the_item_makes_another_query() -> None:
    module = parse_module("app/matching.py", SOURCE)
    found = {f.function: f.message for f in analyze([module], select=["DBA102"]).findings}
    assert "same query" not in found["run"]
    assert "queries Document once per trigger" in found["run"]
    assert "runs the same query on Document (key `document.id`)" in found["run_plain"]


def test_the_same_key_with_another_condition_per_item_gets_no_batched_code() -> None:
    module = parse_module("app/matching.py", SOURCE)
    found = {f.function: f.fix.code for f in analyze([module], select=["DBA102"]).findings}
    assert found["run"] == ""
