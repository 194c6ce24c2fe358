"""The plugin's ``python_files`` matcher agrees with pytest's own.

pytest matches ``python_files`` with ``_pytest.pathlib.fnmatch_ex``, a private function, and
exposes no public way to ask whether a path is one it would collect (the public
``pytest_collect_file`` hook builds collector nodes and runs every plugin's collectors), so the
plugin keeps a matcher of its own; this test holds it to pytest's, so a change in pytest shows
here instead of in a finding marked (or not marked) as test code.
"""

from __future__ import annotations

import os

import pytest
from _pytest.pathlib import fnmatch_ex

from dbaudit.runtime.pytest_plugin import _test_file_pattern_matches

PATTERNS = (
    "test_*.py",
    "*_test.py",
    "check_*",
    "tests/*.py",
    "tests/**/test_*.py",
    "app/tests/*.py",
    "*/integration/*.py",
)
PATHS = (
    "/srv/app/tests/test_api.py",
    "/srv/app/tests/api/test_views.py",
    "/srv/app/tests/helpers.py",
    "/srv/app/app/tests/factories.py",
    "/srv/app/app/models_test.py",
    "/srv/app/app/views.py",
    "/srv/app/checks/check_orders.py",
    "/srv/app/integration/flows.py",
    "/srv/app/tests_old/test_x.txt",
)


@pytest.mark.parametrize("pattern", PATTERNS)
def test_matches_as_pytest_does(pattern: str) -> None:
    for path in PATHS:
        path = path.replace("/", os.sep)
        assert _test_file_pattern_matches(pattern, path) == fnmatch_ex(pattern, path), path


def test_the_cases_are_not_all_alike() -> None:
    verdicts = {fnmatch_ex(p, path) for p in PATTERNS for path in PATHS}
    assert verdicts == {True, False}
