"""Wrong fixes left over from reading every finding on CTFd, mealie and healthchecks, each
through the real pipeline: a query that is the same on every item is run once, not batched on
a constant; Django keywords across a relation are keys; bulk writes keep their conditions."""

from __future__ import annotations

import textwrap

from dbaudit.analysis import analyze
from dbaudit.findings import Finding
from dbaudit.frontends.python import parse_module


def findings(source: str, rule: str, path: str = "app/views.py") -> dict[str, Finding]:
    module = parse_module(path, textwrap.dedent(source))
    return {f.function: f for f in analyze([module], select=[rule]).findings}


def code_of(finding: Finding) -> str:
    assert finding.fix is not None
    return finding.fix.code


_CONSTANT_HELPER = """
from sqlalchemy import select


def all_drafts(session, limit):
    return session.scalars(select(Post).where(Post.status == "draft").limit(limit)).all()


def drafts_per_project(session, projects):
    for p in projects:
        show(p, all_drafts(session, 10))


def drafts_per_page(session, pages):
    for page in pages:
        show(page, all_drafts(session, page.size))


def drafts_per_tick(session, ticks):
    for tick in ticks:
        show(tick, all_drafts(session, random.randint(1, 10)))
"""


def test_dba102_helper_with_only_constant_filters_is_run_once_before_the_loop() -> None:
    found = findings(_CONSTANT_HELPER, "DBA102")
    same = found["drafts_per_project"]
    # it got "a batched variant that takes every p's key": there is no key, one answer
    assert "runs the same query on Post once per p" in same.message
    assert same.fix is not None and "once before the loop" in same.fix.summary
    assert code_of(same) == ""
    # a limit read from the item, or computed per call, is no longer the same query
    for name in ("drafts_per_page", "drafts_per_tick"):
        assert "same query" not in found[name].message
        assert found[name].fix is not None
        assert "once before the loop and reuse" not in found[name].fix.summary


_PER_ITEM_CHANNEL = """
from django.db import models


class Channel(models.Model):
    def project_checks(self):
        return list(Check.objects.filter(project=self.project))


def add_channels(project, doc):
    for item in doc["keys"]:
        channel = Channel(kind="pd", project=project)
        channel.name = item["name"]
        channel.save()
        show(channel.project_checks())
"""


def test_dba102_a_methods_self_is_the_calls_receiver() -> None:
    # healthchecks' pd add_complete: a channel made per item, each on the same project; the
    # method's self.project was no key (self was not bound), so the finding asked for "a
    # batched variant that takes every item's key" where one query before the loop does
    finding = findings(_PER_ITEM_CHANNEL, "DBA102")["add_channels"]
    assert "runs the same query on Check (key `Channel(" in finding.message
    assert ").project`)" in finding.message
    assert finding.fix is not None and "once before the loop" in finding.fix.summary
    assert code_of(finding) == ""


_KEYS_AND_RELATIONS = """
from sqlalchemy import select


def by_owner(owners):
    for owner in owners:
        show(list(Render.objects.filter(project__owner_id=owner.id, status="done")))


def per_key(session, keys):
    for key in keys:
        show(session.scalars(select(Render).where(Render.project_id == key)).all())
"""


def test_dba101_django_keyword_across_a_relation_is_the_key() -> None:
    # project__owner_id was a filter with op 'owner_id': no key, and the fix batched on the
    # constant status (keys = ['done' for owner in owners])
    code = code_of(findings(_KEYS_AND_RELATIONS, "DBA101")["by_owner"]).splitlines()
    assert code[:3] == [
        "from django.db.models import F",
        "keys = [owner.id for owner in owners]",
        "rows = list(Render.objects.filter(project__owner_id__in=keys, status='done')"
        '.annotate(batch_key=F("project__owner_id")))  # one query for all of them',
    ]
    assert "    by_key.setdefault(row.batch_key, []).append(row)" in code


def test_batched_fix_names_no_list_after_what_the_loop_walks() -> None:
    code = code_of(findings(_KEYS_AND_RELATIONS, "DBA101")["per_key"]).splitlines()
    # ``keys = [key for key in keys]`` made the last ``for key in keys`` walk the new list
    assert code[0] == "batch_keys = [key for key in keys]"
    assert "Render.project_id.in_(batch_keys)" in code[1]
    assert code[-2] == "for key in keys:"
