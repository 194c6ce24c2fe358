"""The scan cache and files a module's model depends on that do not exist yet: an aiosql
``from_path`` folder created after the first run, a nearer folder of the same name created
later (the nearest one wins), a module binding the queries object that an import names,
created or edited later. After each change a cached run finds what an uncached run finds."""

from __future__ import annotations

from pathlib import Path

import pytest

from dbaudit.audit import AuditOptions, scan

TOUCH = "-- name: touch_user!\nUPDATE users SET seen_at = now() WHERE id = :user_id;\n"
READ = "-- name: touch_user\nSELECT * FROM users WHERE id = :user_id;\n"
BINDS = 'import aiosql\n\nqueries = aiosql.from_path("{}", "asyncpg")\n'
LOOP = """

async def refresh(conn, users):
    for user in users:
        await queries.touch_user(conn, user_id=user.id)
"""


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)


def _found(root: Path, *, cached: bool) -> set[tuple[str, str, str]]:
    options = AuditOptions(cwd=str(root), cache_dir=str(root / ".cache"), use_cache=cached, jobs=1)
    run = scan(["app"], options)
    return {(f.rule, f.path, f.function) for f in run.audit.findings} | {
        ("skipped", s.path, s.reason) for s in run.audit.skipped if s.reason != "empty file"
    }


def _agree(root: Path) -> set[tuple[str, str, str]]:
    cached = _found(root, cached=True)
    assert cached == _found(root, cached=False)
    return cached


@pytest.fixture()
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_a_from_path_folder_created_after_the_first_run(project: Path) -> None:
    _write(
        project,
        {"app/db/queries.py": BINDS.format("sql") + LOOP},
    )
    before = _agree(project)
    assert [f for f in before if f[0] == "skipped"], before  # "aiosql path sql not found"
    _write(project, {"app/db/sql/users.sql": TOUCH})
    # the cached run served the model read without the folder: no finding, the old note
    assert _agree(project) == {("DBA103", "app/db/queries.py", "refresh")}


def test_a_nearer_folder_of_the_same_name_created_later(project: Path) -> None:
    # ``from_path("sql")``: the nearest of the module's folders holding ``sql`` wins
    _write(
        project,
        {
            "app/db/queries.py": BINDS.format("sql") + LOOP,
            "app/sql/users.sql": READ,
        },
    )
    assert _agree(project) == {("DBA101", "app/db/queries.py", "refresh")}
    _write(project, {"app/db/sql/users.sql": TOUCH})
    assert _agree(project) == {("DBA103", "app/db/queries.py", "refresh")}


def test_an_absolute_from_path_file_created_later(project: Path) -> None:
    sql = project / "outside" / "users.sql"
    _write(
        project,
        {"app/db/queries.py": BINDS.format(sql) + LOOP},
    )
    _agree(project)
    _write(project, {"outside/users.sql": TOUCH})
    assert ("DBA103", "app/db/queries.py", "refresh") in _agree(project)


def test_the_module_an_import_names_created_or_edited_later(project: Path) -> None:
    service = "from app.db import queries\n" + LOOP
    _write(project, {"app/__init__.py": "", "app/services.py": service})
    assert _agree(project) == set()
    # the module binding it is created: the calls now run its queries
    _write(
        project,
        {
            "app/db.py": "import aiosql\n\nqueries = aiosql.from_path('sql', 'asyncpg')\n",
            "app/sql/users.sql": TOUCH,
        },
    )
    assert _agree(project) == {("DBA103", "app/services.py", "refresh")}
    # edited to bind something else under that name: no query any more
    _write(project, {"app/db.py": "queries = None\n"})
    assert _agree(project) == set()
    # and back
    _write(
        project, {"app/db.py": "import aiosql\n\nqueries = aiosql.from_path('sql', 'asyncpg')\n"}
    )
    assert _agree(project) == {("DBA103", "app/services.py", "refresh")}


def test_a_module_imported_whole_then_its_sql_edited(project: Path) -> None:
    # ``import app.db as db`` then ``db.queries.touch_user(conn, ...)``
    service = "import app.db as db\n" + LOOP.replace("await queries.", "await db.queries.")
    _write(
        project,
        {
            "app/__init__.py": "",
            "app/db.py": "import aiosql\n\nqueries = aiosql.from_path('sql', 'asyncpg')\n",
            "app/sql/users.sql": READ,
            "app/services.py": service,
        },
    )
    assert _agree(project) == {("DBA101", "app/services.py", "refresh")}
    _write(project, {"app/sql/users.sql": TOUCH})
    assert _agree(project) == {("DBA103", "app/services.py", "refresh")}


def test_an_unchanged_tree_is_still_served_from_the_cache(project: Path) -> None:
    _write(
        project,
        {"app/db/queries.py": BINDS.format("sql") + LOOP},
    )
    options = AuditOptions(cwd=str(project), cache_dir=str(project / ".cache"), jobs=1)
    scan(["app"], options)
    again = scan(["app"], options)
    assert again.stats.files_parsed == 0 and again.stats.analysis_from_cache


def test_editing_a_module_that_binds_no_queries_object_keeps_its_importers_cached(
    project: Path,
) -> None:
    # ``UserRepository.touch_user(conn, ...)`` is looked up in the module it is imported from;
    # that module binds no aiosql queries, so only an edit that could bind one counts
    repository = (
        "class UserRepository:\n"
        "    @staticmethod\n"
        "    async def touch_user(conn, user_id):\n"
        "        await conn.execute('UPDATE users SET seen_at = now() WHERE id = $1', user_id)\n"
    )
    service = "from app.repository import UserRepository\n" + LOOP.replace(
        "await queries.", "await UserRepository."
    )
    _write(
        project,
        {"app/__init__.py": "", "app/repository.py": repository, "app/services.py": service},
    )
    options = AuditOptions(cwd=str(project), cache_dir=str(project / ".cache"), jobs=1)
    first = scan(["app"], options)
    _write(project, {"app/repository.py": repository + "\n\ndef other():\n    return 1\n"})
    edited = scan(["app"], options)
    assert edited.stats.files_parsed == 1  # the repository itself, not its importer
    assert {f.rule for f in edited.audit.findings} == {f.rule for f in first.audit.findings}
    # now it binds one under that name: the importer's calls run its queries
    _write(
        project,
        {
            "app/repository.py": "import aiosql\n\n"
            "UserRepository = aiosql.from_path('sql', 'asyncpg')\n",
            "app/sql/users.sql": TOUCH,
        },
    )
    assert _agree(project) == {("DBA103", "app/services.py", "refresh")}
    # a re-export of it from another module is an edit that counts too
    _write(
        project,
        {
            "app/queries.py": "import aiosql\n\n"
            "UserRepository = aiosql.from_path('sql', 'asyncpg')\n",
            "app/repository.py": "from app.queries import UserRepository  # noqa: F401\n",
        },
    )
    assert _agree(project) == {("DBA103", "app/services.py", "refresh")}


ROUTE = """\
import { touchUser } from "@/dal";

export async function refresh(users: { id: string }[]) {
  for (const user of users) {
    await touchUser(user.id);
  }
}
"""
DAL = """\
import { db } from "./db";
import { users } from "./schema";
import { eq } from "drizzle-orm";

export async function touchUser(id: string) {
  await db.update(users).set({ seen: true }).where(eq(users.id, id));
}
"""


def _found_in(root: Path, paths: list[str], *, cached: bool) -> set[tuple[str, str, str]]:
    options = AuditOptions(cwd=str(root), cache_dir=str(root / ".cache"), use_cache=cached, jobs=1)
    return {(f.rule, f.path, f.function) for f in scan(paths, options).audit.findings}


def test_a_typescript_import_target_created_later(project: Path) -> None:
    # ``@/*`` maps to src/* then lib/*: the import resolves to the first that exists
    _write(
        project,
        {
            "tsconfig.json": '{ "compilerOptions": { "baseUrl": ".", '
            '"paths": { "@/*": ["src/*", "lib/*"] } } }',
            "src/app/route.ts": ROUTE,
            "lib/.keep": "",
        },
    )

    def agree() -> set[tuple[str, str, str]]:
        cached = _found_in(project, ["src", "lib"], cached=True)
        assert cached == _found_in(project, ["src", "lib"], cached=False)
        return cached

    assert agree() == set()
    _write(project, {"lib/dal.ts": DAL})  # resolved nowhere, now in lib/
    assert agree() == {("DBA103", "src/app/route.ts", "refresh")}
    # one in src/ comes first: the import means it now
    _write(
        project,
        {
            "src/dal.ts": DAL.split("export")[0]
            + "export async function touchUser(id: string) {\n  return id;\n}\n"
        },
    )
    assert agree() == set()


def test_a_project_file_created_later_ends_the_search_there(project: Path) -> None:
    # from_path("sql") is looked for up to the project's root (the nearest folder with a
    # project file): one created later between the module and the folder found moves the end
    _write(project, {"app/db/queries.py": BINDS.format("sql") + LOOP, "sql/users.sql": TOUCH})
    assert _agree(project) == {("DBA103", "app/db/queries.py", "refresh")}
    _write(project, {"app/pyproject.toml": ""})
    assert [f[0] for f in _agree(project)] == ["skipped"]  # "aiosql path sql not found"
