"""DBA101 takes a loop over groups of keys as DBA102 does: one batched query per group that
reads the group's key and its members is batching by design (saleor's attribute-value
loaders, one query per distinct limit, were high DBA101 findings)."""

from __future__ import annotations

from pathlib import Path

from dbaudit.analysis import analyze
from dbaudit.frontends.python import parse_module

FIXTURE = Path(__file__).parent.parent / "fixtures" / "DBA101_per_group_of_keys.py"


def test_one_batched_query_per_group_of_keys_is_not_an_n_plus_1() -> None:
    module = parse_module("shop/graphql/loaders.py", FIXTURE.read_text())
    found = {f.function for f in analyze([module], select=["DBA101"]).findings}
    assert "ValuesByProductAndLimitLoader.batch_load" not in found
    assert "listings_per_order" in found
