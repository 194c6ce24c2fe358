"""Django models read statically: implicit ids, FK columns and indexes, Meta options."""

from __future__ import annotations

from pathlib import Path

import pytest

from dbaudit.schema.django_models import load_django_files, load_django_source
from dbaudit.schema.model import IndexKey
from dbaudit.schema.sqlalchemy_models import ModelSourceError

MODELS = """
from django.db import models
from django.db.models import Q


class Timestamped(models.Model):
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        abstract = True


class Project(Timestamped):
    owner = models.ForeignKey("auth.User", on_delete=models.CASCADE)
    slug = models.SlugField(unique=True)
    archived_at = models.DateTimeField(null=True)
    tags = models.ManyToManyField("Tag")


class Tag(models.Model):
    name = models.CharField(max_length=50)


class Render(Timestamped):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, db_index=False)
    parent = models.OneToOneField("self", null=True, on_delete=models.SET_NULL)
    status = models.CharField(max_length=20, db_column="state")
    is_public = models.BooleanField(default=False)

    class Meta:
        db_table = "renders"
        indexes = [
            models.Index(fields=["project", "-created_at"], name="render_feed"),
            models.Index(fields=["-created_at"], name="public_feed", condition=Q(is_public=True)),
        ]
        constraints = [
            models.UniqueConstraint(fields=["project", "status"], name="one_status",
                                    condition=Q(parent__isnull=True)),
        ]
        unique_together = ("project", "parent")


class NotAModel:
    name = models.CharField(max_length=5)
"""


def load() -> dict[str, object]:
    schema = load_django_source(("shop/gallery/models.py", MODELS))
    assert schema.source == "django"
    return {t.name: t for t in schema.tables}


def test_tables_and_names() -> None:
    assert sorted(load()) == ["gallery_project", "gallery_project_tags", "gallery_tag", "renders"]


def test_columns_inherit_and_relations_get_id_columns() -> None:
    project = load()["gallery_project"]
    assert [(c.name, c.nullable) for c in project.columns] == [  # type: ignore[attr-defined]
        ("id", False),
        ("created_at", False),
        ("owner_id", False),
        ("slug", False),
        ("archived_at", True),
    ]
    renders = load()["renders"]
    assert [c.name for c in renders.columns] == [  # type: ignore[attr-defined]
        "id", "created_at", "project_id", "parent_id", "state", "is_public",
    ]  # fmt: skip
    fks = {(f.columns, f.referenced_table) for f in renders.foreign_keys}  # type: ignore[attr-defined]
    assert fks == {(("project_id",), "gallery_project"), (("parent_id",), "renders")}


def test_indexes() -> None:
    renders = load()["renders"]
    indexes = {i.name: i for i in renders.indexes}  # type: ignore[attr-defined]
    columns = sorted(i.columns for i in indexes.values())
    # project has db_index=False: no single index on project_id; parent is one-to-one: unique.
    assert ("project_id",) not in columns
    assert indexes["renders_parent_id_key"].unique
    assert indexes["render_feed"].keys == (
        IndexKey("project_id", "project_id"),
        IndexKey("created_at", "created_at", descending=True),
    )
    assert indexes["public_feed"].predicate == "is_public = TRUE"
    assert indexes["one_status"].unique and indexes["one_status"].predicate == "parent_id IS NULL"
    assert ("project_id", "parent_id") in columns  # unique_together
    assert ("created_at",) in columns  # db_index=True inherited
    tags = load()["gallery_project_tags"]
    assert len(tags.foreign_keys) == 2  # type: ignore[attr-defined]
    owner = load()["gallery_project"]
    assert ("owner_id",) in [i.columns for i in owner.indexes]  # type: ignore[attr-defined]


def test_errors(tmp_path: Path) -> None:
    with pytest.raises(ModelSourceError, match=r"models\.py:1"):
        load_django_source(("models.py", "class ("))
    with pytest.raises(ModelSourceError, match="cannot read"):
        load_django_files([tmp_path / "models.py"])


def test_models_written_for_a_newer_python_load() -> None:
    # a PEP 695 alias and a PEP 758 except list (Python 3.12 / 3.14) are read on 3.11
    schema = load_django_source(
        (
            "shop/models.py",
            """
from django.db import models

type Cents = int

class Order(models.Model):
    total = models.IntegerField(db_index=True)

    def parsed(self, value):
        try:
            return int(value)
        except ValueError, TypeError:
            return 0
""",
        )
    )
    order = schema.table("shop_order")
    assert order is not None
    assert ("total",) in [i.columns for i in order.indexes]
