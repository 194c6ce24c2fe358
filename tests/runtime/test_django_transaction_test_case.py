"""A Django ``TransactionTestCase`` under ``pytest --dbaudit``: its teardown flushes every table
and recreates the content types and permissions row by row (through ``post_migrate``), with no
application frame; that failed every such test with N+1s and row-by-row INSERTs at
``<unknown>:0``. Those statements are the harness' now; the test's own still count, and an N+1
of the application's inside such a test is still found."""

from __future__ import annotations

import pytest

pytest.importorskip("django")

pytest_plugins = ["pytester"]

MODELS = """
from django.db import models


class Item(models.Model):
    name = models.CharField(max_length=20)
"""

SERVICES = """
from shop.models import Item


def first_of_each(names):
    return [Item.objects.filter(name=name).first() for name in names]
"""

CONFTEST = """
import django
from django.conf import settings

settings.configure(
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
    INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "shop"],
    USE_TZ=True,
)
django.setup()

from django.core.management import call_command  # noqa: E402

call_command("migrate", run_syncdb=True, verbosity=0)
"""

TESTS = """
from django.test import TransactionTestCase

from shop.models import Item
from shop.services import first_of_each


class ItemTests(TransactionTestCase):
    def test_create(self):
        Item.objects.create(name="a")
        assert Item.objects.count() == 1

    def test_lookups_per_name(self):
        for name in "abc":
            Item.objects.create(name=name)
        assert len(first_of_each("abc")) == 3
"""


FIXTURE_TESTS = """
from django.test import TransactionTestCase

from shop.models import Item


class LoadedItems(TransactionTestCase):
    fixtures = ["items"]

    def test_the_class_fixtures_are_loaded(self):
        assert sorted(Item.objects.values_list("name", flat=True)) == ["x", "y"]
"""

ITEMS = (
    '[{"model": "shop.item", "pk": 1, "fields": {"name": "x"}},'
    ' {"model": "shop.item", "pk": 2, "fields": {"name": "y"}}]'
)


def test_a_subclass_loads_its_own_fixtures(shop: pytest.Pytester) -> None:
    # Django 5's _fixture_setup is a classmethod: wrapped as a plain function, it was called
    # as TransactionTestCase's, with no fixtures, whatever the subclass declared
    (shop.path / "shop" / "fixtures").mkdir()
    (shop.path / "shop" / "fixtures" / "items.json").write_text(ITEMS)
    shop.makepyfile(test_fixtures=FIXTURE_TESTS)
    for flags in ((), ("--dbaudit",)):
        result = shop.runpytest_subprocess("-p", "no:cacheprovider", *flags, "test_fixtures.py")
        result.assert_outcomes(passed=1)


@pytest.fixture()
def shop(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.mkpydir("shop")
    pytester.makepyfile(**{"shop/models": MODELS, "shop/services": SERVICES})
    pytester.makepyfile(conftest=CONFTEST, test_shop=TESTS)
    pytester.makeini("[pytest]\ndbaudit_slow_query_ms = 60000\n")
    return pytester


def test_the_flush_after_each_test_is_the_harness(shop: pytest.Pytester) -> None:
    result = shop.runpytest_subprocess("-p", "no:cacheprovider", "--dbaudit", "-k", "create")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["2 queries in 1 tests*; 0 tests with findings"])
    result.stdout.no_fnmatch_line("*<unknown>:0*")


def test_an_n_plus_one_inside_such_a_test_is_still_found(shop: pytest.Pytester) -> None:
    result = shop.runpytest_subprocess("-p", "no:cacheprovider", "--dbaudit", "-k", "lookups")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*dbaudit DBA101 at shop/services.py:5 *"])
    result.stdout.no_fnmatch_line("*<unknown>:0*")
