"""A query whose ``IN`` list is the batch a chunked loop cuts is one query per batch, also
when the ``IN`` comes from a queryset refined before it runs (paperless-ngx's
``MailAccountHandler._handle_mail_rule``: ``uid_chunk = uids[i : i + BATCH]``,
``qs = ProcessedMail.objects.filter(..., uid__in=uid_chunk)``, ``qs = qs.filter(...)``,
``qs.values_list(...)``), which DBA101 reported as a high N+1 per ``i``. One key per turn of
the same loop, or a per-item collection in a plain loop, stays reported."""

from __future__ import annotations

import textwrap

from dbaudit.analysis import analyze
from dbaudit.frontends.python import parse_module

SOURCE = textwrap.dedent(
    """\
    from app.models import ProcessedMail

    BATCH = 500


    def processed(rule, all_uids):
        uids = list(all_uids)
        seen = set()
        for i in range(0, len(uids), BATCH):
            uid_chunk = uids[i : i + BATCH]
            qs = ProcessedMail.objects.filter(rule=rule, uid__in=uid_chunk)
            if rule.validity:
                qs = qs.filter(validity=rule.validity)
            seen.update(qs.values_list("uid", flat=True))
        return seen


    def processed_each(rule, uids):
        seen = set()
        for i in range(0, len(uids), BATCH):
            uid = uids[i]
            seen.update(ProcessedMail.objects.filter(rule=rule, uid=uid).values_list("uid"))
        return seen


    def per_message(rule, messages):
        for m in messages:
            print(ProcessedMail.objects.filter(rule=rule, uid__in=m.uids).exists())
    """
)


def test_an_in_list_cut_by_a_chunked_loop_is_no_n_plus_one() -> None:
    module = parse_module("app/mail.py", SOURCE)
    found = {f.function for f in analyze([module], select=["DBA101"]).findings}
    assert found == {"processed_each", "per_message"}
