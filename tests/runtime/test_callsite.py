"""Call sites: application frames only, innermost first, cached per call chain."""

from __future__ import annotations

import json
import os
import sqlite3

import dbaudit.runtime.unit as unit_module
from dbaudit.runtime.callsite import MAX_STACK, capture_stack, is_user_file


def test_library_and_generated_code_are_not_application_code() -> None:
    assert not is_user_file(json.__file__)  # standard library
    assert not is_user_file(sqlite3.__file__)
    assert not is_user_file(os.path.join(os.path.dirname(unit_module.__file__), "unit.py"))
    assert not is_user_file("<string>")
    assert is_user_file(__file__)


def test_reference_app_counts_as_application_code() -> None:
    from dbaudit.reference.render_platform.naive import dal

    assert is_user_file(dal.__file__)


def inner() -> object:
    return capture_stack(1)


def outer() -> object:
    return inner()


def test_innermost_first_and_cached() -> None:
    chains = [outer() for _ in range(3)]
    first = chains[0]
    functions = [site.function for site in first]  # type: ignore[attr-defined]
    assert functions[:2] == ["inner", "outer"]
    assert functions[2].startswith("test_innermost_first_and_cached")  # <listcomp> before 3.12
    assert all(chain is first for chain in chains)  # one shared tuple for one call chain
    assert first[0].path.endswith("test_callsite.py")  # type: ignore[index]


def recurse(depth: int) -> object:
    return capture_stack(1) if depth == 0 else recurse(depth - 1)


def test_depth_is_bounded() -> None:
    assert len(recurse(30)) == MAX_STACK  # type: ignore[arg-type]
