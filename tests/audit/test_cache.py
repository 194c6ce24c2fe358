from __future__ import annotations

import os
import pickle
from pathlib import Path

from dbaudit.scan.cache import Cache, analysis_key, default_cache_dir, file_key


def test_round_trips_metas_modules_and_analyses(tmp_path: Path) -> None:
    cache = Cache(str(tmp_path / "c"))
    assert cache.enabled
    key = file_key("a.py", "abc")
    blob = pickle.dumps(("module", 1))
    cache.put_files({key: ({"lines": 3}, blob), file_key("b.py", "d"): ("m", None)})
    assert cache.get_metas([key, "missing"]) == {key: {"lines": 3}}
    assert cache.get_modules([key, file_key("b.py", "d")]) == {key: ("module", 1)}
    tree = analysis_key([key])
    cache.put_analysis(tree, ["finding"])
    cache.close()
    reopened = Cache(str(tmp_path / "c"))
    assert reopened.get_analysis(tree) == ["finding"]
    assert reopened.get_analysis(analysis_key([key, "other"])) is None
    assert (tmp_path / "c" / "CACHEDIR.TAG").exists()
    assert (tmp_path / "c" / ".gitignore").read_text().endswith("*\n")


def test_the_tree_key_does_not_depend_on_file_order() -> None:
    assert analysis_key(["a", "b"]) == analysis_key(["b", "a"])
    assert analysis_key(["a", "b"]) != analysis_key(["a", "c"])


def test_entries_of_another_analyzer_version_are_pruned(tmp_path: Path) -> None:
    cache = Cache(str(tmp_path))
    cache.put_files({"k": ("meta", None)})
    cache._fingerprint = "different-analyzer"
    cache.prune_other_versions()
    assert cache.get_metas(["k"]) == {}
    cache._fingerprint = "original"  # a different version cannot see what was pruned either
    assert cache.get_metas(["k"]) == {}


def test_an_unusable_cache_is_switched_off_not_fatal(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    cache = Cache(str(blocker / "cache"))
    assert not cache.enabled
    assert cache.problem.startswith("cache disabled")
    cache.put_files({"k": ("m", None)})
    assert cache.get_metas(["k"]) == {}
    assert cache.get_analysis("x") is None


def test_a_corrupt_cache_file_is_switched_off(tmp_path: Path) -> None:
    (tmp_path / "cache.sqlite3").write_bytes(b"this is not sqlite" * 100)
    cache = Cache(str(tmp_path))
    assert not cache.enabled


def test_default_cache_dir_is_in_the_project_when_writable(tmp_path: Path) -> None:
    assert default_cache_dir(str(tmp_path)) == os.path.join(str(tmp_path), ".dbaudit-cache")


def test_a_new_content_of_a_file_replaces_the_old_entry(tmp_path: Path) -> None:
    import sqlite3

    cache = Cache(str(tmp_path))
    cache.put_files(
        {file_key("a.py", "0001"): ("v1", None), file_key("ab.py", "0001"): ("x", None)}
    )
    cache.put_files({file_key("a.py", "0002"): ("v2", None)})
    assert cache.get_metas([file_key("a.py", "0001")]) == {}
    assert cache.get_metas([file_key("a.py", "0002")]) == {file_key("a.py", "0002"): "v2"}
    assert cache.get_metas([file_key("ab.py", "0001")]) == {file_key("ab.py", "0001"): "x"}
    cache.close()
    with sqlite3.connect(tmp_path / "cache.sqlite3") as db:
        assert db.execute("SELECT count(*) FROM files").fetchone() == (2,)
