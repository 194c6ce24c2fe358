"""A TypeScript file's cache context: the nearest tsconfig.json and the configs it extends."""

from __future__ import annotations

from pathlib import Path

from dbaudit.scan.context import ContextDigests


def test_nearest_config_and_its_extends_chain_decide_the_digest(tmp_path: Path) -> None:
    (tmp_path / "tsconfig.base.json").write_text('{"compilerOptions": {"baseUrl": "."}}')
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "tsconfig.json").write_text('{"extends": "../tsconfig.base"}')
    (tmp_path / "app" / "lib").mkdir()
    source = str(tmp_path / "app" / "lib" / "dal.ts")
    first = ContextDigests().for_file(source)
    assert first and ContextDigests().for_file(source) == first
    assert ContextDigests().for_file(str(tmp_path / "app" / "lib" / "models.py")) == ""

    # editing the extended config changes it; so does a nearer config appearing
    (tmp_path / "tsconfig.base.json").write_text('{"compilerOptions": {"baseUrl": "src"}}')
    second = ContextDigests().for_file(source)
    assert second != first
    (tmp_path / "app" / "lib" / "jsconfig.json").write_text("{}")
    assert ContextDigests().for_file(source) not in {first, second}


def test_no_config_above_and_node_modules_stop_the_search(tmp_path: Path) -> None:
    (tmp_path / "tsconfig.json").write_text("{}")
    (tmp_path / "node_modules" / "pkg").mkdir(parents=True)
    inside = ContextDigests().for_file(str(tmp_path / "node_modules" / "pkg" / "index.js"))
    assert inside == ""  # a dependency resolves against its own config, never the app's
    assert ContextDigests().for_file(str(tmp_path / "index.ts")) != ""
