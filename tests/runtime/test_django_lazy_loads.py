"""Django's lazy loads, labelled with the relation or deferred field they load
(``capture/django_orm.py``), on sqlite and PostgreSQL: a Django N+1 over two parents is found
at the default thresholds, as SQLAlchemy's is, and its fix is written in Django's words.

The models live in an app installed for this module only (``apps.set_installed_apps``): Django
resolves reverse relations and many-to-many filters through installed apps only, and its
settings are configured once per process (``test_capture_django.py`` configures the same
databases when it runs first).
"""

from __future__ import annotations

import sys
import types
from collections.abc import Iterator
from typing import Any

import pytest

django = pytest.importorskip("django")

from django.conf import settings  # noqa: E402
from django.db.models import Count, Prefetch, Q  # noqa: E402

from dbaudit.runtime import profile  # noqa: E402
from dbaudit.runtime.capture.django_orm import PARENT_MARK  # noqa: E402

pytest_plugins = ["pytester"]

APP = "dbaudit_lazy_blog"
ALIASES = ["default", "pg"]


def _models() -> types.SimpleNamespace:
    from django.db import models

    class Meta:
        app_label = APP

    def model(class_name: str, /, **fields: Any) -> Any:
        return type(class_name, (models.Model,), {"__module__": __name__, "Meta": Meta, **fields})

    author = model(
        "Author",
        name=models.CharField(max_length=50),
        following=models.ManyToManyField("self", symmetrical=False, related_name="followers"),
    )
    profile_ = model(
        "Profile",
        author=models.OneToOneField(author, models.CASCADE, related_name="profile"),
        bio=models.TextField(default=""),
    )
    tag = model("Tag", name=models.CharField(max_length=50))
    article = model(
        "Article",
        author=models.ForeignKey(author, models.CASCADE),
        title=models.CharField(max_length=50),
        body=models.TextField(default=""),
        tags=models.ManyToManyField(tag, related_name="articles"),
    )
    comment = model(
        "Comment",
        article=models.ForeignKey(article, models.CASCADE, related_name="comments"),
        text=models.TextField(default=""),
    )
    return types.SimpleNamespace(
        Author=author, Profile=profile_, Tag=tag, Article=article, Comment=comment
    )


@pytest.fixture(scope="module")
def blog(django_databases: None) -> Iterator[types.SimpleNamespace]:
    from django.apps import apps
    from django.db import connections

    from dbaudit.runtime.capture.django import instrument_all

    app_module = types.ModuleType(APP)
    app_module.__file__ = __file__  # an app needs a place on disk, none of its files are read
    sys.modules[APP] = app_module
    apps.set_installed_apps([*settings.INSTALLED_APPS, APP])
    blog = _models()
    tables = [blog.Author, blog.Profile, blog.Tag, blog.Article, blog.Comment]
    for alias in ALIASES:
        with connections[alias].schema_editor() as editor:
            for table in tables:
                editor.create_model(table)
    instrument_all()
    try:
        yield blog
    finally:
        for alias in ALIASES:
            with connections[alias].schema_editor() as editor:
                for table in reversed(tables):
                    editor.delete_model(table)
        apps.unset_installed_apps()
        del sys.modules[APP]


@pytest.fixture(params=ALIASES)
def db(request: pytest.FixtureRequest, blog: types.SimpleNamespace) -> Iterator[Any]:
    """Two authors (one with a profile, following the other), an article each with two tags
    and a comment: the realworld app's list endpoint over the 2 articles its tests create."""
    from django.db import transaction

    alias = request.param
    with transaction.atomic(using=alias):
        ann = blog.Author.objects.using(alias).create(name="ann")
        bob = blog.Author.objects.using(alias).create(name="bob")
        ann.following.add(bob)
        blog.Profile.objects.using(alias).create(author=ann, bio="hi")
        tags = [blog.Tag.objects.using(alias).create(name=name) for name in ("db", "orm")]
        for number, author in enumerate((ann, bob)):
            article = blog.Article.objects.using(alias).create(
                author=author, title=f"t{number}", body=f"b{number}"
            )
            article.tags.add(*tags)
            blog.Comment.objects.using(alias).create(article=article, text="nice")
        yield types.SimpleNamespace(alias=alias, **vars(blog))
        transaction.set_rollback(True, using=alias)


def labels_of(run: Any) -> list[tuple[str | None, str]]:
    """(label without its parent's digest, statement head) of each statement ``run()`` sends,
    in order."""
    with profile() as unit:
        run()
    return [
        (load_of(e.relationship), e.fingerprint.text.split(" FROM ")[0][:24]) for e in unit.events
    ]


def load_of(label: str | None) -> str | None:
    return None if label is None else label.partition(PARENT_MARK)[0]


def parents_of(run: Any) -> list[str]:
    """The parent digest of each labelled statement ``run()`` sends, in order."""
    with profile() as unit:
        run()
    return [e.relationship.partition(PARENT_MARK)[2] for e in unit.events if e.relationship]


def relationships(run: Any) -> list[str | None]:
    return [label for label, _ in labels_of(run)]


# --- What each lazy load is labelled -------------------------------------------------------


def test_forward_many_to_one_and_one_to_one(db: Any) -> None:
    articles = db.Article.objects.using(db.alias).order_by("id")
    assert relationships(lambda: [a.author for a in articles]) == [
        None,  # the articles
        "Article.author (many-to-one)",
        "Article.author (many-to-one)",
    ]
    profiles = db.Profile.objects.using(db.alias)
    assert relationships(lambda: [p.author for p in profiles]) == [
        None,
        "Profile.author (one-to-one)",
    ]


def test_reverse_one_to_one(db: Any) -> None:
    def profiles() -> list[Any]:
        found = []
        for author in db.Author.objects.using(db.alias).order_by("id"):
            try:
                found.append(author.profile)
            except db.Profile.DoesNotExist:  # bob has none: still one load, still labelled
                found.append(None)
        return found

    assert relationships(profiles) == [None, *["Author.profile (one-to-one)"] * 2]


def test_related_managers_evaluated(db: Any) -> None:
    """A related manager's queryset, evaluated: one statement per parent object, whatever
    evaluates it (iteration, get/first, count, exists): see capture/django_orm.py."""

    def articles() -> Any:  # a queryset of its own each time: evaluated once, then cached
        return db.Article.objects.using(db.alias).order_by("id")

    assert relationships(lambda: [list(a.comments.all()) for a in articles()]) == [
        None,
        *["Article.comments"] * 2,
    ]
    assert relationships(lambda: [[t.name for t in a.tags.all()] for a in articles()]) == [
        None,
        *["Article.tags"] * 2,
    ]
    assert relationships(
        lambda: [(a.comments.count(), a.tags.count(), a.tags.exists()) for a in articles()[:1]]
    ) == [None, "Article.comments", "Article.tags", "Article.tags"]
    assert relationships(
        lambda: [
            (a.comments.filter(text="nice").first(), a.tags.get(name="db")) for a in articles()
        ]
    ) == [
        None,
        *["Article.comments (filtered Comment: text)", "Article.tags (filtered Tag: name)"] * 2,
    ]
    tags = db.Tag.objects.using(db.alias)
    assert relationships(
        lambda: [
            (list(a.tags.values_list("name", flat=True)), list(tags.values_list("name")))
            for a in articles()
        ]
    ) == [None, *["Article.tags", None] * 2]


def test_each_label_names_its_parent(db: Any) -> None:
    """A digest of the parent's key ends each label: one per article, the same for the same
    article whatever reads its relations, and no key value in it."""
    articles = list(db.Article.objects.using(db.alias).order_by("id"))
    first, second = articles
    digests = parents_of(
        lambda: [
            (a.comments.count(), a.comments.filter(text="x").count(), list(a.tags.all()))
            for a in articles
        ]
    )
    assert len(set(digests[:3])) == 1 and len(set(digests[3:])) == 1
    assert digests[0] != digests[3]
    assert all(len(digest) == 12 and int(digest, 16) >= 0 for digest in digests)
    assert [digest == str(a.pk) for digest in digests[::3] for a in (first, second)] == [0] * 4


def test_many_to_many_sides_are_told_apart(db: Any) -> None:
    """The reverse side of a many-to-many relation, and both sides of a self-referential one
    (their through table's two foreign keys point at the same model)."""
    tags = db.Tag.objects.using(db.alias).order_by("id")
    assert relationships(lambda: [list(t.articles.all()) for t in tags]) == [
        None,
        *["Tag.articles"] * 2,
    ]
    ann = db.Author.objects.using(db.alias).get(name="ann")
    seen = relationships(lambda: (list(ann.following.all()), list(ann.followers.all())))
    assert seen == ["Author.following", "Author.followers"]


def test_deferred_field(db: Any) -> None:
    articles = db.Article.objects.using(db.alias).only("id", "title").order_by("id")
    assert relationships(lambda: [a.body for a in articles]) == [
        None,
        *["Article.body (deferred)"] * 2,
    ]
    # the deferred foreign key first, then the author it names
    articles = db.Article.objects.using(db.alias).defer("author").order_by("id")[:1]
    assert relationships(lambda: [a.author for a in articles]) == [
        None,
        "Article.author_id (deferred)",
        "Article.author (many-to-one)",
    ]


def test_under_a_debug_cursor(db: Any) -> None:
    """assertNumQueries and DEBUG put Django's CursorDebugWrapper (one more frame) around each
    statement."""
    from django.db import connections
    from django.test.utils import CaptureQueriesContext

    articles = db.Article.objects.using(db.alias).order_by("id")
    with CaptureQueriesContext(connections[db.alias]) as captured:
        seen = relationships(lambda: [(a.author, list(a.tags.all())) for a in articles])
    assert len(captured) == 5
    assert seen == [None, *["Article.author (many-to-one)", "Article.tags"] * 2]


def test_no_label_where_nothing_is_lazily_loaded(db: Any) -> None:
    """Statements bound to no parent object, the eager loads that are the fix, and the reads
    of a related manager's writes."""
    from django.db import connections

    articles = db.Article.objects.using(db.alias)
    tags = list(db.Tag.objects.using(db.alias))

    def unlabelled() -> None:
        list(articles.filter(title="t0"))
        articles.filter(author__name="ann").count()
        list(articles.select_related("author"))
        for article in articles.prefetch_related("tags", "comments", "author__profile"):
            assert (len(article.tags.all()), article.comments.count()) == (2, 1)
        article = articles.order_by("id").first()
        article.tags.set(tags[:1])  # reads the tags it replaces through the manager's queryset
        article.comments.get_or_create(text="nice")
        article.comments.all().delete()
        with connections[db.alias].cursor() as cursor:
            cursor.execute("SELECT 1")

    seen = labels_of(unlabelled)
    assert any(head.startswith("SELECT") for _, head in seen)
    assert [label for label, _ in seen if label is not None] == []


# --- End to end: found at the default thresholds, fixed in Django's words -----------------


def test_author_of_two_articles_is_an_n_plus_one(db: Any) -> None:
    articles = db.Article.objects.using(db.alias).order_by("id")
    with profile() as unit:
        names = [article.author.name for article in articles]
    assert names == ["ann", "bob"]
    [finding] = unit.findings
    assert finding.rule == "DBA101"
    assert finding.message.startswith("N+1: Article.author lazy-loaded for 2 articles")
    assert finding.fix.code == 'Article.objects.select_related("author")'
    assert "select_related" in finding.fix.summary
    assert "joinedload" not in finding.fix.summary + finding.fix.code


def test_select_related_or_one_article_is_no_n_plus_one(db: Any) -> None:
    articles = db.Article.objects.using(db.alias).order_by("id")
    with profile() as joined:
        assert [a.author.name for a in articles.select_related("author")] == ["ann", "bob"]
    assert (joined.query_count, joined.findings) == (1, [])
    with profile() as one:
        assert [a.author.name for a in articles[:1]] == ["ann"]
    assert (one.query_count, one.findings) == (2, [])


def test_tags_of_two_articles_fixed_with_prefetch_related(db: Any) -> None:
    articles = db.Article.objects.using(db.alias).order_by("id")
    with profile() as unit:
        names = [sorted(t.name for t in article.tags.all()) for article in articles]
    assert names == [["db", "orm"]] * 2
    [finding] = unit.findings
    assert finding.message.startswith("N+1: Article.tags lazy-loaded for 2 articles")
    assert finding.fix.code == 'Article.objects.prefetch_related("tags")'
    assert finding.fixed_query_cost == "2"
    with profile() as prefetched:
        assert [len(a.tags.all()) for a in articles.prefetch_related("tags")] == [2, 2]
    assert (prefetched.query_count, prefetched.findings) == (2, [])


def test_deferred_body_of_two_articles(db: Any) -> None:
    articles = db.Article.objects.using(db.alias).only("id", "title").order_by("id")
    with profile() as unit:
        assert [a.body for a in articles] == ["b0", "b1"]
    [finding] = unit.findings
    assert finding.message.startswith("N+1: Article.body reloaded for 2 articles one by one")
    assert finding.fix.code == 'Article.objects.defer(None)  # or .only(..., "body")'
    assert "undefer" not in finding.fix.summary + finding.fix.code


# --- The pytest plugin, on a project laid out as Django projects are -----------------------

PROJECT_MODELS = """
from django.db import models


class Author(models.Model):
    name = models.CharField(max_length=50)


class Article(models.Model):
    author = models.ForeignKey(Author, models.CASCADE)
    title = models.CharField(max_length=50)
"""

PROJECT_CONFTEST = """
import django
import pytest
from django.conf import settings

settings.configure(
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
    INSTALLED_APPS=["blog"],
    USE_TZ=True,
)
django.setup()


@pytest.fixture()
def articles():
    from django.db import connection

    from blog.models import Article, Author

    with connection.schema_editor() as editor:
        editor.create_model(Author)
        editor.create_model(Article)
    for name in ("ann", "bob"):
        Article.objects.create(author=Author.objects.create(name=name), title=name)
    yield Article.objects.order_by("id")
    with connection.schema_editor() as editor:
        editor.delete_model(Article)
        editor.delete_model(Author)
"""

PROJECT_VIEWS = """
def author_names(articles):
    return [article.author.name for article in articles]
"""

PROJECT_TESTS = """
from blog.views import author_names


def test_list(articles):
    assert author_names(articles) == ["ann", "bob"]


def test_list_joined(articles):
    assert [a.author.name for a in articles.select_related("author")] == ["ann", "bob"]


def test_one(articles):
    assert [article.author.name for article in articles[:1]] == ["ann"]
"""


def test_pytest_plugin_fails_the_n_plus_one_over_two_articles(pytester: pytest.Pytester) -> None:
    pytester.mkpydir("blog")
    pytester.makepyfile(**{"blog/models": PROJECT_MODELS, "blog/views": PROJECT_VIEWS})
    pytester.makepyfile(conftest=PROJECT_CONFTEST, test_articles=PROJECT_TESTS)
    pytester.makeini("[pytest]\ndbaudit_slow_query_ms = 60000\n")
    result = pytester.runpytest_subprocess("--dbaudit", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*dbaudit DBA101 at blog/views.py:2 *N+1: Article.author lazy-loaded for 2 articles*",
            '*fix: Article.objects.select_related("author")*',
        ]
    )
    result.stdout.no_fnmatch_line("*test_list_joined*DBA101*")


# --- Parents counted by parent: a related manager's queryset filtered further --------------


def test_one_article_counted_with_two_filters_is_no_n_plus_one(db: Any) -> None:
    """Two reads of one article's comments with two filters: one parent, not the N+1 shape
    (its two parameter sets were counted as two parents)."""
    article = db.Article.objects.using(db.alias).order_by("id").first()
    with profile() as unit:
        counts = [article.comments.filter(text=text).count() for text in ("nice", "bad")]
    assert counts == [1, 0]
    assert (unit.query_count, unit.findings) == (2, [])


def test_filtered_comments_counted_per_article_is_an_n_plus_one(db: Any) -> None:
    articles = db.Article.objects.using(db.alias).order_by("id")
    with profile() as unit:
        counts = [article.comments.filter(text="nice").count() for article in articles]
    assert counts == [1, 1]
    [finding] = unit.findings
    assert finding.message.startswith("N+1: Article.comments lazy-loaded for 2 articles")
    assert finding.fix.code == (
        'Article.objects.annotate(comments_count=Count("comments", filter=Q(comments__text=...)))'
    )
    with profile() as fixed:
        annotated = articles.annotate(
            comments_count=Count("comments", filter=Q(comments__text="nice"))
        )
        assert [a.comments_count for a in annotated] == [1, 1]
    assert (fixed.query_count, fixed.findings) == (1, [])


def test_filtered_tags_fetched_per_article_fixed_with_a_prefetch(db: Any) -> None:
    articles = db.Article.objects.using(db.alias).order_by("id")
    with profile() as unit:
        names = [[t.name for t in article.tags.filter(name="db")] for article in articles]
    assert names == [["db"], ["db"]]
    [finding] = unit.findings
    assert finding.message.startswith("N+1: Article.tags lazy-loaded for 2 articles")
    assert finding.fix.code == (
        'Article.objects.prefetch_related(Prefetch("tags", '
        'queryset=Tag.objects.filter(name=...), to_attr="filtered_tags"))'
    )
    with profile() as fixed:
        tags = db.Tag.objects.using(db.alias).filter(name="db")
        prefetched = articles.prefetch_related(
            Prefetch("tags", queryset=tags, to_attr="filtered_tags")
        )
        assert [[t.name for t in a.filtered_tags] for a in prefetched] == [["db"], ["db"]]
    assert (fixed.query_count, fixed.findings) == (2, [])


def test_author_shared_by_two_articles_is_loaded_for_two_articles(db: Any) -> None:
    """Two articles by one author: the same parameters twice, but two parents (was a
    duplicate query, DBA301, whose fix is no select_related)."""
    ann = db.Author.objects.using(db.alias).get(name="ann")
    db.Article.objects.using(db.alias).create(author=ann, title="t2")
    articles = db.Article.objects.using(db.alias).filter(author=ann).order_by("id")
    with profile() as unit:
        assert [a.author.name for a in articles] == ["ann", "ann"]
    [finding] = unit.findings
    assert finding.rule == "DBA101"
    assert finding.message.startswith("N+1: Article.author lazy-loaded for 2 articles")
