"""DBA101's Django fixes on paperless-ngx's shapes (documents/bulk_edit.py:309,
documents/permissions.py:114-155):

- a key that is a collection per item (``User.objects.filter(id__in=entry["users"])`` per
  action) gets no code: the fix's keys were lists of lists, no values one IN takes; a
  one-element literal (``[entry["user"]]``) is that key;
- a lookup on a queryset that already filters the same keyword (``fields =
  CustomField.objects.filter(id__in=allowed)``, ``fields.get(id=w.field_id)``) keeps that
  filter in a ``.filter()`` of its own: ``filter(id__in=keys, id__in=allowed)`` is a
  SyntaxError;
- a lookup that reads nothing the inner loop changes, on a queryset built before the loops
  (its filter values computed there once), is the same query on every item even though the
  loop writes, when the writes go to another table; a loop that writes the table it reads
  stays an N+1 without code (a get-or-create)."""

from __future__ import annotations

import textwrap

from dbaudit.analysis import analyze
from dbaudit.findings import Finding
from dbaudit.frontends.python import parse_module

SOURCE = textwrap.dedent(
    """\
    from app.models import CustomField, CustomFieldInstance, User


    def set_perms(permissions):
        for action, entry in permissions.items():
            users = User.objects.filter(id__in=entry["users"])
            if users.exists():
                print(action)


    def set_one(permissions):
        for action, entry in permissions.items():
            users = User.objects.filter(id__in=[entry["user"]])
            if users.exists():
                print(action)


    def lookup(wanted, allowed):
        fields = CustomField.objects.filter(id__in=allowed)
        for w in wanted:
            print(fields.get(id=w.field_id))


    def lookup_other(wanted, allowed):
        fields = CustomField.objects.filter(name__in=allowed)
        for w in wanted:
            print(fields.get(id=w.field_id))


    def modify(affected_docs, add_custom_fields):
        custom_fields = CustomField.objects.filter(id__in=[int(f) for f, _ in add_custom_fields])
        for field_id, value in add_custom_fields:
            for doc_id in affected_docs:
                custom_field = custom_fields.get(id=field_id)
                CustomFieldInstance.objects.update_or_create(document_id=doc_id, field_id=field_id)


    def ensure(names, wanted):
        fields = CustomField.objects.filter(name__in=[n.lower() for n in names])
        for name in names:
            for w in wanted:
                if not fields.filter(name=name).exists():
                    CustomField.objects.create(name=name)
    """
)


def _findings() -> dict[str, Finding]:
    module = parse_module("app/bulk_edit.py", SOURCE)
    return {f.function: f for f in analyze([module], select=["DBA101"]).findings}


def test_a_collection_key_per_item_gets_no_code() -> None:
    found = _findings()
    assert found["set_perms"].fix.code == ""
    assert "union" in found["set_perms"].fix.summary
    assert "keys = [entry['user'] for action, entry in pairs]" in found["set_one"].fix.code


def test_a_keyword_the_queryset_already_filters_goes_into_its_own_filter() -> None:
    found = _findings()
    assert "CustomField.objects.filter(id__in=keys).filter(id__in=allowed)" in (
        found["lookup"].fix.code
    )
    assert "CustomField.objects.filter(id__in=keys, name__in=allowed)" in (
        found["lookup_other"].fix.code
    )


def test_a_lookup_the_inner_loop_does_not_change_is_the_same_query() -> None:
    found = _findings()
    assert "runs the same query" in found["modify"].message
    assert found["modify"].fix.code == ""
    # the loop writes the table the lookup reads: each item may add the next one's answer
    assert "runs the same query" not in found["ensure"].message
    assert found["ensure"].fix.code == ""


FOREIGN_KEYS = textwrap.dedent(
    """\
    from django.db import models


    class MailAccount(models.Model):
        name = models.CharField(max_length=10)


    class MailRule(models.Model):
        account = models.ForeignKey(MailAccount, on_delete=models.CASCADE)
        enabled = models.BooleanField()
        name = models.CharField(max_length=10)


    def process(accounts):
        for account in MailAccount.objects.all():
            if MailRule.objects.filter(account=account, enabled=True).exists():
                print(account)


    def process_ids(rules):
        for r in rules:
            print(MailRule.objects.filter(account=r.account_id).first())


    def by_name(names):
        for n in names:
            print(MailRule.objects.filter(name=n).first())
    """
)


def test_a_foreign_key_key_groups_rows_by_its_id_column() -> None:
    # paperless_mail/tasks.py:22 MailRule.objects.filter(account=account, ...) per account:
    # the fix grouped by row.account, one query per row to load each account
    module = parse_module("app/models.py", FOREIGN_KEYS)
    found = {f.function: f.fix.code for f in analyze([module], select=["DBA101"]).findings}
    assert "keys = [account.pk for account in accounts]" in found["process"]
    assert "by_key.setdefault(row.account_id, []).append(row)" in found["process"]
    assert "by_key.get(account.pk, [])" in found["process"]
    assert "keys = [r.account_id for r in rules]" in found["process_ids"]
    assert "by_key.setdefault(row.account_id, []).append(row)" in found["process_ids"]
    assert "by_key.setdefault(row.name, []).append(row)" in found["by_name"]


def test_a_helper_keyed_by_a_foreign_key_groups_rows_by_its_id_column() -> None:
    source = FOREIGN_KEYS + textwrap.dedent(
        """\


        def has_rules(account):
            return MailRule.objects.filter(account=account, enabled=True).exists()


        def through_helper():
            for account in MailAccount.objects.all():
                if has_rules(account):
                    print(account)
        """
    )
    module = parse_module("app/models.py", source)
    found = {f.function: f.fix.code for f in analyze([module], select=["DBA102"]).findings}
    assert "by_key.setdefault(row.account_id, []).append(row)" in found["through_helper"]
    assert "by_key.get(account.pk, [])" in found["through_helper"]
