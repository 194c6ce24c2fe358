"""A DataLoader that splits its keys by channel and runs one batched query per channel is
batching by design (saleor's ProductChannelListingByProductIdAndChannelSlugLoader and its
siblings were high DBA102 findings); a loop over groups whose query could be one IN over every
member, or whose helper looks up one key, stays reported."""

from __future__ import annotations

from pathlib import Path

import pytest

from dbaudit.analysis import analyze
from dbaudit.findings import Finding
from dbaudit.frontends.python import parse_module

FIXTURE = Path(__file__).parent.parent / "fixtures" / "big_django_channel_loaders.py"


@pytest.fixture(scope="module")
def dba102() -> dict[str, Finding]:
    module = parse_module("shop/graphql/loaders.py", FIXTURE.read_text())
    return {f.function: f for f in analyze([module], select=["DBA102"]).findings}


@pytest.mark.parametrize(
    "function",
    [
        "ListingByProductAndChannelLoader.batch_load",
        "QuantityByVariantCountryAndChannelLoader.batch_load",
    ],
)
def test_one_batched_query_per_channel_is_not_an_n_plus_1(
    dba102: dict[str, Finding], function: str
) -> None:
    assert function not in dba102


def test_a_group_handed_only_its_members_is_still_reported(dba102: dict[str, Finding]) -> None:
    assert "discounts_per_order" in dba102


def test_a_helper_looking_up_one_key_per_group_is_still_reported(
    dba102: dict[str, Finding],
) -> None:
    assert "products_per_channel" in dba102
