"""Shapes met in real Python apps (a Flask CTF platform, a FastAPI recipe manager, a Django
monitoring service), written small: each test pins a fix that was wrong for that shape."""

from __future__ import annotations

import textwrap

from dbaudit.analysis import analyze
from dbaudit.findings import Finding
from dbaudit.frontends.python import parse_module


def findings(source: str, rule: str) -> list[Finding]:
    module = parse_module("app/views.py", textwrap.dedent(source))
    return analyze([module], select=[rule]).findings


_CURRENT_MEMBER = """
def current_member():
    return Member.query.filter_by(id=session["member_id"]).first()
"""


def test_dba109_first_result_only_tested_in_a_condition_is_fetched_once_before() -> None:
    (finding,) = findings(
        _CURRENT_MEMBER
        + """
def show_board(board_id):
    board = Board.query.filter_by(id=board_id).first_or_404()
    if not may_read(board, current_member()):
        abort(404)
    member = current_member()
    return render(board, member)
""",
        "DBA109",
    )
    assert finding.fix is not None
    assert "<" not in finding.fix.summary + finding.fix.code
    assert finding.fix.code == "member = current_member()  # once, before line 7"


def test_dba109_same_name_assigned_again_is_dropped_not_reassigned_to_itself() -> None:
    (finding,) = findings(
        _CURRENT_MEMBER
        + """
def show_profile():
    member = current_member()
    log_visit(member.id)
    member = current_member()
    return render(member)
""",
        "DBA109",
    )
    assert finding.fix is not None
    assert finding.fix.summary == "`member` already holds the result of line 6: drop this query."
    assert finding.fix.code == ""


def test_dba109_first_result_bound_in_another_branch_is_not_reused() -> None:
    (finding,) = findings(
        _CURRENT_MEMBER
        + """
def show_topic(topic_id):
    replies = []
    if replies_visible():
        member = current_member()
        replies = Reply.query.filter_by(topic_id=topic_id, author_id=member.id).all()
    if signed_in():
        member = current_member()
        return render(replies, member)
    return render(replies, None)
""",
        "DBA109",
    )
    assert finding.fix is not None
    assert finding.fix.code == "member = current_member()  # once, before line 8"


_LIBRARY_MODELS = """
class Shelf(db.Model):
    id = db.Column(db.Integer, primary_key=True)
    books = db.relationship("Book", backref="shelf")


class Author(db.Model):
    id = db.Column(db.Integer, primary_key=True)
    books = db.relationship("Book", backref="author", foreign_keys="Book.author_id", lazy="joined")


class Book(db.Model):
    id = db.Column(db.Integer, primary_key=True)
    shelf_id = db.Column(db.Integer, db.ForeignKey("shelf.id"))
    author_id = db.Column(db.Integer, db.ForeignKey("author.id"))
    editor_id = db.Column(db.Integer, db.ForeignKey("author.id"))
    editor = db.relationship("Author", foreign_keys="Book.editor_id", lazy="select")
"""


def _lazy_load_fixes(loop: str) -> dict[str, str]:
    return {
        f.message.split("`")[1]: f.fix.code
        for f in findings(_LIBRARY_MODELS + loop, "DBA104")
        if f.fix is not None
    }


def test_dba104_one_to_many_of_a_legacy_query_gets_selectinload_in_that_query() -> None:
    fixes = _lazy_load_fixes(
        """
def shelf_sizes():
    return {shelf.id: len(shelf.books) for shelf in Shelf.query.all()}
"""
    )
    assert fixes == {"shelf.books": "Shelf.query.options(selectinload(Shelf.books)).all()"}


def test_dba104_backref_and_foreign_key_sides_load_one_row_each() -> None:
    fixes = _lazy_load_fixes(
        """
def catalogue(shelf_id):
    books = Book.query.filter_by(shelf_id=shelf_id).all()
    return [(book.shelf.id, book.author.id, book.editor.id) for book in books]
"""
    )
    query = "Book.query.filter_by(shelf_id=shelf_id).options(joinedload(Book.{})).all()"
    # book.author: a backref is lazy whatever the forward side's lazy= says
    assert fixes == {f"book.{name}": query.format(name) for name in ("shelf", "author", "editor")}


def test_dba104_statement_style_query_keeps_the_select_fix() -> None:
    fixes = _lazy_load_fixes(
        """
def shelf_sizes(session):
    shelves = session.scalars(select(Shelf)).all()
    return {shelf.id: len(shelf.books) for shelf in shelves}
"""
    )
    assert fixes == {"shelf.books": "select(Shelf).where(...).options(selectinload(Shelf.books))"}


def _batched_fixes(source: str) -> dict[int, str]:
    return {f.line: f.fix.code for f in findings(source, "DBA101") if f.fix is not None}


def test_dba101_key_assigned_in_the_loop_body_is_written_with_its_value() -> None:
    fixes = _batched_fixes(
        """
def save_answers(answers, sheet):
    for answer in answers:
        question_id = answer.get("question_id")
        question = Question.query.filter_by(id=question_id).first_or_404()
        given = Reply.query.filter_by(question_id=question.id, sheet_id=sheet.id).first()
        store(question, given, answer)
"""
    )
    assert set(fixes) == {5, 6}
    assert 'keys = [answer.get("question_id") for answer in answers]' in fixes[5]
    assert 'by_key.get(answer.get("question_id"), [])' in fixes[5]
    assert "question_id" not in fixes[5].replace('"question_id"', "")
    # keyed by the row the query before it fetched in the same turn: no IN list before the loop
    assert fixes[6] == ""


def test_dba101_query_on_a_model_chosen_at_run_time_has_no_made_up_table() -> None:
    fixes = _batched_fixes(
        """
def match_existing(session, model, attr, items):
    found = []
    for item in items:
        stmt = select(model).filter_by(**{attr: item})
        found.append(session.execute(stmt).scalars().one_or_none())
    return found
"""
    )
    assert list(fixes.values()) == [""]


def test_dba101_refresh_per_object_is_told_to_keep_or_reload_them_at_once() -> None:
    (finding,) = findings(
        """
def create_all(session, rows):
    made = [Tag(**row) for row in rows]
    session.add_all(made)
    session.commit()
    for tag in made:
        session.refresh(tag)
    return made
""",
        "DBA101",
    )
    assert finding.fix is not None and finding.fix.code == ""
    assert "populate_existing=True" in finding.fix.summary
    assert "expire_on_commit=False" in finding.fix.summary


def test_dba101_key_taken_out_of_the_item_is_not_computed_twice() -> None:
    fixes = _batched_fixes(
        """
def import_rows(reader):
    for row in reader:
        club_name = row.pop("club", "").strip()
        club = Club.query.filter_by(name=club_name).first()
        save(Member(club=club, **row))
"""
    )
    # the key is written only where running it again leaves the row as the loop finds it
    assert fixes == {5: ""}


def test_dba101_key_that_is_a_whole_local_value_needs_no_parentheses() -> None:
    fixes = _batched_fixes(
        """
def club_members(rows):
    for row in rows:
        club_name = (row.get("club") or "").strip()
        club = Club.query.filter_by(name=club_name).first()
        show(club)
"""
    )
    assert 'keys = [(row.get("club") or "").strip() for row in rows]' in fixes[5]
