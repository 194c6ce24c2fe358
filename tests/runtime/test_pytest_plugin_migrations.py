"""Schema migrations run inside a test are counted, never judged, under ``pytest --dbaudit``.

A test that migrates (django-test-migrations' shape: back to the migration before a data
migration, then forward through it; pytest-alembic's upgrade and downgrade tests; a backup
restore that upgrades the restored database; an app whose startup upgrades the database, run
by a test client inside a test) ran each migration's code in the test's unit: a ``RunPython``
data migration or an Alembic revision that loops over rows failed the test as an N+1 and
row-by-row writes in the migration file, and Django's ``post_migrate`` (content types and
permissions, app by app) added N+1s at the line that called ``migrate``. Their statements
are the migration tool's run now: still counted (budgets, the summary's totals), never
judged, as Alembic's version row already was (``TOOL_SQL``). An N+1 of the application in the
same test is still found.

(The test database that pytest-django creates in its session fixture, or a session fixture's
``command.upgrade``, runs before any test's unit opens: those statements are in no unit.)
"""

from __future__ import annotations

import re

import pytest

pytest_plugins = ["pytester"]

SHOP_MODELS = """
from django.db import models


class Item(models.Model):
    name = models.CharField(max_length=20)
    slug = models.CharField(max_length=20, default="")
"""

SHOP_0001 = """
from django.db import migrations, models


def seed(apps, schema_editor):
    Item = apps.get_model("shop", "Item")
    for name in ["a", "b", "c", "d", "e"]:
        Item.objects.create(name=name)


class Migration(migrations.Migration):
    initial = True
    dependencies = []
    operations = [
        migrations.CreateModel(
            "Item",
            [
                ("id", models.AutoField(primary_key=True)),
                ("name", models.CharField(max_length=20)),
            ],
        ),
        migrations.RunPython(seed, migrations.RunPython.noop),
    ]
"""

SHOP_0002 = """
from django.db import migrations, models


def fill_slugs(apps, schema_editor):
    Item = apps.get_model("shop", "Item")
    for item_id in Item.objects.values_list("id", flat=True):
        item = Item.objects.get(id=item_id)
        item.slug = item.name.upper()
        item.save(update_fields=["slug"])


class Migration(migrations.Migration):
    dependencies = [("shop", "0001_initial")]
    operations = [
        migrations.AddField("Item", "slug", models.CharField(max_length=20, default="")),
        migrations.RunPython(fill_slugs, migrations.RunPython.noop),
    ]
"""

SHOP_SERVICES = """
from django.core.management import call_command

from shop.models import Item


def migrate_to(target=None):
    # a helper (application code, not test code): its own line is judged like the app's
    if target is None:
        call_command("migrate", verbosity=0)
    else:
        call_command("migrate", "shop", target, verbosity=0)


def slugs_one_by_one(ids):
    return [Item.objects.get(id=item_id).slug for item_id in ids]
"""

DJANGO_CONFTEST = """
import django
import pytest
from django.conf import settings

settings.configure(
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
    INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "shop"],
    USE_TZ=True,
)
django.setup()

from django.core.management import call_command  # noqa: E402

call_command("migrate", verbosity=0)


@pytest.fixture()
def remigrated():
    from shop.services import migrate_to

    migrate_to("0001")
    migrate_to()
"""

DJANGO_TESTS = """
from shop.models import Item
from shop.services import migrate_to, slugs_one_by_one


def test_data_migration_fills_slugs():
    migrate_to("0001")
    migrate_to()
    assert sorted(Item.objects.values_list("slug", flat=True)) == ["A", "B", "C", "D", "E"]


def test_an_n_plus_one_after_migrating_is_still_found():
    migrate_to("0001")
    migrate_to()
    assert slugs_one_by_one(list(Item.objects.values_list("id", flat=True))) == list("ABCDE")


def test_in_a_fixture_the_unit_fixture_sees(dbaudit_unit, remigrated):
    assert dbaudit_unit.query_count > 20  # counted ...
    assert dbaudit_unit.findings == []  # ... never judged
"""


def queries_in_summary(output: str) -> int:
    found = re.search(r"^(\d+) queries in \d+ tests", output, re.MULTILINE)
    assert found is not None, output
    return int(found.group(1))


@pytest.fixture()
def django_shop(pytester: pytest.Pytester) -> pytest.Pytester:
    pytest.importorskip("django")
    pytester.mkpydir("shop")
    pytester.mkpydir("shop/migrations")
    pytester.makepyfile(
        **{
            "shop/models": SHOP_MODELS,
            "shop/services": SHOP_SERVICES,
            "shop/migrations/0001_initial": SHOP_0001,
            "shop/migrations/0002_slug": SHOP_0002,
        }
    )
    pytester.makepyfile(conftest=DJANGO_CONFTEST, test_shop=DJANGO_TESTS)
    pytester.makeini("[pytest]\ndbaudit_slow_query_ms = 60000\n")
    return pytester


def test_a_django_data_migration_run_by_a_test_is_not_its_n_plus_one(
    django_shop: pytest.Pytester,
) -> None:
    result = django_shop.runpytest_subprocess(
        "-p", "no:cacheprovider", "-p", "no:django", "--dbaudit", "-k", "fills_slugs"
    )
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*queries in 1 tests*; 0 tests with findings"])
    result.stdout.no_fnmatch_line("*migrations/0002_slug.py*")
    result.stdout.no_fnmatch_line("*shop/services.py*")  # post_migrate's per-app queries
    # counted: two migrate runs, their schema changes, data migration and post_migrate
    assert queries_in_summary(result.stdout.str()) > 40


def test_an_application_n_plus_one_in_the_same_test_still_fails(
    django_shop: pytest.Pytester,
) -> None:
    result = django_shop.runpytest_subprocess(
        "-p", "no:cacheprovider", "-p", "no:django", "--dbaudit", "-k", "still_found"
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*dbaudit DBA101 at shop/services.py:15 (slugs_one_by_one)*"])
    result.stdout.no_fnmatch_line("*migrations/0002_slug.py*")


def test_a_migration_in_a_fixture_inside_the_unit_fixture(django_shop: pytest.Pytester) -> None:
    result = django_shop.runpytest_subprocess(
        "-p", "no:cacheprovider", "-p", "no:django", "--dbaudit", "-k", "unit_fixture"
    )
    result.assert_outcomes(passed=1)


ALEMBIC_ENV = """
from alembic import context

from app import engine

with engine.begin() as connection:
    context.configure(connection=connection, target_metadata=None)
    with context.begin_transaction():
        context.run_migrations()
"""

REVISION_1 = """
import sqlalchemy as sa
from alembic import op

revision = "r1"
down_revision = None


def upgrade():
    op.create_table(
        "items", sa.Column("id", sa.Integer, primary_key=True), sa.Column("name", sa.String(20))
    )
    for name in ["a", "b", "c", "d", "e"]:
        op.execute(sa.text("INSERT INTO items (name) VALUES (:n)").bindparams(n=name))


def downgrade():
    op.drop_table("items")
"""

REVISION_2 = """
import sqlalchemy as sa
from alembic import op
from sqlalchemy.orm import Session

revision = "r2"
down_revision = "r1"


def upgrade():
    op.add_column("items", sa.Column("slug", sa.String(20)))
    session = Session(bind=op.get_bind())
    ids = [row[0] for row in session.execute(sa.text("SELECT id FROM items"))]
    for item_id in ids:
        name = session.execute(
            sa.text("SELECT name FROM items WHERE id = :id"), {"id": item_id}
        ).scalar()
        session.execute(
            sa.text("UPDATE items SET slug = :s WHERE id = :id"),
            {"s": name.upper(), "id": item_id},
        )


def downgrade():
    op.drop_column("items", "slug")
"""

ALEMBIC_APP = """
import os

from sqlalchemy import create_engine, text

engine = create_engine("sqlite:///" + os.path.join(os.path.dirname(__file__), "app.db"))


def upgrade(target="head"):
    from alembic import command  # imported when first needed, inside a test maybe
    from alembic.config import Config

    config = Config()
    config.set_main_option(
        "script_location", os.path.join(os.path.dirname(__file__), "migrations")
    )
    command.upgrade(config, target)


def downgrade(target="base"):
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option(
        "script_location", os.path.join(os.path.dirname(__file__), "migrations")
    )
    command.downgrade(config, target)


def slugs_one_by_one(ids):
    with engine.connect() as conn:
        return [
            conn.execute(text("SELECT slug FROM items WHERE id = :id"), {"id": i}).scalar()
            for i in ids
        ]
"""

ALEMBIC_TESTS = """
import sys

from app import downgrade, slugs_one_by_one, upgrade


def test_upgrade_from_nothing():
    assert "alembic" not in sys.modules  # first imported inside this test's unit
    upgrade()


def test_down_and_up_again():
    downgrade()
    upgrade()


def test_an_n_plus_one_after_migrating():
    downgrade()
    upgrade()
    assert slugs_one_by_one([1, 2, 3, 4, 5]) == list("ABCDE")
"""


@pytest.fixture()
def alembic_app(pytester: pytest.Pytester) -> pytest.Pytester:
    pytest.importorskip("alembic")
    pytester.mkdir("migrations")
    pytester.mkdir("migrations/versions")
    pytester.makepyfile(
        app=ALEMBIC_APP,
        test_migrations=ALEMBIC_TESTS,
        **{
            "migrations/env": ALEMBIC_ENV,
            "migrations/versions/r1_items": REVISION_1,
            "migrations/versions/r2_slugs": REVISION_2,
        },
    )
    pytester.makeini("[pytest]\ndbaudit_slow_query_ms = 60000\n")
    return pytester


def test_alembic_revisions_run_by_tests_are_counted_not_judged(
    alembic_app: pytest.Pytester,
) -> None:
    result = alembic_app.runpytest_subprocess("-p", "no:cacheprovider", "--dbaudit")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.no_fnmatch_line("*migrations/versions/*")
    result.stdout.fnmatch_lines(
        [
            "*dbaudit DBA101 at app.py:3? (slugs_one_by_one)*",
            "*queries in 3 tests*; 1 tests with findings",
        ]
    )
    # counted: each upgrade runs both revisions (a table, 5 INSERTs, 11 statements of r2)
    assert queries_in_summary(result.stdout.str()) > 60
