"""A per-item key the loop body computes with a regex (``field_id = int(re.search(r"\\d+",
field)[0])``) is written into the batched fix as code, never read as a ``re.sub`` template:
paperless-ngx's ``SavedViewSerializer.validate`` (documents/serialisers.py:1523) crashed the
whole audit with ``re.error: bad escape \\d``."""

from __future__ import annotations

import textwrap

from dbaudit.analysis import analyze
from dbaudit.frontends.python import parse_module

SOURCE = textwrap.dedent(
    """\
    import re

    from app.models import CustomField


    def check_fields(fields):
        for field in fields:
            field_id = int(re.search(r"\\d+\\\\n", field)[0])
            if not CustomField.objects.filter(id=field_id).exists():
                raise ValueError(field)


    def check_plain(fields):
        for field in fields:
            field_id = int(field.split("_")[-1])
            if not CustomField.objects.filter(id=field_id).exists():
                raise ValueError(field)
    """
)


def test_a_key_with_backslashes_is_copied_verbatim_into_the_fix() -> None:
    module = parse_module("app/serializers.py", SOURCE)
    found = {f.function: f for f in analyze([module], select=["DBA101"]).findings}
    assert 'int(re.search(r"\\d+\\\\n", field)[0])' in found["check_fields"].fix.code
    assert 'int(field.split("_")[-1])' in found["check_plain"].fix.code
