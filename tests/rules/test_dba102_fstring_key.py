"""A key written as an f-string reads the names in its replacement fields: paperless-ngx's
``permission = f"{action}_{object.__class__.__name__.lower()}"`` per action, handed to
``get_groups_with_only_permission(object, permission)`` (documents/permissions.py:143), was
'runs the same query on Permission ... once per action: N round trips for one answer'
(free_names read no name in the f-string, so the key looked the same on every action)."""

from __future__ import annotations

import textwrap

from dbaudit.analysis import analyze
from dbaudit.frontends.python import parse_module

SOURCE = textwrap.dedent(
    """\
    from app.models import Permission


    def groups_with(obj, codename):
        return Permission.objects.get(codename=codename)


    def per_action(obj, permissions):
        for action, entry in permissions.items():
            permission = f"{action}_{obj.__class__.__name__.lower()}"
            print(groups_with(obj, permission))


    def same_each_time(obj, permissions):
        for action, entry in permissions.items():
            permission = f"view_{obj.__class__.__name__.lower()}"
            print(groups_with(obj, permission), action)
    """
)


def test_an_fstring_key_reads_its_fields() -> None:
    module = parse_module("app/permissions.py", SOURCE)
    found = {f.function: f.message for f in analyze([module], select=["DBA102"]).findings}
    assert "same query" not in found["per_action"]
    assert "same query" in found["same_each_time"]
