from __future__ import annotations

import os
from pathlib import Path

from dbaudit.scan.discovery import DEFAULT_EXCLUDES, ExcludeMatcher, discover


def _tree(root: Path, files: list[str]) -> None:
    for name in files:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x = 1\n")


def _paths(root: Path, excludes: tuple[str, ...] = ()) -> list[str]:
    matchers = [ExcludeMatcher(DEFAULT_EXCLUDES, str(root))]
    if excludes:
        matchers.append(ExcludeMatcher(excludes, str(root)))
    found = discover([str(root)], matchers, cwd=str(root))
    return [f.display_path for f in found.files]


def test_finds_python_files_and_skips_default_excludes(tmp_path: Path) -> None:
    _tree(
        tmp_path,
        [
            "app/dal/renders.py",
            "app/readme.md",
            ".venv/lib/site.py",
            "node_modules/x.py",
            "app/migrations/0001_initial.py",
            "app/__pycache__/x.py",
            "pkg.egg-info/x.py",
        ],
    )
    assert _paths(tmp_path) == ["app/dal/renders.py"]


def test_exclude_by_name_and_by_relative_path(tmp_path: Path) -> None:
    _tree(tmp_path, ["app/a.py", "app/gen/b.py", "legacy/c.py", "app/x_pb2.py"])
    assert _paths(tmp_path, ("legacy", "*_pb2.py")) == ["app/a.py", "app/gen/b.py"]
    assert _paths(tmp_path, ("app/gen/*",)) == ["app/a.py", "app/x_pb2.py", "legacy/c.py"]
    assert _paths(tmp_path, ("app/gen",)) == ["app/a.py", "app/x_pb2.py", "legacy/c.py"]


def test_a_file_given_explicitly_is_audited_even_when_excluded(tmp_path: Path) -> None:
    _tree(tmp_path, ["migrations/0001.py"])
    target = tmp_path / "migrations" / "0001.py"
    found = discover(
        [str(target)], [ExcludeMatcher(DEFAULT_EXCLUDES, str(tmp_path))], cwd=str(tmp_path)
    )
    assert [f.display_path for f in found.files] == ["migrations/0001.py"]


def test_symlink_loop_is_listed_and_the_walk_goes_on(tmp_path: Path) -> None:
    _tree(tmp_path, ["app/a.py", "app/sub/b.py"])
    os.symlink(tmp_path / "app", tmp_path / "app" / "sub" / "loop")
    found = discover([str(tmp_path)], [], cwd=str(tmp_path))
    assert [f.display_path for f in found.files] == ["app/a.py", "app/sub/b.py"]
    assert [(s.path, s.reason) for s in found.skipped] == [
        ("app/sub/loop", "symlink loop (points back to app)")
    ]


def test_broken_symlink_and_missing_path_are_listed(tmp_path: Path) -> None:
    _tree(tmp_path, ["ok.py"])
    os.symlink(tmp_path / "gone.py", tmp_path / "dangling.py")
    found = discover([str(tmp_path), str(tmp_path / "nope")], [], cwd=str(tmp_path))
    assert [f.display_path for f in found.files] == ["ok.py"]
    assert sorted((s.path, s.reason) for s in found.skipped) == [
        ("dangling.py", "broken symlink"),
        ("nope", "does not exist"),
    ]


def test_same_file_through_a_symlink_is_audited_once(tmp_path: Path) -> None:
    _tree(tmp_path, ["a.py"])
    os.symlink(tmp_path / "a.py", tmp_path / "b.py")
    found = discover([str(tmp_path)], [], cwd=str(tmp_path))
    assert [f.display_path for f in found.files] == ["a.py"]
    assert found.skipped[0].reason == "same file as a.py (symlink), audited there"


def test_paths_outside_the_working_directory_are_absolute(tmp_path: Path) -> None:
    _tree(tmp_path, ["proj/a.py", "elsewhere/b.py"])
    found = discover([str(tmp_path / "elsewhere")], [], cwd=str(tmp_path / "proj"))
    assert found.files[0].display_path == (tmp_path / "elsewhere" / "b.py").as_posix()


def test_fifos_are_listed_not_read(tmp_path: Path) -> None:
    _tree(tmp_path, ["ok.py"])
    os.mkfifo(tmp_path / "pipe.py")
    found = discover([str(tmp_path), str(tmp_path / "pipe.py")], [], cwd=str(tmp_path))
    assert [f.display_path for f in found.files] == ["ok.py"]
    assert [(s.path, s.reason) for s in found.skipped] == [("pipe.py", "not a regular file")]
