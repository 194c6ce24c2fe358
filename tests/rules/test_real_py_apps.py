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
