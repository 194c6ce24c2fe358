"""DBA103's bulk fix keeps the items the loop writes: a per-item write in one arm of an ``if``
(``if u.active: update ... else: delete``, ``if cond(u):``, a ``continue`` guard) is written
for the items that take that arm only. A comparison of the row's own columns goes into the
statement's WHERE; any other test filters the keys in Python; a test no filter can say (a
name the loop computes, a collection it grows, a guard that stops the loop, an except arm, a
helper that writes only past a condition of its own) gives no code and says why."""

from __future__ import annotations

import ast
import textwrap

from dbaudit.analysis import analyze
from dbaudit.findings import Finding
from dbaudit.frontends.python import parse_module


def _findings(source: str) -> list[Finding]:
    module = parse_module("app/jobs.py", textwrap.dedent(source))
    return list(analyze([module], select=["DBA103"]).findings)


def _by_function(source: str) -> dict[str, list[Finding]]:
    found: dict[str, list[Finding]] = {}
    for finding in _findings(source):
        found.setdefault(finding.function, []).append(finding)
    return found


def _code(finding: Finding) -> str:
    assert finding.fix is not None
    return finding.fix.code


_ARMS = """
from sqlalchemy import delete, insert, select, update


def deactivate(session, users):
    for u in users:
        if u.active:
            session.execute(update(User).where(User.id == u.id).values(status="x"))
        else:
            session.execute(delete(User).where(User.id == u.id))


def only_when(session, users):
    for u in users:
        if cond(u):
            session.execute(update(User).where(User.id == u.id).values(status="x"))


def skips(session, users):
    for u in users:
        if u.locked:
            continue
        session.execute(delete(User).where(User.id == u.id))


def flagged(session, users, dry_run):
    for u in users:
        if not dry_run:
            session.execute(delete(User).where(User.id == u.id))


def logs(session, users):
    for i, u in enumerate(users):
        if i % 2:
            session.execute(insert(Log).values(user_id=u.id))


def raw(cursor, users):
    for u in users:
        if u.active:
            cursor.execute("UPDATE users SET x = 1 WHERE id = %s", (u.id,))


def own_rows(session):
    for u in session.scalars(select(User).where(User.team_id == 1)):
        if u.plan == "free" and u.deleted_at is None:
            session.execute(update(User).where(User.id == u.id).values(status="x"))


def own_rows_truth(session):
    for u in session.scalars(select(User).where(User.team_id == 1)):
        if u.active:
            session.execute(update(User).where(User.id == u.id).values(status="x"))
"""


def test_each_arm_writes_the_items_that_take_it() -> None:
    found = _by_function(_ARMS)
    update, delete = sorted(found["deactivate"], key=lambda f: "DELETE" in f.message)
    assert "[u.id for u in users if u.active]" in _code(update)
    assert "[u.id for u in users if not u.active]" in _code(delete)
    assert "[u.id for u in users if cond(u)]" in _code(found["only_when"][0])
    # a ``continue`` guard: the items past it
    assert "[u.id for u in users if not u.locked]" in _code(found["skips"][0])


def test_a_test_that_is_the_same_for_every_item_is_no_filter() -> None:
    found = _by_function(_ARMS)
    assert "[u.id for u in users]" in _code(found["flagged"][0])


def test_inserts_and_executemany_keep_the_arm_too() -> None:
    found = _by_function(_ARMS)
    # the test reads the position: the items stay enumerated
    assert "for i, u in enumerate(users) if i % 2]" in _code(found["logs"][0])
    assert "for u in users if u.active]" in _code(found["raw"][0])


def test_a_comparison_of_the_rows_own_columns_goes_into_the_where() -> None:
    found = _by_function(_ARMS)
    code = _code(found["own_rows"][0])
    assert "User.plan == 'free'" in code
    assert "User.deleted_at.is_(None)" in code
    assert " if " not in code
    # truth in Python is not SQL's (a NULL, an empty string): filtered in Python
    assert "if u.active])" in _code(found["own_rows_truth"][0])


_DJANGO = """
def arms(users):
    for u in users:
        if u.active:
            User.objects.filter(id=u.id).update(status="x")
        else:
            User.objects.filter(id=u.id).delete()


def saves(team):
    for u in User.objects.filter(team=team):
        if u.plan == "free":
            u.save()
        else:
            u.delete()


def scored(users, limit):
    for u in users:
        if u.score > limit and not u.banned:
            User.objects.filter(pk=u.pk).update(status="y")
"""


def test_django_writes_keep_the_arm() -> None:
    found = _by_function(_DJANGO)
    update, delete = sorted(found["arms"], key=lambda f: "DELETE" in f.message)
    assert "filter(id__in=[u.id for u in users if u.active])" in _code(update)
    assert "filter(id__in=[u.id for u in users if not u.active]).delete()" in _code(delete)
    save, remove = sorted(found["saves"], key=lambda f: "DELETE" in f.message)
    assert "[u.id for u in User.objects.filter(team=team)], plan='free')" in _code(save)
    # ``!=`` is not SQL's ``<>`` on a NULL column: the keys are filtered in Python
    assert "if not u.plan == 'free']).delete()" in _code(remove)
    assert "if u.score > limit and (not u.banned)]" in _code(found["scored"][0])


_NO_FILTER = """
from sqlalchemy import delete, insert, update


def computed(session, users):
    for u in users:
        score = rate(u)
        if score > 3:
            session.execute(delete(User).where(User.id == u.id))


def set_before(session, users):
    for u in users:
        u.count = u.count + 1
        if u.count > 3:
            session.execute(delete(User).where(User.id == u.id))


def grows(session, users):
    seen = set()
    for u in users:
        if u.email not in seen:
            session.execute(insert(Log).values(user_id=u.id))
        seen.add(u.email)


def stops(session, users):
    for u in users:
        if u.locked:
            break
        session.execute(delete(User).where(User.id == u.id))


def failed(session, users):
    for u in users:
        try:
            send(u)
        except Exception:
            session.execute(update(User).where(User.id == u.id).values(failed=True))
"""


def test_a_test_no_filter_can_say_gives_no_code_and_says_why() -> None:
    found = _by_function(_NO_FILTER)
    reasons = {
        "computed": "`score` is computed in the loop",
        "set_before": "the loop changes `u.count`",
        "grows": "the loop changes `seen`",
        "stops": "the loop stops at the first u for which `u.locked` holds",
        "failed": "except or case arm",
    }
    for function, reason in reasons.items():
        (finding,) = found[function]
        assert finding.fix is not None
        assert finding.fix.code == "", function
        assert reason in finding.fix.summary, (function, finding.fix.summary)


_HELPERS = """
from sqlalchemy import update


def close(session, t):
    session.execute(update(Ticket).where(Ticket.id == t.id).values(closed=True))


def maybe_close(session, t):
    if t.done:
        session.execute(update(Ticket).where(Ticket.id == t.id).values(closed=True))


def caller_arm(session, tickets):
    for t in tickets:
        if t.stale:
            close(session, t)


def helper_condition(session, tickets):
    for t in tickets:
        maybe_close(session, t)
"""


def test_a_helper_called_in_an_arm_or_writing_past_its_own_condition() -> None:
    found = _by_function(_HELPERS)
    assert "[t.id for t in tickets if t.stale]" in _code(found["caller_arm"][0])
    (finding,) = found["helper_condition"]
    assert finding.fix is not None and finding.fix.code == ""
    assert "`maybe_close` writes only when a condition in it holds" in finding.fix.summary


def test_every_fix_here_is_valid_python() -> None:
    for source in (_ARMS, _DJANGO, _NO_FILTER, _HELPERS):
        for finding in _findings(source):
            if finding.fix is not None and finding.fix.code:
                ast.parse(finding.fix.code.replace("await ", ""))


_TYPESCRIPT = """\
import { db } from "./db";
import { users, logs } from "./schema";
import { eq } from "drizzle-orm";
import { prisma } from "./prisma";

export async function arms(list: { id: string; active: boolean }[]) {
  for (const u of list) {
    if (u.active) {
      await db.update(users).set({ status: "x" }).where(eq(users.id, u.id));
    } else {
      await db.delete(users).where(eq(users.id, u.id));
    }
  }
}

export async function skips(list: { id: string; locked: boolean; plan: string }[]) {
  for (const { id, locked, plan } of list) {
    if (locked || plan === "free") continue;
    await prisma.user.delete({ where: { id } });
  }
}

export async function inserts(list: { id: string; active: boolean }[]) {
  for (const u of list) {
    if (u.active) {
      await db.insert(logs).values({ userId: u.id });
    }
  }
}

export async function stops(list: { id: string; locked: boolean }[]) {
  for (const u of list) {
    if (u.locked) break;
    await prisma.user.delete({ where: { id: u.id } });
  }
}

export async function awaited(list: { id: string }[]) {
  for (const u of list) {
    if (await isStale(u.id)) {
      await prisma.user.delete({ where: { id: u.id } });
    }
  }
}
"""


def test_typescript_writes_keep_the_arm() -> None:
    from dbaudit.frontends.typescript import parse

    module = parse("app/jobs.ts", _TYPESCRIPT, resolve_files=False).module
    found: dict[str, list[Finding]] = {}
    for finding in analyze([module], select=["DBA103"]).findings:
        found.setdefault(finding.function, []).append(finding)
    update, delete = sorted(found["arms"], key=lambda f: "DELETE" in f.message)
    assert "list.filter((u) => u.active).map((u) => u.id)" in _code(update)
    assert "list.filter((u) => !u.active).map((u) => u.id)" in _code(delete)
    assert 'list.filter(({ id, locked, plan }) => !(locked || plan === "free"))' in _code(
        found["skips"][0]
    )
    assert "values(list.filter((u) => u.active).map(" in _code(found["inserts"][0])
    for function, reason in {
        "stops": "the loop stops at the first u for which `u.locked` holds",
        "awaited": "a filter callback cannot wait for it",
    }.items():
        (finding,) = found[function]
        assert finding.fix is not None and finding.fix.code == ""
        assert reason in finding.fix.summary
