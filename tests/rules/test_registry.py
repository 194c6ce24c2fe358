import re

from dbaudit.rules.registry import REGISTRY, RULES, get_rule

HEADINGS = (
    "## What it does",
    "## Why is this bad?",
    "## Example",
    "## Use instead",
    "## References",
)


def test_codes_are_unique_and_well_formed() -> None:
    codes = [rule.code for rule in RULES]
    assert len(codes) == len(set(codes))
    assert all(re.fullmatch(r"DBA\d{3}", code) for code in codes)


def test_docs_have_the_fixed_headings_in_order() -> None:
    for rule in RULES:
        positions = [rule.doc.find(heading) for heading in HEADINGS]
        assert all(p >= 0 for p in positions), rule.code
        assert positions == sorted(positions), rule.code
        assert rule.doc.startswith(f"{rule.code}: ")


def test_module_names_follow_the_code() -> None:
    for rule in RULES:
        module = rule.check.__module__.rsplit(".", 1)[-1]
        assert module.startswith(rule.code.lower() + "_")


def test_lookup() -> None:
    assert get_rule("dba101") is REGISTRY["DBA101"]
    assert get_rule("DBA999") is None
