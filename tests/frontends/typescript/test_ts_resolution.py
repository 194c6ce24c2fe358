from pathlib import Path

import pytest

from dbaudit.frontends.typescript.resolution import (
    TsConfig,
    alias_targets,
    file_candidates,
    is_relative,
    load_tsconfig,
    module_key,
    module_parts,
    parse_tsconfig,
    resolve_specifier,
    strip_json_comments,
)


def test_jsonc_comments_and_trailing_commas_are_dropped() -> None:
    text = '{\n  // comment\n  "a": "http://x", /* block */ "b": [1, 2,],\n}'
    assert (
        strip_json_comments(text).replace(" ", "").replace("\n", "") == '{"a":"http://x","b":[1,2]}'
    )


def test_parse_tsconfig_reads_base_url_and_paths(tmp_path: Path) -> None:
    config = parse_tsconfig(
        str(tmp_path), '{"compilerOptions": {"baseUrl": "src", "paths": {"@/*": ["./*"]}}}'
    )
    assert config.base_url == str(tmp_path / "src")
    assert config.paths == (("@/*", ("./*",)),)


def test_broken_tsconfig_gives_an_empty_config(tmp_path: Path) -> None:
    config = parse_tsconfig(str(tmp_path), "{ not json")
    assert config.paths == () and config.base_url == str(tmp_path)


def test_alias_targets_prefer_the_longest_prefix() -> None:
    config = TsConfig("/p", "/p", (("@/*", ("./src/*",)), ("@/lib/*", ("./lib/*",))))
    assert alias_targets("@/lib/dal/renders", config) == (
        "/p/lib/dal/renders",
        "/p/src/lib/dal/renders",
    )
    assert alias_targets("lodash", config) == ()


def test_file_candidates_try_extensions_then_index_and_js_for_ts() -> None:
    candidates = file_candidates("/p/lib/dal")
    assert candidates.index("/p/lib/dal.ts") < candidates.index("/p/lib/dal/index.ts")
    assert "/p/lib/x.ts" in file_candidates("/p/lib/x.js")


def test_relative_alias_index_and_package_resolution(tmp_path: Path) -> None:
    files = {
        "lib/dal/renders.ts",
        "lib/dal/index.ts",
        "lib/services/chains.ts",
        "lib/util.js",
    }
    existing = {str(tmp_path / f) for f in files}
    config = TsConfig(str(tmp_path), str(tmp_path), (("@/*", ("./*",)),))
    importer = str(tmp_path / "lib/services/chains.ts")

    def resolve(spec: str) -> str:
        return resolve_specifier(importer, spec, config=config, exists=existing.__contains__)

    assert resolve("../dal/renders") == str(tmp_path / "lib/dal/renders.ts")
    assert resolve("@/lib/dal/renders") == str(tmp_path / "lib/dal/renders.ts")
    assert resolve("@/lib/dal") == str(tmp_path / "lib/dal/index.ts")
    assert resolve("../util") == str(tmp_path / "lib/util.js")
    assert resolve("drizzle-orm/pg-core") == "drizzle-orm/pg-core"
    # a file that does not exist keeps its best guess, without extension
    assert resolve("./missing.js") == str(tmp_path / "lib/services/missing")


def test_relative_importers_get_relative_keys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "a.ts").write_text("")
    (tmp_path / "lib" / "b.ts").write_text("")
    monkeypatch.chdir(tmp_path)
    assert resolve_specifier("lib/a.ts", "./b") == "lib/b.ts"
    assert module_key("lib/b.ts") == "lib.b"


def test_module_keys_are_dotted_like_python_modules() -> None:
    assert module_parts("src/lib/dal/renders.ts") == ("src", "lib", "dal", "renders")
    assert module_parts("/abs/lib/dal/index.tsx") == ("abs", "lib", "dal")
    assert module_key("./app/x.cjs") == "app.x"


def test_load_tsconfig_walks_up_and_follows_extends(tmp_path: Path) -> None:
    (tmp_path / "base.json").write_text('{"compilerOptions": {"paths": {"~/*": ["./app/*"]}}}')
    (tmp_path / "tsconfig.json").write_text('{"extends": "./base.json", "compilerOptions": {}}')
    nested = tmp_path / "app" / "deep"
    nested.mkdir(parents=True)
    config = load_tsconfig(str(nested))
    assert config is not None
    assert config.directory == str(tmp_path)
    assert config.paths == (("~/*", ("./app/*",)),)


def test_is_relative() -> None:
    assert is_relative("./a") and is_relative("../a") and is_relative(".")
    assert not is_relative("@/a") and not is_relative("a")
