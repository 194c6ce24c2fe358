"""Code that only one-off code reaches is advisory, as saleor's demo seeding is: its
``core/utils/random_data.py`` holds loops of ``update_or_create`` that only the
``populatedb`` management command (and tests) call, and they were 50 high and critical
findings in a shop's request code. Production reach of any kind keeps a finding's severity:
a name imported by a production module, a call the graph cannot resolve (an import inside a
function), a module imported whole (a urlconf), a registering decorator."""

from __future__ import annotations

from pathlib import Path

import pytest

from dbaudit.analysis import analyze
from dbaudit.findings import Finding, Severity
from dbaudit.frontends.python import parse_module

FIXTURE = Path(__file__).parent.parent / "fixtures" / "big_django_seed_shop"


@pytest.fixture(scope="module")
def by_function() -> dict[str, list[Finding]]:
    modules = [
        parse_module(str(path.relative_to(FIXTURE)), path.read_text())
        for path in sorted(FIXTURE.rglob("*.py"))
    ]
    found: dict[str, list[Finding]] = {}
    for finding in analyze(modules).findings:
        found.setdefault(finding.function, []).append(finding)
    return found


def test_helpers_only_a_management_command_calls_are_info(
    by_function: dict[str, list[Finding]],
) -> None:
    for name in ("create_catalogue", "create_customers"):
        assert by_function[name], name
        assert {f.severity for f in by_function[name]} == {Severity.INFO}, name
        assert all("management-command" in (f.problem or "") for f in by_function[name])


@pytest.mark.parametrize(
    "name",
    [
        "create_masked_customers",  # imported by name by production masking.py
        "charge_vouchers",  # imported inside the production function that calls it
        "product_prices",  # a view: its module is imported whole by the urlconf
        "refresh_products",  # a Celery task: the worker calls it
    ],
)
def test_production_reach_keeps_the_severity(
    by_function: dict[str, list[Finding]], name: str
) -> None:
    assert by_function[name], name
    assert Severity.HIGH in {f.severity for f in by_function[name]}, name
