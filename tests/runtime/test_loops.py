"""Locating the loop in a call chain from the source: loop bodies and comprehensions only."""

from __future__ import annotations

from pathlib import Path

from dbaudit.runtime.events import CallSite
from dbaudit.runtime.loops import loop_frame, loop_headers, loop_lines

SOURCE = """\
def service(ids):
    rows = fetch_all()          # 2: once
    for i in ids:               # 3: the header runs once per loop, not per item
        load(i)                 # 4: per item
    while more():
        step()                  # 6: per item
    return [load(i) for i in ids]   # 7: per item
"""


def test_loop_lines(tmp_path: Path) -> None:
    path = tmp_path / "service.py"
    path.write_text(SOURCE)
    lines = loop_lines(str(path))
    assert {4, 6, 7} <= lines
    assert not {1, 2, 3, 5} & lines


def test_loop_frame_is_the_innermost_frame_inside_a_loop(tmp_path: Path) -> None:
    path = tmp_path / "service.py"
    path.write_text(SOURCE)
    dal = CallSite(str(tmp_path / "dal.py"), 1, "load")
    in_loop = CallSite(str(path), 4, "service")
    outside = CallSite(str(path), 2, "service")
    assert loop_frame((dal, in_loop)) == (1, 3)  # the frame, and the loop's own first line
    assert loop_frame((dal, outside)) is None


NESTED = """\
def service(projects):
    for project in projects:            # 2
        load(project)                   # 3
        for render in project.renders:  # 4
            load(render)                # 5
        load(project)                   # 6
    for again in projects:              # 7
        load(again)                     # 8
"""


def test_each_line_belongs_to_its_innermost_loop(tmp_path: Path) -> None:
    path = tmp_path / "nested.py"
    path.write_text(NESTED)
    assert loop_headers(str(path)) == {3: 2, 4: 2, 5: 4, 6: 2, 8: 7}


def test_unreadable_or_broken_files_have_no_loops(tmp_path: Path) -> None:
    broken = tmp_path / "broken.py"
    broken.write_text("for x in :\n")
    assert loop_lines(str(broken)) == frozenset()
    assert loop_lines(str(tmp_path / "missing.py")) == frozenset()


def test_a_chain_is_answered_alike_from_its_cache_entry(tmp_path: Path) -> None:
    path = tmp_path / "service.py"
    path.write_text(SOURCE)
    dal = CallSite(str(tmp_path / "dal.py"), 1, "load")
    chain = (dal, CallSite(str(path), 7, "service"))
    assert loop_frame(chain) == (1, 7)  # a comprehension is its own loop
    assert loop_frame(chain) == (1, 7)  # the chain's cache entry
    assert loop_frame((dal, CallSite(str(path), 7, "service"))) == (1, 7)  # an equal chain
    assert loop_frame((dal, CallSite(str(path), 2, "service"))) is None
