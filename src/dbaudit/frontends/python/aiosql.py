"""aiosql: SQL kept in ``.sql`` files and called as methods of a queries object.

An app using aiosql binds ``queries = aiosql.from_path(Path(__file__).parent / "sql", "asyncpg")``
(or ``from_str(sql, driver)``) and then calls ``await queries.get_article_by_slug(conn, slug=s)``.
Nothing in that call says SQL, so this module reads what aiosql would read: each
``-- name: <name><operator>`` block of the ``.sql`` files becomes an :class:`AiosqlQuery`, and the
frontend turns a call of its method into the same database operation a literal SQL string passed
to the driver gives.

aiosql's conventions (its "Defining SQL Queries" page): dashes in a name become underscores; the
operator after the name says how the query runs: none (all rows), ``^`` (the first row), ``$``
(the first value), ``!`` (insert/update/delete, no result), ``<!`` (a write returning a row),
``*!`` (one statement run over a sequence of parameter sets: a bulk write), ``#`` (a script). A
plain select also gets a ``<name>_cursor`` method, and the files of a subfolder are reached as
``queries.<folder>.<name>``.

Paths are resolved statically: a string literal, ``__file__`` and what ``Path(...).parent``,
``/``, ``joinpath``, ``os.path.join`` and ``os.path.dirname`` make of it, and module-level names
bound to such a path. aiosql itself resolves a relative literal against the process's working
directory, which a static reading does not know: it is looked for beside the module, then in the
folders above it. A file that cannot be read, a block aiosql would refuse and SQL that does not
parse are each one line in :attr:`QueryCatalog.problems`, never an exception.

>>> catalog = read_queries("-- name: get-user^\\nSELECT * FROM users WHERE id = :id;\\n", "q.sql")
>>> query = catalog.find("", "get_user")
>>> query.kind, query.tables, query.result_shape
('select', ('users',), 'row')
"""

from __future__ import annotations

import ast
import glob
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from functools import lru_cache

from sqlglot import exp

from dbaudit.frontends.python.ast_names import dotted as _dotted
from dbaudit.frontends.python.sql_text import looks_like_sql, sql_facts
from dbaudit.model import DbOpKind, Import
from dbaudit.scan.cache import binding_probe
from dbaudit.scan.discovery import display_path
from dbaudit.sql.extract import ExtractError
from dbaudit.sql.extract import parse as parse_sql
from dbaudit.sql.fingerprint import statement_kind

# ``-- name:`` starts a query; what follows on that line is the name, its optional declared
# parameters and its operator (aiosql's query_loader.py reads the same)
_NAME_HEADER = re.compile(r"--\s*name\s*:\s*")
_NAME_SPEC = re.compile(r"^(?P<name>\w+)(?:\((?P<params>[\w\s,]*)\))?(?P<op><!|\*!|[\^$!#]|)$")
_RECORD_CLASS = re.compile(r"^\s*--\s*record_class\s*:")
_COMMENT_LINE = re.compile(r"^\s*--")
_BLOCK_COMMENT = re.compile(r"/\*(?!\+).*?\*/", re.S)

# operator -> (result shape, bulk): kinds come from the statement itself, so a ``!`` on an
# INSERT is an insert and one on a DELETE a delete
_OPERATIONS: dict[str, tuple[str, bool]] = {
    "": ("rows", False),
    "^": ("row", False),
    "$": ("scalar", False),
    "!": ("", False),
    "<!": ("row", False),
    "*!": ("", True),
    "#": ("", True),
}
_WRITES = frozenset({"!", "<!", "*!"})

# aiosql's driver adapter names -> the library name rules word their fixes for
_DRIVERS: dict[str, str] = {
    "asyncpg": "asyncpg",
    "psycopg": "psycopg",
    "psycopg2": "psycopg",
    "sqlite3": "sqlite3",
    "aiosqlite": "sqlite3",
}
_LOADERS = frozenset({"from_path", "from_str"})
_MAX_FILES = 2000  # a from_path pointed at a huge tree stops reading there
_MAX_FILE_BYTES = 2 * 1024 * 1024
_MAX_REEXPORTS = 4  # ``from .queries import queries`` in an __init__.py, followed this far


@dataclass(frozen=True, slots=True)
class AiosqlQuery:
    """One ``-- name:`` block: what a call of its method sends."""

    name: str  # the method name, dashes turned into underscores
    namespace: str  # "" at the top, "users" or "admin.users" for subfolders
    operator: str  # "", "^", "$", "!", "<!", "*!", "#"
    sql: str
    path: str  # the .sql file, or "<string>" for from_str
    line: int  # of the ``-- name:`` line
    kind: DbOpKind
    tables: tuple[str, ...]  # the table the statement writes (or reads FROM) first
    result_shape: str
    batched: bool  # ``*!``: one executemany over every parameter set
    library: str  # the driver the queries object was loaded for ("asyncpg", "sqlite3", ...)


@dataclass(frozen=True, slots=True)
class QueryCatalog:
    """What one ``from_path``/``from_str`` loads: queries by (namespace, method name)."""

    queries: Mapping[tuple[str, str], AiosqlQuery] = field(default_factory=dict)
    problems: tuple[str, ...] = ()  # one line each: unreadable files, refused blocks, bad SQL
    # the files it was read from, as glob patterns (a folder's ``**/*.sql``, a module that
    # binds it): a module's model depends on their content as much as on its own
    sources: tuple[str, ...] = ()

    def find(self, namespace: str, method: str) -> AiosqlQuery | None:
        """The query a method call runs; ``<name>_cursor`` is the plain select's cursor form."""
        query = self.queries.get((namespace, method))
        if query is None and method.endswith("_cursor"):
            query = self.queries.get((namespace, method.removesuffix("_cursor")))
            if query is not None and query.operator != "":
                return None
        return query


# ------------------------------------------------------------------------- reading .sql text


def read_queries(text: str, path: str, namespace: str = "", library: str = "dbapi") -> QueryCatalog:
    """Every ``-- name:`` block of one file's text, and what is wrong with the others."""
    queries: dict[tuple[str, str], AiosqlQuery] = {}
    problems: list[str] = []
    _read_blocks(text, path, namespace, library, queries, problems)
    return QueryCatalog(queries, tuple(problems))


def _read_blocks(
    text: str,
    path: str,
    namespace: str,
    library: str,
    queries: dict[tuple[str, str], AiosqlQuery],
    problems: list[str],
) -> None:
    # block comments go first (aiosql does the same), blanked rather than cut so lines still count
    text = _BLOCK_COMMENT.sub(lambda m: "\n" * m.group(0).count("\n"), text)
    headers = list(_NAME_HEADER.finditer(text))
    for index, header in enumerate(headers):
        end = headers[index + 1].start() if index + 1 < len(headers) else len(text)
        line = text.count("\n", 0, header.start()) + 1
        spec, _, body = text[header.end() : end].partition("\n")
        where = f"{path}:{line}"
        matched = _NAME_SPEC.match(spec.strip().replace("-", "_"))
        if matched is None or matched.group("name")[0].isdigit():
            problems.append(f"{where}: aiosql refuses the query name {spec.strip()!r}")
            continue
        name, operator = matched.group("name"), matched.group("op")
        sql = "\n".join(
            row
            for row in body.splitlines()
            if not _COMMENT_LINE.match(row) and not _RECORD_CLASS.match(row)
        ).strip()
        if not sql.strip(" \t\r\n;"):
            problems.append(f"{where}: query {name} has no SQL")
            continue
        query, problem = _query(name, namespace, operator, sql, path, line, library)
        if problem:
            problems.append(f"{where}: {problem}")
        queries[(namespace, name)] = query


def _query(
    name: str, namespace: str, operator: str, sql: str, path: str, line: int, library: str
) -> tuple[AiosqlQuery, str]:
    """The query's kind and tables from sqlglot; the statement's pattern reading if it fails."""
    shape, batched = _OPERATIONS[operator]
    problem = ""
    try:
        tree: exp.Expression | None = parse_sql(sql.rstrip().rstrip(";"))
    except ExtractError as error:
        tree = None
        if operator != "#":  # a script is several statements by design
            problem = f"query {name}: {error}; read by pattern instead"
    except Exception as error:  # sqlglot's TokenError and others on malformed text
        tree = None
        first_line = str(error).splitlines()[0][:200] if str(error) else type(error).__name__
        problem = f"query {name}: cannot parse SQL: {first_line}; read by pattern instead"
    if tree is not None:
        parsed = statement_kind(tree)
        kind: DbOpKind = "raw" if parsed == "other" else parsed
        tables = _tables(tree)
    else:
        facts = sql_facts(sql)
        kind = facts.kind if looks_like_sql(sql) else "raw"  # type: ignore[assignment]
        tables = facts.tables
    if operator == "#" and kind == "raw":
        kind = "ddl"  # a script that is no query or write sets the schema up
    if operator in _WRITES and kind == "select":
        kind = "raw"  # a write the parser could not place (a function call, a DO block)
    query = AiosqlQuery(
        name, namespace, operator, sql, path, line, kind, tables, shape, batched, library
    )
    return query, problem


def _tables(tree: exp.Expression) -> tuple[str, ...]:
    """The written table (or the outermost FROM's) first, then the others in reading order."""
    ctes = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
    names = [t.name for t in tree.find_all(exp.Table) if t.name and t.name not in ctes]
    main = tree.this if isinstance(tree, exp.Insert | exp.Update | exp.Delete) else None
    if isinstance(main, exp.Schema):  # INSERT INTO t (columns)
        main = main.this
    if main is None and isinstance(tree, exp.Select):
        source = tree.args.get("from")
        main = source.this if source is not None else None
    first = [main.name] if isinstance(main, exp.Table) and main.name not in ctes else []
    return tuple(dict.fromkeys([*first, *names]))


# ------------------------------------------------------------------------------- loading files


def load_path(path: str, library: str = "dbapi") -> QueryCatalog:
    """What ``from_path(path)`` loads: one file, or every ``.sql`` file under a folder."""
    # the working directory is part of the key: problems name files relative to it
    return _load_path(path, library, _stamp(path), os.getcwd())


def _stamp(path: str) -> tuple[tuple[str, int, int], ...]:
    """Each file's path, modification time and size: a cached load is reused only while these
    stay the same."""
    stamps = []
    for file in _sql_files(path):
        try:
            status = os.stat(file)
        except OSError:
            stamps.append((file, -1, -1))
        else:
            stamps.append((file, status.st_mtime_ns, status.st_size))
    return tuple(stamps)


def _sql_files(path: str) -> Iterator[str]:
    if not os.path.isdir(path):
        yield path
        return
    count = 0
    for folder, subfolders, files in os.walk(path):
        subfolders.sort()
        for name in sorted(files):
            if name.endswith(".sql"):
                count += 1
                if count > _MAX_FILES:
                    return
                yield os.path.join(folder, name)


@lru_cache(maxsize=64)
def _load_path(
    path: str, library: str, stamp: tuple[tuple[str, int, int], ...], cwd: str
) -> QueryCatalog:
    queries: dict[tuple[str, str], AiosqlQuery] = {}
    problems: list[str] = []
    is_folder = os.path.isdir(path)
    root = path if is_folder else os.path.dirname(path)
    # a folder's pattern also matches a .sql file added to it later
    source = os.path.join(glob.escape(path), "**", "*.sql") if is_folder else glob.escape(path)
    for file, _, size in stamp:
        shown = display_path(file, cwd)
        if size > _MAX_FILE_BYTES:
            problems.append(f"{shown}: too large to read ({size} bytes)")
            continue
        try:
            with open(file, "rb") as handle:
                text = handle.read().decode("utf-8").removeprefix("\ufeff")
        except OSError as error:
            problems.append(f"{shown}: cannot read: {error.strerror or error}")
            continue
        except UnicodeDecodeError as error:
            problems.append(f"{shown}: not valid UTF-8 (byte {error.start})")
            continue
        relative = os.path.relpath(os.path.dirname(file), root)
        namespace = "" if relative == "." else relative.replace(os.sep, ".")
        _read_blocks(text, shown, namespace, library, queries, problems)
    return QueryCatalog(queries, tuple(problems), (source,))


# ------------------------------------------------------------------ bindings in Python modules


class ModuleQueries:
    """The aiosql queries objects one module can name: bound there, or imported from another
    module (read from disk when a call needs it, following re-exports a few modules deep)."""

    def __init__(self, tree: ast.Module, path: str, imports: Iterable[Import]) -> None:
        self.path = os.path.abspath(path)
        self._imports = {i.local: i for i in imports if i.local != "*"}
        self._bound = _bindings(tree, self.path)
        self._resolved: dict[str, QueryCatalog | None] = {}

    @property
    def inputs(self) -> tuple[str, ...]:
        """Glob patterns of the other files the queries it names were read from: the .sql
        files of those bound here, and of those it imported, with the modules binding them."""
        catalogs = [*self._bound.values(), *self._resolved.values()]
        return tuple(dict.fromkeys(p for c in catalogs if c is not None for p in c.sources))

    @property
    def problems(self) -> tuple[str, ...]:
        """What went wrong loading the queries bound in this module (imported ones are the
        business of the module that binds them, so each problem is told once)."""
        return tuple(dict.fromkeys(p for c in self._bound.values() for p in c.problems))

    def knows(self, name: str) -> bool:
        """Whether ``name`` may be a queries object: bound here, or imported."""
        return name in self._bound or name in self._imports

    def imported(self, name: str) -> QueryCatalog | None:
        """The catalog ``from pkg.mod import name`` refers to (an empty one, naming the files
        looked for, when no module binds it yet)."""
        if name not in self._resolved:
            found = self._imports.get(name)
            self._resolved[name] = _imported(self.path, found, 0) if found else None
        return self._resolved[name]

    def query(self, owner: str, method: str, *, look_in_imports: bool) -> AiosqlQuery | None:
        """``owner.method(...)`` as an aiosql query, ``owner`` as written (``queries``,
        ``queries.users``, ``db.queries`` for ``import app.db as db``)."""
        name, _, namespace = owner.partition(".")
        catalog = self._bound.get(name)
        if catalog is None and look_in_imports:
            target = self._imports.get(name)
            if target is not None and not target.name and namespace:
                # ``import app.db.queries as q`` then ``q.queries.get_x(conn)``
                binding, _, namespace = namespace.partition(".")
                key = f"{name}.{binding}"
                if key not in self._resolved:
                    module, looked = _module_file(self.path, target.module, target.level)
                    self._resolved[key] = (
                        _module_catalog(module, binding, 0)
                        if module
                        else QueryCatalog(sources=_watched_modules(looked, binding))
                    )
                catalog = self._resolved[key]
            else:
                catalog = self.imported(name)
        return catalog.find(namespace, method) if catalog is not None else None


def _bindings(tree: ast.Module, path: str) -> dict[str, QueryCatalog]:
    """``name = aiosql.from_path(...)`` / ``from_str(...)`` at module level."""
    loaders = _loader_names(tree)
    if not loaders:
        return {}
    paths: dict[str, str] = {}
    strings: dict[str, str] = {}
    bound: dict[str, QueryCatalog] = {}
    for statement in _module_statements(tree.body):
        if isinstance(statement, ast.Assign):
            targets, value = statement.targets, statement.value
        elif isinstance(statement, ast.AnnAssign) and statement.value is not None:
            targets, value = [statement.target], statement.value
        else:
            continue
        names = [t.id for t in targets if isinstance(t, ast.Name)]
        if not names:
            continue
        catalog = _loaded(value, loaders, path, paths, strings)
        if catalog is not None:
            bound.update(dict.fromkeys(names, catalog))
            continue
        if isinstance(value, ast.Constant) and isinstance(value.value, str):
            strings.update(dict.fromkeys(names, value.value))
        resolved = static_path(value, path, paths)
        if resolved is not None:
            paths.update(dict.fromkeys(names, resolved))
    _bind_in_functions(tree, loaders, path, paths, strings, bound)
    return bound


def _bind_in_functions(
    tree: ast.Module,
    loaders: Mapping[str, str],
    path: str,
    paths: Mapping[str, str],
    strings: Mapping[str, str],
    bound: dict[str, QueryCatalog],
) -> None:
    """Queries objects loaded inside a function: ``queries = aiosql.from_path(...)`` in an app
    factory (its routes use it as a closure), and ``def get_queries(): return
    aiosql.from_path(...)`` with ``queries = get_queries()`` wherever it is called. A name
    bound at module level keeps that binding; a method the catalog lacks is no query, so a
    name bound to something else elsewhere is never read as one."""
    functions = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
    returning: dict[str, QueryCatalog] = {}
    for function in functions:
        for node in ast.walk(function):
            if isinstance(node, ast.Return) and node.value is not None:
                catalog = _loaded(node.value, loaders, path, paths, strings)
                if catalog is not None:
                    returning.setdefault(function.name, catalog)
    for node in ast.walk(tree):
        if not isinstance(node, ast.Assign | ast.AnnAssign) or node.value is None:
            continue
        value = node.value
        if isinstance(value, ast.Call) and isinstance(value.func, ast.Name):
            catalog = returning.get(value.func.id)
        else:
            catalog = None
        if catalog is None:
            catalog = _loaded(value, loaders, path, paths, strings)
        if catalog is None:
            continue
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        for target in targets:
            if isinstance(target, ast.Name):
                bound.setdefault(target.id, catalog)


def _loader_names(tree: ast.Module) -> dict[str, str]:
    """Dotted names that call aiosql's loaders here: ``aiosql.from_path`` -> ``from_path``."""
    loaders: dict[str, str] = {}
    for statement in _module_statements(tree.body):
        if isinstance(statement, ast.Import):
            for alias in statement.names:
                if alias.name == "aiosql":
                    local = alias.asname or "aiosql"
                    loaders.update({f"{local}.{loader}": loader for loader in _LOADERS})
        elif isinstance(statement, ast.ImportFrom) and statement.module == "aiosql":
            for alias in statement.names:
                if alias.name in _LOADERS:
                    loaders[alias.asname or alias.name] = alias.name
    return loaders


def _module_statements(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """Top-level statements, with those inside ``if``/``try``/``with`` blocks at that level."""
    for statement in body:
        yield statement
        if isinstance(statement, ast.If | ast.Try | ast.With):
            yield from _module_statements(statement.body)
            yield from _module_statements(getattr(statement, "orelse", []))
            for handler in getattr(statement, "handlers", []):
                yield from _module_statements(handler.body)
            yield from _module_statements(getattr(statement, "finalbody", []))


def _loaded(
    value: ast.expr,
    loaders: Mapping[str, str],
    path: str,
    paths: Mapping[str, str],
    strings: Mapping[str, str],
) -> QueryCatalog | None:
    if not isinstance(value, ast.Call):
        return None
    loader = loaders.get(_dotted(value.func) or "")
    if loader is None:
        return None
    source = value.args[0] if value.args else _keyword(value, "sql_path", "sql")
    driver = value.args[1] if len(value.args) > 1 else _keyword(value, "driver_adapter")
    library = "dbapi"
    if isinstance(driver, ast.Constant) and isinstance(driver.value, str):
        library = _DRIVERS.get(driver.value, "dbapi")
    if source is None:
        return None
    if loader == "from_str":
        if isinstance(source, ast.Constant) and isinstance(source.value, str):
            return read_queries(source.value, _shown(path), library=library)
        if isinstance(source, ast.Name) and source.id in strings:
            return read_queries(strings[source.id], _shown(path), library=library)
        return None
    resolved = static_path(source, path, paths)
    if resolved is None:
        return None
    candidates, absent = _candidates(resolved, path)
    found = next((c for c in candidates if os.path.exists(c)), None)
    # a path looked for before the one found (every one, when none is) may be created later,
    # and a run then reads it: the module's model depends on it not being there, and on no
    # project file ending the search before it
    passed = candidates.index(found) if found is not None else len(candidates)
    watched = (
        *(p for c in candidates[:passed] for p in _watched(c)),
        *(glob.escape(m) for markers in absent[:passed] for m in markers),
    )
    if found is None:
        return QueryCatalog(
            problems=(f"{_shown(path)}: aiosql path {resolved} not found",), sources=watched
        )
    catalog = load_path(found, library)
    return replace(catalog, sources=(*watched, *catalog.sources)) if watched else catalog


def _keyword(call: ast.Call, *names: str) -> ast.expr | None:
    for keyword in call.keywords:
        if keyword.arg in names:
            return keyword.value
    return None


# Files that mark a project's root folder, where an app is usually run from
_PROJECT_MARKERS = (
    "pyproject.toml",
    "setup.py",
    "setup.cfg",
    "requirements.txt",
    "manage.py",
    ".git",
)


def _candidates(resolved: str, module_path: str) -> tuple[list[str], list[list[str]]]:
    """Where ``from_path(resolved)`` is looked for, in order, and for each place the project
    files whose absence let the search go on past it. An absolute path is itself; aiosql reads
    a relative path from the process's working directory, unknown here, and an app usually runs
    from its root, one of the module's folders: the nearest one holding it wins, up to the
    nearest folder with a project file (``pyproject.toml``, ``.git``, ...), never above it (a
    folder of that name elsewhere on the machine, ``/tmp/sql``, is no part of the app). With
    no project file above the module, every folder up to the filesystem's root."""
    if os.path.isabs(resolved):
        return [resolved], [[]]
    candidates: list[str] = []
    absent: list[list[str]] = []
    folder = os.path.dirname(module_path)
    while True:
        candidates.append(os.path.join(folder, resolved))
        markers = [os.path.join(folder, name) for name in _PROJECT_MARKERS]
        if any(map(os.path.exists, markers)):
            absent.append([])
            return candidates, absent
        absent.append(markers)
        parent = os.path.dirname(folder)
        if parent == folder:
            return candidates, absent
        folder = parent


def _watched(path: str) -> tuple[str, ...]:
    """Glob patterns that match ``path`` once it exists, as a file or as a folder of .sql
    files (the cache digests what they match: nothing now, something once it is created)."""
    escaped = glob.escape(path)
    return (escaped, os.path.join(escaped, "**", "*.sql"))


def static_path(node: ast.expr, module_path: str, names: Mapping[str, str]) -> str | None:
    """The path an expression names, when it can be known without running it.

    >>> tree = ast.parse('Path(__file__).parent / "sql" / "users.sql"', mode="eval")
    >>> static_path(tree.body, "/app/db/queries.py", {})
    '/app/db/sql/users.sql'
    """
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Name):
        if node.id == "__file__":
            return module_path
        return names.get(node.id)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
        left = static_path(node.left, module_path, names)
        right = static_path(node.right, module_path, names)
        return os.path.join(left, right) if left is not None and right is not None else None
    if isinstance(node, ast.Attribute):
        base = static_path(node.value, module_path, names)
        if base is not None and node.attr == "parent":
            return os.path.dirname(base)
        return None
    if (  # Path(__file__).parents[1]
        isinstance(node, ast.Subscript)
        and isinstance(node.value, ast.Attribute)
        and node.value.attr == "parents"
        and isinstance(node.slice, ast.Constant)
        and isinstance(node.slice.value, int)
    ):
        base = static_path(node.value.value, module_path, names)
        if base is None:
            return None
        for _ in range(node.slice.value + 1):
            base = os.path.dirname(base)
        return base
    if not isinstance(node, ast.Call):
        return None
    callee = _dotted(node.func) or ""
    func = node.func
    last = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    args = [static_path(a, module_path, names) for a in node.args]
    if any(a is None for a in args) or node.keywords:
        return None
    known = [a for a in args if a is not None]
    if last in {"Path", "PurePath", "PosixPath", "str", "fspath"} and len(known) >= 1:
        return os.path.join(*known)
    if last in {"join", "joinpath"}:
        if isinstance(node.func, ast.Attribute) and last == "joinpath":
            base = static_path(node.func.value, module_path, names)
            return os.path.join(base, *known) if base is not None else None
        return os.path.join(*known) if known and callee.endswith("path.join") else None
    if last == "dirname" and len(known) == 1:
        return os.path.dirname(known[0])
    if last in {"abspath", "realpath", "normpath"} and len(known) == 1:
        return os.path.normpath(known[0])
    if not isinstance(node.func, ast.Attribute):
        return None
    if last in {"resolve", "absolute"} and not known:
        return static_path(node.func.value, module_path, names)
    if last in {"with_name", "with_suffix"} and len(known) == 1:
        base = static_path(node.func.value, module_path, names)
        if base is None:
            return None
        if last == "with_name":
            return os.path.join(os.path.dirname(base), known[0])
        return os.path.splitext(base)[0] + known[0]
    return None


def _shown(path: str) -> str:
    return display_path(path, os.getcwd())


# ---------------------------------------------------------------------- following imports


def _imported(importer: str, target: Import, depth: int) -> QueryCatalog | None:
    """The catalog an import names; an empty one, with the files looked for as its sources,
    when no module binds it (yet: a module created later would, and a run then reads it)."""
    if not target.name:
        return None  # a module, not a queries object
    module, looked = _module_file(importer, target.module, target.level)
    if module is None:
        # ``from app.db.queries import queries`` where queries.py is the module that binds it
        package = f"{target.module}.{target.name}" if target.module else target.name
        module, looked_too = _module_file(importer, package, target.level)
        looked = (*looked, *looked_too)
        if module is None:
            return QueryCatalog(sources=_watched_modules(looked, target.name))
    catalog = _module_catalog(module, target.name, depth)
    return replace(catalog, sources=(*_watched_modules(looked, target.name), *catalog.sources))


def _module_catalog(module: str, name: str, depth: int) -> QueryCatalog:
    """The catalog ``name`` is bound to in ``module``, following its own imports of it; an
    empty one when it binds none. Either way its sources name the module: an edit that
    binds it, or binds it otherwise, changes what the importer's calls run."""
    tree = _module_tree(module, *_file_stamp(module))
    found = _bindings(tree, module).get(name) if tree is not None else None
    if found is None and tree is not None and depth < _MAX_REEXPORTS:
        target = _import_of(tree, name)
        found = _imported(module, target, depth + 1) if target is not None else None
    if found is None:
        # a module that binds no such queries object (a repository class of that name):
        # only an edit that could make it bind one counts, not every edit
        return QueryCatalog(sources=_watched_modules((module,), name))
    # the module that binds (or re-exports) it decides which files are read
    return replace(found, sources=(glob.escape(module), *found.sources))


def _watched_modules(paths: Iterable[str], name: str) -> tuple[str, ...]:
    """Input patterns for modules read (or looked for) only for whether they bind ``name``."""
    return tuple(dict.fromkeys(binding_probe(name, glob.escape(p)) for p in paths))


def _import_of(tree: ast.Module, name: str) -> Import | None:
    """``from .queries import name`` in a module: where it takes ``name`` from."""
    for statement in _module_statements(tree.body):
        if isinstance(statement, ast.ImportFrom):
            for alias in statement.names:
                if (alias.asname or alias.name) == name:
                    return Import(name, statement.module or "", alias.name, statement.level)
    return None


def _file_stamp(path: str) -> tuple[int, int]:
    try:
        status = os.stat(path)
    except OSError:
        return -1, -1
    return status.st_mtime_ns, status.st_size


@lru_cache(maxsize=128)
def _module_tree(path: str, mtime: int, size: int) -> ast.Module | None:
    """A module read only for its aiosql bindings and re-exports; None when it cannot be read."""
    if size < 0 or size > _MAX_FILE_BYTES:
        return None
    try:
        with open(path, "rb") as handle:
            data = handle.read()
        return ast.parse(data, filename=path)
    except (OSError, SyntaxError, ValueError, RecursionError):
        return None


def _module_file(importer: str, module: str, level: int) -> tuple[str | None, tuple[str, ...]]:
    """The file of ``module`` as the importing file's package layout finds it, and the files
    looked for before it (every one, when none is found): created later, one of them would
    be the module instead."""
    parts = [p for p in module.split(".") if p]
    if level:
        base = os.path.dirname(importer)
        for _ in range(level - 1):
            base = os.path.dirname(base)
        return _package_file(os.path.join(base, *parts))
    if not parts:
        return None, ()
    # absolute: the first folder above the importer that holds the top package
    looked: list[str] = []
    folder = os.path.dirname(importer)
    while True:
        found, tried = _package_file(os.path.join(folder, *parts))
        if found is not None and (
            os.path.isdir(os.path.join(folder, parts[0]))
            or os.path.isfile(os.path.join(folder, parts[0] + ".py"))
        ):
            return found, (*looked, *tried)
        looked += _package_stems(os.path.join(folder, *parts))
        parent = os.path.dirname(folder)
        if parent == folder:
            return None, tuple(looked)
        folder = parent


def _package_stems(stem: str) -> tuple[str, str]:
    return stem + ".py", os.path.join(stem, "__init__.py")


def _package_file(stem: str) -> tuple[str | None, tuple[str, ...]]:
    """The module file of ``stem`` and the candidates tried before it (both, when neither
    is there)."""
    first, second = _package_stems(stem)
    if os.path.isfile(first):
        return first, ()
    if os.path.isfile(second):
        return second, (first,)
    return None, (first, second)
