"""Shapes seen auditing two real applications under ``pytest --dbaudit`` (session 4, h6).

- nsidnev/fastapi-realworld-example-app (asyncpg, SQL in aiosql files, FastAPI dependencies):
  ``ArticlesRepository.create_article`` inserts through a CTE that looks the author up
  (``WITH author_subquery AS (SELECT id, username FROM users WHERE username = $5) INSERT INTO
  articles ... VALUES (..., (SELECT id FROM author_subquery)) RETURNING ...``); and every
  authenticated endpoint loads the user in a FastAPI dependency, which the framework awaits
  before it calls the endpoint, so the user's query and the endpoint's first one ran one after
  the other with no application frame in common.
- miguelgrinberg/microblog (Flask-SQLAlchemy on sqlite): its tests commit between reads, so
  SQLAlchemy reloads the same expired ``User`` row after each commit.

Each has a control that passed before the fix in ``runtime/detect.py`` too.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
from sqlalchemy import ForeignKey, String, create_engine, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column
from starlette.applications import Starlette
from starlette.authentication import AuthCredentials, AuthenticationBackend, SimpleUser
from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.requests import HTTPConnection, Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from dbaudit.runtime import instrument, profile

_SCHEMA = """
CREATE TABLE users (id serial PRIMARY KEY, username text UNIQUE, token text);
CREATE TABLE articles (
    id serial PRIMARY KEY, slug text UNIQUE, title text, author_id int REFERENCES users (id)
);
INSERT INTO users (username, token) VALUES ('alice', 'secret'), ('bob', 'other');
INSERT INTO articles (slug, title, author_id) VALUES ('hello', 'Hello', 1);
"""

# create_new_article of the app's queries/sql/articles.sql, trimmed to the columns it needs
_CREATE_ARTICLE = """
WITH author_subquery AS (
    SELECT id, username FROM users WHERE username = $1
)
INSERT INTO articles (slug, title, author_id)
VALUES ($2, $3, (SELECT id FROM author_subquery))
RETURNING id, slug, title, (SELECT username FROM author_subquery) AS author_username
"""


@pytest.fixture()
async def connection(fresh_pg_url: str) -> AsyncIterator[asyncpg.Connection]:
    connection = instrument(await asyncpg.connect(fresh_pg_url))
    await connection.execute(_SCHEMA)
    yield connection
    await connection.close()


# -- DBA103's fix for an INSERT behind a CTE ----------------------------------------------------


async def create_article(connection: asyncpg.Connection, slug: str) -> None:
    await connection.fetchrow(_CREATE_ARTICLE, "alice", slug, "tmp")


async def test_row_by_row_insert_behind_a_cte_gets_no_in_list_fix(
    connection: asyncpg.Connection,
) -> None:
    with profile() as unit:
        for i in range(5):
            await create_article(connection, f"slug-{i}")
    [finding] = [f for f in unit.findings if f.rule == "DBA103"]
    assert finding.fix is not None
    assert "IN (?)" not in finding.fix.code
    assert finding.fix.code == "" or "VALUES (?, ?, (SELECT id FROM author_subquery)), (" in (
        finding.fix.code
    )


async def test_a_plain_row_by_row_insert_still_gets_its_multi_row_values(
    connection: asyncpg.Connection,
) -> None:
    with profile() as unit:
        for i in range(5):
            await connection.execute(
                "INSERT INTO articles (slug, title, author_id) VALUES ($1, $2, $3)",
                f"plain-{i}",
                "tmp",
                1,
            )
    [finding] = [f for f in unit.findings if f.rule == "DBA103"]
    assert finding.fix is not None
    assert "VALUES (?, ?, ?), (?, ?, ?), ..." in finding.fix.code


# -- DBA105 across a framework's dependency boundary -------------------------------------------


class TokenBackend(AuthenticationBackend):
    """The app's get_current_user dependency: the user behind the request's token."""

    def __init__(self, connection: asyncpg.Connection) -> None:
        self.connection = connection

    async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, SimpleUser]:
        token = conn.headers.get("authorization", "")
        username = await self.connection.fetchval(
            "SELECT username FROM users WHERE token = $1", token
        )
        return AuthCredentials(["authenticated"]), SimpleUser(str(username))


def article_app(connection: asyncpg.Connection) -> Starlette:
    async def article(request: Request) -> PlainTextResponse:
        # nothing of the user's row goes into this query: independent of the middleware's
        title = await connection.fetchval(
            "SELECT title FROM articles WHERE slug = $1", request.path_params["slug"]
        )
        return PlainTextResponse(f"{title} for {request.user.display_name}")

    return Starlette(
        routes=[Route("/articles/{slug}", article)],
        middleware=[Middleware(AuthenticationMiddleware, backend=TokenBackend(connection))],
    )


async def get_article(app: Starlette, slug: str) -> str:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        response = await client.get(f"/articles/{slug}", headers={"authorization": "secret"})
    return response.text


async def test_authentication_then_endpoint_is_not_sequential(
    connection: asyncpg.Connection,
) -> None:
    app = article_app(connection)
    with profile() as unit:
        assert await get_article(app, "hello") == "Hello for alice"
    assert unit.query_count == 2
    assert [f.rule for f in unit.findings] == []


async def lookups(connection: asyncpg.Connection) -> tuple[object, object]:
    user = await connection.fetchval("SELECT username FROM users WHERE token = $1", "secret")
    title = await connection.fetchval("SELECT title FROM articles WHERE slug = $1", "hello")
    return user, title


async def test_two_independent_awaits_in_one_function_are_still_sequential(
    connection: asyncpg.Connection,
) -> None:
    with profile() as unit:
        assert await lookups(connection) == ("alice", "Hello")
    assert [f.rule for f in unit.findings] == ["DBA105"]


# -- DBA301 on reloads of rows a commit expired ------------------------------------------------


class Base(DeclarativeBase):
    pass


class Author(Base):
    __tablename__ = "h6_author"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))


class Follow(Base):
    __tablename__ = "h6_follow"
    id: Mapped[int] = mapped_column(primary_key=True)
    follower_id: Mapped[int] = mapped_column(ForeignKey("h6_author.id"))
    n: Mapped[int] = mapped_column(default=0)


def follow_twice(session: Session, author: Author) -> None:
    """microblog's test_follow: a write to another table and a commit, then the author's
    attributes read again, which reloads the row the commit expired."""
    for n in range(2):
        session.add(Follow(follower_id=author.id, n=n))
        session.commit()
    assert author.name == "john"


def test_reloads_after_commits_are_a_duplicate_with_the_expire_on_commit_fix() -> None:
    engine = instrument(create_engine("sqlite://"))
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        author = Author(name="john")
        session.add(author)
        session.commit()
        with profile() as unit:
            follow_twice(session, author)
    [finding] = [f for f in unit.findings if f.rule == "DBA301"]
    assert finding.fix is not None
    assert "expire_on_commit=False" in finding.fix.summary + finding.fix.code


def test_the_same_read_twice_keeps_the_pass_it_along_fix() -> None:
    engine = instrument(create_engine("sqlite://"))
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        session.add(Author(id=1, name="john"))
        session.commit()
        with profile() as unit:
            for _ in range(2):
                session.execute(select(Author.name).where(Author.id == 1)).one()
    [finding] = [f for f in unit.findings if f.rule == "DBA301"]
    assert finding.fix is not None
    assert "pass the result along" in finding.fix.summary


# -- DBA301 on an INSERT run twice with the same values ----------------------------------------


def log_visits(session: Session, author: Author) -> None:
    """Two visits logged with the same values: two rows, neither redundant."""
    session.add(Follow(follower_id=author.id))
    session.flush()
    session.add(Follow(follower_id=author.id))
    session.flush()


def test_the_same_insert_twice_is_no_duplicate_query() -> None:
    engine = instrument(create_engine("sqlite://"))
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        author = Author(name="john")
        session.add(author)
        session.flush()
        with profile() as unit:
            log_visits(session, author)
    assert [e.fingerprint.kind for e in unit.events] == ["insert", "insert"]
    assert [f.rule for f in unit.findings] == []
