"""A custom Django manager method whose name says it writes (auditlog's
``LogEntry.objects.log_create``, ``User.objects.create_user``) is a write: paperless-ngx's
BulkEditView.post (views.py:3019) logged each document with ``log_create`` and got DBA101 'runs
a query on LogEntry per doc... Fetch LogEntry for every doc in one query'. Any other custom
method (``Tag.objects.for_user(u)``) stays a lazy queryset, and so does a model instance's
method called on a row the chain fetched (handlers.py:934 ``Document.objects.get(pk=...)
.add_nested_tags(...)`` is that get, not an INSERT on Document)."""

from __future__ import annotations

import textwrap

from dbaudit.frontends.python import parse_module

SOURCE = textwrap.dedent(
    """\
    from auditlog.models import LogEntry
    from app.models import Tag, User


    def log_all(docs):
        for doc in docs:
            LogEntry.objects.log_create(instance=doc, changes={}, action=1)
        User.objects.create_user("a")
        Tag.objects.remove_unused()
        Tag.objects.set_owner(1)


    def for_users(users):
        for u in users:
            print(list(Tag.objects.for_user(u)))


    def assign(doc, tags):
        Tag.objects.get(pk=doc.pk).add_nested_tags(tags)
        Tag.objects.filter(owner=doc.owner).remove_all()
    """
)


def test_custom_manager_methods_named_for_a_write() -> None:
    module = parse_module("app/views.py", SOURCE)
    kinds = {op.api: op.kind for fn in module.functions for op in fn.db_ops}
    assert kinds["LogEntry.objects.log_create"] == "insert"
    assert kinds["User.objects.create_user"] == "insert"
    assert kinds["Tag.objects.remove_unused"] == "delete"
    assert kinds["Tag.objects.set_owner"] == "update"
    assert kinds["Tag.objects.for_user"] == "select"
    assert kinds["Tag.objects.get().add_nested_tags"] == "select"
    assert kinds["Tag.objects.filter().remove_all"] == "delete"
