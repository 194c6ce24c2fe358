"""A per-item query keyed by a value drawn anew each time (``random.randint``, ``uuid4()``) is
still a query per item, but no batched fix can be written for it: keys drawn before the loop
are not the ones the lookup would draw again (CTFd's random users got ``keys =
[random.randint(...) for t in things]`` and ``by_key.get(random.randint(...))``)."""

from __future__ import annotations

import textwrap

from dbaudit.analysis import analyze
from dbaudit.frontends.python import parse_module

SOURCE = textwrap.dedent(
    """\
    import random

    from app.models import Users, db


    def random_users(things, n):
        picked = []
        for t in things:
            picked.append(Users.query.filter_by(id=random.randint(1, n)).first())
        return picked


    def users_of(things):
        found = []
        for t in things:
            found.append(Users.query.filter_by(id=t.user_id).first())
        return found
    """
)


def test_a_drawn_key_gets_the_finding_but_no_batched_code() -> None:
    module = parse_module("app/seed.py", SOURCE)
    found = {f.function: f for f in analyze([module], select=["DBA101"]).findings}
    assert found["random_users"].fix.code == ""
    assert "keys = [t.user_id for t in things]" in found["users_of"].fix.code
