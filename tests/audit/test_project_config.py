from __future__ import annotations

from pathlib import Path

import pytest

from dbaudit.findings import Severity
from dbaudit.scan.project_config import ConfigError, find_pyproject, load


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_reads_every_key_with_paths_relative_to_the_file(tmp_path: Path) -> None:
    pyproject = _write(
        tmp_path / "pyproject.toml",
        """
[project]
name = "x"

[tool.dbaudit]
select = ["dba1"]
ignore = ["DBA110"]
exclude = ["legacy/*"]
fail-on = "medium"
min-severity = "low"
baseline = "ci/baseline.json"
max-file-size = 1000
cache-dir = ".cache/dbaudit"
""",
    )
    config = load(str(pyproject))
    assert config.select == ("DBA1",)
    assert config.ignore == ("DBA110",)
    assert config.exclude == ("legacy/*",)
    assert config.fail_on == Severity.MEDIUM
    assert config.min_severity == Severity.LOW
    assert config.baseline == str(tmp_path / "ci" / "baseline.json")
    assert config.max_file_size == 1000
    assert config.cache_dir == str(tmp_path / ".cache" / "dbaudit")
    assert config.base_dir == str(tmp_path)


def test_finds_the_nearest_pyproject_with_a_dbaudit_table(tmp_path: Path) -> None:
    _write(tmp_path / "pyproject.toml", "[tool.dbaudit]\nignore = ['DBA110']\n")
    _write(tmp_path / "sub" / "pyproject.toml", "[project]\nname = 'no-dbaudit-here'\n")
    (tmp_path / "sub" / "app").mkdir()
    assert find_pyproject(str(tmp_path / "sub" / "app")) == str(tmp_path / "pyproject.toml")
    assert find_pyproject(str(tmp_path / "sub" / "app" / "x.py")) == str(
        tmp_path / "pyproject.toml"
    )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("selct = ['DBA1']", "unknown key 'selct'"),
        ("fail-on = 'urgent'", "fail-on: unknown severity 'urgent'"),
        ("select = 'DBA1'\nignore = [1]", "ignore must be a list of strings"),
        ("max-file-size = -5", "max-file-size must be a positive integer"),
        ("baseline = 3", "baseline must be a path"),
    ],
)
def test_mistakes_are_one_clear_error(tmp_path: Path, body: str, message: str) -> None:
    pyproject = _write(tmp_path / "pyproject.toml", f"[tool.dbaudit]\n{body}\n")
    with pytest.raises(ConfigError, match=message):
        load(str(pyproject))


def test_invalid_toml_is_reported_not_ignored(tmp_path: Path) -> None:
    pyproject = _write(tmp_path / "pyproject.toml", "[tool.dbaudit\nselect = [\n")
    assert find_pyproject(str(tmp_path)) == str(pyproject)
    with pytest.raises(ConfigError, match="is not valid TOML"):
        load(str(pyproject))
