"""DBA105's fix says what running the queries at once needs: separate sessions named as such
can overlap as they are; queries through objects (repositories) may share one connection."""

from __future__ import annotations

from dbaudit.analysis import analyze
from dbaudit.frontends.python import parse_module

SOURCE = """
class ArticlesRepository:
    def __init__(self, connection):
        self.connection = connection
        self._profiles = ProfilesRepository(connection)

    async def view(self, slug, author):
        profile = await self._profiles.get_profile(author)
        tags = await self.get_tags(slug)
        return profile, tags

    async def get_tags(self, slug):
        return await self.connection.fetch("SELECT tag FROM tags WHERE slug = $1", slug)


class ProfilesRepository:
    def __init__(self, connection):
        self.connection = connection

    async def get_profile(self, username):
        return await self.connection.fetchrow("SELECT * FROM users WHERE name = $1", username)


async def dashboard(users_conn, stats_conn, user_id):
    user = await users_conn.fetchrow("SELECT * FROM users WHERE id = $1", user_id)
    totals = await stats_conn.fetchrow("SELECT * FROM totals WHERE user_id = $1", user_id)
    return user, totals
"""


def _summaries() -> dict[str, str]:
    findings = analyze([parse_module("app.py", SOURCE)], select=["DBA105"]).findings
    return {f.function: f.fix.summary for f in findings if f.fix is not None}


def test_queries_through_objects_may_share_one_connection() -> None:
    summary = _summaries()["ArticlesRepository.view"]
    assert "separate sessions" not in summary
    assert "if these share one" in summary and "own session or pool connection" in summary


def test_named_connections_of_their_own_can_overlap_as_they_are() -> None:
    assert "They use separate sessions/connections" in _summaries()["dashboard"]
