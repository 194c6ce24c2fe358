"""Python fixes for loops that unpack their items (``for user_id, name in rows``,
``for i, user in enumerate(users)``, ``for (a, b) in zip(...)``): each key is collected
with the loop's own target, never with its first name alone."""

from __future__ import annotations

from pathlib import Path

from dbaudit.analysis import analyze
from dbaudit.frontends.python import parse_module
from dbaudit.model import DbOp, Filter, Loop, Span
from dbaudit.rules._shared import batched_select_code, loop_header

FIXTURES = Path(__file__).parent / "fixtures"


def fixes(name: str, rule: str) -> dict[str, str]:
    path = FIXTURES / name
    findings = analyze([parse_module(path.name, path.read_text())], select=[rule]).findings
    return {f.function: f.fix.code for f in findings if f.fix is not None}


def test_an_in_query_fix_walks_tuples_with_the_loops_target() -> None:
    found = fixes("DBA101_tuple_loop_targets.py", "DBA101")
    # the items are called ``rows``: the fetched rows take another name
    assert found["owners_of_pairs"] == (
        "keys = [owner_id for owner_id, label in rows]\n"
        "found = session.scalars(select(Owner).where(Owner.id.in_(keys))).all()"
        "  # one query for all of them\n"
        "by_key: dict = {}\n"
        "for row in found:\n"
        "    by_key.setdefault(row.id, []).append(row)\n"
        "for owner_id, label in rows:\n"
        "    ...  # use by_key.get(owner_id, [])"
    )


def test_an_in_query_fix_over_enumerate_keys_the_items_not_their_positions() -> None:
    found = fixes("DBA101_tuple_loop_targets.py", "DBA101")
    assert found["badges_by_position"] == (
        "keys = [member.id for member in members]\n"
        "rows = (await session.scalars(select(Badge).where(Badge.member_id.in_(keys)))).all()"
        "  # one query for all of them\n"
        "by_key: dict = {}\n"
        "for row in rows:\n"
        "    by_key.setdefault(row.member_id, []).append(row)\n"
        "for position, member in enumerate(members, start=1):\n"
        "    ...  # use by_key.get(member.id, [])"
    )


def test_an_in_query_fix_over_zip_keeps_a_list_of_the_pairs() -> None:
    found = fixes("DBA101_tuple_loop_targets.py", "DBA101")
    # zip is one pass: the fix walks the pairs twice, so it keeps them in a list
    assert found["shelves_of_zipped"] == (
        "pairs = list(zip(books, copies))\n"
        "keys = [copy.shelf_code for book, copy in pairs]\n"
        "rows = session.scalars(select(Shelf).where(Shelf.code.in_(keys))).all()"
        "  # one query for all of them\n"
        "by_key: dict = {}\n"
        "for row in rows:\n"
        "    by_key.setdefault(row.code, []).append(row)\n"
        "for book, copy in pairs:\n"
        "    ...  # use by_key.get(copy.shelf_code, [])"
    )


def test_a_bulk_write_fix_collects_keys_with_the_loops_target() -> None:
    found = fixes("DBA103_tuple_loop_targets.py", "DBA103")
    assert found["rename_all"] == (
        "with session.begin():  # one transaction: atomic\n"
        "    session.execute(\n"
        "        update(Member)\n"
        "        .where(Member.id.in_([member_id for member_id, new_name in renames]))"
        ".values(...)\n"
        "    )"
    )
    assert found["archive_in_order"] == (
        "async with session.begin():  # one transaction: atomic\n"
        "    await session.execute(\n"
        "        delete(Note)\n"
        "        .where(Note.id.in_([note.id for note in notes]))\n"
        "    )"
    )
    assert found["django_close_pairs"] == (
        "Ticket.objects.filter(pk__in=[ticket.pk for ticket, reason in pairs]).update(...)"
        "  # or bulk_update(objs, fields) when values differ per row"
    )


def _loop(targets: tuple[str, ...], iterable: str, pattern: str = "") -> Loop:
    return Loop(0, "for", iterable, Span(1, 3), targets=targets, pattern=pattern)


def _select(value: str) -> DbOp:
    return DbOp(
        "sqlalchemy",
        "select",
        "session.scalars",
        "session",
        Span(2, 2),
        0,
        tables=("Seat",),
        filters=(Filter("id", "==", value),),
    )


def test_a_nested_tuple_target_is_kept_whole() -> None:
    loop = _loop(("i", "seat_id", "row"), "enumerate(grid)", pattern="i, (seat_id, row)")
    assert loop_header(loop) == "for i, (seat_id, row) in enumerate(grid)"
    code = batched_select_code(_select("seat_id"), loop).splitlines()
    assert code[0] == "keys = [seat_id for seat_id, row in grid]"
    assert code[-2:] == [
        "for i, (seat_id, row) in enumerate(grid):",
        "    ...  # use by_key.get(seat_id, [])",
    ]


def test_a_key_read_from_the_position_keeps_enumerate() -> None:
    loop = _loop(("i", "seat"), "enumerate(seats)")
    code = batched_select_code(_select("ids[i]"), loop).splitlines()
    assert code[:2] == [
        "pairs = list(enumerate(seats))",
        "keys = [ids[i] for i, seat in pairs]",
    ]
    assert code[-2] == "for i, seat in pairs:"


def _in_query(keys: str, query: str, column: str, loop: str, value: str, check: str = "") -> str:
    found = f"by_key.get({value}, [])"
    use = f"[row for row in {found} if {check}]" if check else found
    return (
        f"keys = {keys}\n"
        f"rows = session.scalars({query}).all()  # one query for all of them\n"
        "by_key: dict = {}\n"
        "for row in rows:\n"
        f"    by_key.setdefault(row.{column}, []).append(row)\n"
        f"{loop}\n"
        f"    ...  # use {use}"
    )


def test_an_in_query_fix_keys_on_the_filter_that_reads_the_loop_variable() -> None:
    found = fixes("DBA101_key_among_filters.py", "DBA101")
    # the constant ``kind == "label"`` comes first; the key is computed from the owner
    assert found["labelled_tags"] == _in_query(
        "[str(owner.id) for owner in owners]",
        "select(Tag).where(Tag.owner_id.in_(keys), Tag.kind == 'label')",  # kept: same for all
        "owner_id",
        "for owner in owners:",
        "str(owner.id)",
    )
    # ``tenant_id`` is the function's, the same for every member: kept in the one query
    assert found["tenant_members"] == _in_query(
        "[int(member.key) for member in members]",
        "select(Seat).where(Seat.member_id.in_(keys), Seat.tenant_id == tenant_id)",
        "member_id",
        "for member in members:",
        "int(member.key)",
    )


def test_an_in_query_fix_prefers_the_tables_key_when_several_filters_read_the_item() -> None:
    found = fixes("DBA101_key_among_filters.py", "DBA101")
    assert found["tags_of_refs"] == _in_query(
        "[ref.tag_id for ref in refs]",
        "select(Tag).where(Tag.id.in_(keys))",
        "id",
        "for ref in refs:",
        "ref.tag_id",
        "row.name == ref.name",  # the other per-item condition, checked on each row
    )
    # none of them is the key: the first as written
    assert found["seats_by_name_and_owner"] == _in_query(
        "[name for name, owner in entries]",
        "select(Seat).where(Seat.name.in_(keys))",
        "name",
        "for name, owner in entries:",
        "name",
        "row.owner_id == owner.id",
    )


def test_a_nested_tuple_target_is_written_as_the_loop_wrote_it() -> None:
    found = fixes("DBA101_tuple_loop_targets.py", "DBA101")
    # enumerate's position is not the key: the keys walk the pairs themselves
    assert found["seats_of_nested_pairs"] == (
        "keys = [seat_id for seat_id, row in grid]\n"
        "rows = session.scalars(select(Seat).where(Seat.id.in_(keys))).all()"
        "  # one query for all of them\n"
        "by_key: dict = {}\n"
        "for found_row in rows:\n"
        "    by_key.setdefault(found_row.id, []).append(found_row)\n"
        "for i, (seat_id, row) in enumerate(grid):\n"
        "    ...  # use by_key.get(seat_id, [])"
    )


def test_a_helpers_write_is_keyed_by_what_the_loop_passes_for_its_parameter() -> None:
    found = fixes("DBA103_helper_parameter_key.py", "DBA103")
    assert found["detach_renders"] == (
        "with session.begin():  # one transaction: atomic\n"
        "    session.execute(\n"
        "        update(Render)\n"
        "        .where(Render.id.in_([render.id for render in renders])).values(...)\n"
        "    )"
    )
    assert "in_([owner.account_id for owner in owners])" in found["purge_owners"]
    assert "in_([member_id for member_id in member_ids])" in found["reset_each"]
