"""``for bundle in expired: bundle.delete()`` writes row by row, but when the model overrides
``delete`` (paperless-ngx's ``ShareLinkBundle.delete`` removes the bundle's file first,
documents/tasks.py:820) the bulk fix ``ShareLinkBundle.objects.filter(id__in=[...]).delete()``
never runs that override: the files would stay. The finding stays, without that code; a
model that keeps Django's own delete still gets it."""

from __future__ import annotations

import textwrap

from dbaudit.analysis import analyze
from dbaudit.frontends.python import parse_module

SOURCE = textwrap.dedent(
    """\
    from django.db import models


    class ShareLinkBundle(models.Model):
        path = models.CharField(max_length=10)

        def delete(self, using=None, *, keep_parents=False):
            remove_file(self.path)
            return super().delete(using=using, keep_parents=keep_parents)


    class ShareLink(models.Model):
        slug = models.CharField(max_length=10)


    def cleanup_bundles():
        for bundle in ShareLinkBundle.objects.filter(path__isnull=False):
            bundle.delete()


    def cleanup_links():
        for link in ShareLink.objects.filter(slug__isnull=False):
            link.delete()
    """
)


def test_an_overridden_delete_gets_no_bulk_delete() -> None:
    module = parse_module("app/tasks.py", SOURCE)
    found = {f.function: f.fix for f in analyze([module], select=["DBA103"]).findings}
    assert found["cleanup_bundles"].code == ""
    assert "is overridden" in found["cleanup_bundles"].summary
    assert found["cleanup_links"].code.endswith(".delete()")
