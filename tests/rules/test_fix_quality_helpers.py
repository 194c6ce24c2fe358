"""Fixes through helpers (DBA102, DBA103) write code only in the loop's own terms, shapes met
reading CTFd's, mealie's and healthchecks' findings: a helper whose filter reads its own local,
a per-item object's method, raw SQL binds, a table chosen at run time, the same key handed over
on every turn, a query a helper already runs in a loop of its own."""

from __future__ import annotations

import ast
import textwrap

from dbaudit.analysis import analyze
from dbaudit.findings import Finding, Severity
from dbaudit.frontends.python import parse_module


def findings(source: str, rule: str, path: str = "app/views.py") -> dict[str, Finding]:
    module = parse_module(path, textwrap.dedent(source))
    return {f.function: f for f in analyze([module], select=[rule]).findings}


def code_of(finding: Finding) -> str:
    assert finding.fix is not None
    return finding.fix.code


def test_dba102_helper_filtering_on_its_own_local_gets_no_code() -> None:
    found = findings(
        """
def store_upload(*args, **kwargs):
    upload = kwargs.get("file")
    location = kwargs.get("location") or upload.filename
    existing = StoredFile.query.filter_by(location=location).first()
    return existing or save(upload, location)


def post_files(files, form_args):
    stored = []
    for f in files:
        stored.append(store_upload(file=f, **form_args))
    return stored
""",
        "DBA102",
    )
    finding = found["post_files"]
    # the helper's ``location`` is no name of the loop's: no IN list can be written here
    assert code_of(finding) == ""
    assert finding.severity is Severity.HIGH


def test_dba102_method_of_an_object_made_per_item_gets_no_code() -> None:
    found = findings(
        """
class Hook(models.Model):
    def link_all_monitors(self):
        monitors = Monitor.objects.filter(team=self.team)
        self.monitors.add(*monitors)


def add_hooks(team, keys):
    for key in keys:
        hook = Hook(kind="pager", team=team)
        hook.value = key["value"]
        hook.save()
        hook.link_all_monitors()
""",
        "DBA102",
    )
    assert code_of(found["add_hooks"]) == ""
    assert "self" not in code_of(found["add_hooks"])


def test_dba102_raw_sql_bind_and_run_time_statement_give_no_code() -> None:
    found = findings(
        """
import sqlalchemy as sa


def members_of(session, team_id):
    return session.execute(
        sa.text("SELECT id FROM members WHERE team_id=:team_id").bindparams(team_id=team_id)
    ).scalars().all()


def owner_of(session, team_id):
    if is_postgres():
        stmt = "SELECT id FROM members WHERE team_id=:team_id AND owner = TRUE"
    else:
        stmt = "SELECT id FROM members WHERE team_id=:team_id AND owner = 1"
    return session.execute(sa.text(stmt).bindparams(team_id=team_id)).scalar_one()


def copy_members(session, team_ids):
    for team_id in team_ids:
        members_of(session, team_id)


def copy_owners(session, team_ids):
    for team_id in team_ids:
        owner_of(session, team_id)
""",
        "DBA102",
    )
    assert set(found) == {"copy_members", "copy_owners"}
    for finding in found.values():
        code = code_of(finding)
        assert ":team_id" not in code and "select(Row)" not in code, code
        if code:
            ast.parse(code)


_SET_SETTING = """
def set_setting(key, value):
    setting = Setting.query.filter_by(key=key).first()
    if setting is None:
        setting = Setting(key=key)
        db.session.add(setting)
    setting.value = value
    db.session.commit()


def migrate(name, steps):
    for step in steps:
        step.apply()
        set_setting(name + "_version", step.revision)


def migrate_all(names):
    for name in names:
        migrate(name, steps_of(name))


def save_settings(form):
    for key, value in form.items():
        set_setting(key, value)
"""


def test_dba102_same_key_written_per_item_is_a_checkpoint_not_an_n_plus_one() -> None:
    found = findings(_SET_SETTING, "DBA102")
    checkpoint = found["migrate"]
    assert checkpoint.severity is Severity.LOW
    assert "same Setting row" in checkpoint.message
    assert '`name + "_version"`' in checkpoint.message
    assert "N+1" not in checkpoint.message
    assert code_of(checkpoint) == ""
    assert checkpoint.fix is not None and "No IN list" in checkpoint.fix.summary
    # a key per item stays the N+1 it is, with its batched code
    per_key = found["save_settings"]
    assert per_key.severity is Severity.HIGH
    assert "keys = [key for key, value in pairs]" in code_of(per_key)


def test_dba102_query_a_helper_runs_in_its_own_loop_is_not_batched_by_the_callers_keys() -> None:
    finding = findings(_SET_SETTING, "DBA102")["migrate_all"]
    # batching ``name + "_version"`` over names would leave a query per step of each name
    assert code_of(finding) == ""
    assert finding.fix is not None
    assert "`migrate` runs that query inside `for step in steps`" in finding.fix.summary


def test_dba102_same_key_read_per_item_is_run_once_before_the_loop() -> None:
    finding = findings(
        """
def site_settings(session, site_id):
    return session.scalars(select(Setting).where(Setting.site_id == site_id)).all()


def render_pages(session, site, pages):
    for page in pages:
        show(page, site_settings(session, site.id))
""",
        "DBA102",
    )["render_pages"]
    assert "same query on Setting (key `site.id`)" in finding.message
    assert code_of(finding) == ""
    assert finding.fix is not None and "once before the loop" in finding.fix.summary


_IMPORT_ROWS = """
def load_members(reader):
    schema = MemberSchema()
    errors = []
    for i, line in enumerate(reader):
        loaded = schema.load(line)
        if loaded.errors:
            errors.append((i, loaded.errors))
        else:
            db.session.add(loaded.data)
            db.session.commit()
    return errors or True
"""


def test_dba103_add_and_commit_per_row_is_told_to_commit_once_after_the_loop() -> None:
    finding = findings(_IMPORT_ROWS, "DBA103")["load_members"]
    code = code_of(finding)
    assert "update(" not in code and "Model" not in code
    assert code == (
        "for i, line in enumerate(reader):\n"
        "    ...  # the loop's body as it is, without db.session.commit()\n"
        "db.session.commit()  # once, after the loop: one transaction for every line"
    )
    assert finding.fix is not None
    assert "rolls back every other" in finding.fix.summary
    assert "begin_nested" in finding.fix.summary
    assert "one COMMIT after the loop would do" in finding.message
    # an INSERT and a COMMIT per row the loop does not skip: N, not 0
    assert (finding.query_cost, finding.fixed_query_cost) == ("≤ N", "1")


def test_dba103_helper_write_without_a_key_in_the_loops_terms_gets_no_code() -> None:
    finding = findings(
        """
class Channel(models.Model):
    def notify(self, event):
        n = Notice(channel=self)
        send(n, event)
        Notice.objects.filter(id=n.id).update(error="")


class NotifyTests(TestCase):
    def setUp(self):
        self.channel = Channel(kind="shell")
        self.channel.save()

    def test_escapes_names(self):
        samples = {"a&b": "'a&b'", "a'b": "'a'\\''b'"}
        for name, expected in samples.items():
            self.event.name = name
            self.channel.notify(self.event)
""",
        "DBA103",
        "app/tests/test_notify.py",
    )["NotifyTests.test_escapes_names"]
    # ``n`` is the helper's local: ``[n.id for name, expected in ...]`` would not run
    assert code_of(finding) == ""
