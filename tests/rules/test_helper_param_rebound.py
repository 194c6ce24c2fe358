"""A helper that binds its parameter anew before its query (``instance = instance.document``)
is not keyed by what the caller passed: paperless-ngx's ``process_cf_select_update`` calls
``update_filename_and_move_files(CustomFieldInstance, cf_instance)`` per custom field instance,
and the helper updates ``Document.objects.filter(pk=instance.pk)`` after ``instance =
instance.document``. DBA103's fix was ``Document.objects.filter(pk__in=[cf_instance.pk for
...]).update(...)``: the ids of the custom field instances, another set of documents. The
finding stays; the code goes. A helper that keeps its parameter still gets the code."""

from __future__ import annotations

import textwrap

from dbaudit.analysis import analyze
from dbaudit.findings import Finding
from dbaudit.frontends.python import parse_module

SOURCE = textwrap.dedent(
    """\
    from app.models import CustomFieldInstance, Document


    def touch(sender, instance):
        if isinstance(instance, CustomFieldInstance):
            instance = instance.document
        Document.objects.filter(pk=instance.pk).update(modified=1)


    def touch_plain(sender, instance):
        Document.objects.filter(pk=instance.pk).update(modified=1)


    def load(instance):
        instance = instance.document
        return Document.objects.filter(pk=instance.pk).first()


    def load_plain(instance):
        return Document.objects.filter(pk=instance.pk).first()


    def process(field):
        for cf_instance in field.fields.select_related("document").iterator():
            touch(CustomFieldInstance, cf_instance)


    def process_plain(field):
        for cf_instance in field.fields.select_related("document").iterator():
            touch_plain(CustomFieldInstance, cf_instance)


    def read_all(field):
        for cf_instance in field.fields.all():
            print(load(cf_instance))


    def read_all_plain(field):
        for cf_instance in field.fields.all():
            print(load_plain(cf_instance))
    """
)


def _findings() -> dict[tuple[str, str], Finding]:
    module = parse_module("app/handlers.py", SOURCE)
    return {(f.rule, f.function): f for f in analyze([module]).findings}


def test_a_rebound_parameter_gives_the_write_no_bulk_code() -> None:
    found = _findings()
    assert found[("DBA103", "process")].fix.code == ""
    assert (
        "pk__in=[cf_instance.pk for cf_instance in" in found[("DBA103", "process_plain")].fix.code
    )


def test_a_rebound_parameter_gives_the_read_no_batched_code() -> None:
    found = _findings()
    assert found[("DBA102", "read_all")].fix.code == ""
    assert (
        "keys = [cf_instance.pk for cf_instance in" in found[("DBA102", "read_all_plain")].fix.code
    )
