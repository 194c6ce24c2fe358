"""DBA104 on Django prefetches (paperless-ngx):

- ``prefetch_related(Prefetch("actions", queryset=...))`` loads ``actions``: no finding for
  ``workflow.actions.all()`` (it was "does not load Workflow.actions eagerly", fix: add the
  prefetch it has); a ``prefetch_related`` argument held by a variable (``action_prefetch``,
  built in another module) may load it: no finding either;
- ``workflow.actions.order_by(...)`` (``.filter``, ``.values_list`` ...) on a to-many relation
  runs a query per item whatever was prefetched: documents/signals/handlers.py:923 (the
  workflows come with ``Prefetch("actions", queryset=....order_by("order", "pk"))``) and
  classifier.py:266 (``prefetch_related("tags")``, then ``doc.tags.filter(...)`` per document
  while training). The finding says so and moves the method into the Prefetch's queryset."""

from __future__ import annotations

import textwrap

from dbaudit.analysis import analyze
from dbaudit.frontends.python import parse_module

SOURCE = textwrap.dedent(
    """\
    from django.db import models
    from django.db.models import Prefetch


    class Workflow(models.Model):
        name = models.CharField(max_length=10)


    class WorkflowAction(models.Model):
        workflow = models.ForeignKey(Workflow, related_name="actions", on_delete=models.CASCADE)
        order = models.IntegerField()


    def run_prefetched_var(action_prefetch):
        for workflow in Workflow.objects.prefetch_related(action_prefetch):
            for action in workflow.actions.all():
                print(action)


    def run_prefetched_inline():
        prefetch = Prefetch("actions", queryset=WorkflowAction.objects.order_by("order"))
        for workflow in Workflow.objects.prefetch_related(
            Prefetch("actions", queryset=WorkflowAction.objects.order_by("order"))
        ):
            for action in workflow.actions.all():
                print(action, prefetch)


    def run_bypassed():
        for workflow in Workflow.objects.prefetch_related("actions"):
            for action in workflow.actions.order_by("order"):
                print(action)


    def run_filtered():
        for workflow in Workflow.objects.all():
            print(list(workflow.actions.filter(order=1).values_list("pk", flat=True)))


    def run_plain():
        for workflow in Workflow.objects.all():
            for action in workflow.actions.all():
                print(action)
    """
)


def test_prefetch_objects_and_bypassing_calls() -> None:
    module = parse_module("app/models.py", SOURCE)
    found = {f.function: f for f in analyze([module], select=["DBA104"]).findings}
    assert "run_prefetched_var" not in found
    assert "run_prefetched_inline" not in found
    bypassed = found["run_bypassed"]
    assert "`workflow.actions.order_by()` queries WorkflowAction once per workflow" in (
        bypassed.message
    )
    assert "prefetched rows are read only by .all()" in bypassed.message
    assert 'Prefetch("actions", queryset=WorkflowAction.objects.order_by(...))' in (
        bypassed.fix.code
    )
    filtered = found["run_filtered"]
    assert "`workflow.actions.filter()` queries WorkflowAction" in filtered.message
    assert "prefetched" not in filtered.message
    assert found["run_plain"].fix.code == 'Workflow.objects.filter(...).prefetch_related("actions")'
