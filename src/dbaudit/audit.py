"""The static audit of a Python, TypeScript or JavaScript tree: files in, one ``Audit`` out.

``run_static_audit(paths, options)`` finds the source files (``.py`` and the suffixes of
``dbaudit.frontends.typescript``; ``node_modules`` and other folders of somebody else's code
are excluded by default), reads each once, drops the ones
that cannot reach a database after a cheap text pre-check, parses the rest once into the
program model (in a process pool), runs the whole-tree analysis and applies the project's
choices (``[tool.dbaudit]``, ``--select``/``--ignore``, inline ``# dbaudit: ignore``).
Unchanged files and unchanged trees are served from a content-hash cache.

Besides the ``Audit``, a run keeps what the database review needs of the program
(``StaticAuditRun.facts``: the database operations weighed by the loops around them, the ORM
models and the files declaring them; see ``dbaudit.indexes.static_workload``), cached with the
analysis.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import signal
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from functools import cache
from typing import Any

from dbaudit.findings import Audit, FileSummary, Finding, GoodPractice, Severity, SkippedFile
from dbaudit.indexes.static_workload import ProgramFacts
from dbaudit.scan import cache as cache_module
from dbaudit.scan import layers, project_config, skipped_by_design
from dbaudit.scan.collection import paused_collection
from dbaudit.scan.context import ContextDigests
from dbaudit.scan.discovery import (
    DEFAULT_EXCLUDES,
    ExcludeMatcher,
    SourceFile,
    discover,
    is_script,
)
from dbaudit.scan.project_config import ConfigError, ProjectConfig
from dbaudit.scan.reading import DEFAULT_MAX_FILE_BYTES, Unreadable, read_bytes
from dbaudit.scan.serialization import register_static_model
from dbaudit.scan.worker import FileJob, FileMeta, FileOutcome, cache_digest, process_file

ProgressCallback = Callable[[int, int], None]  # (files done, files to do)

# below this many files to parse, a process pool costs more than it saves
_POOL_THRESHOLD = 48


class AuditError(ValueError):
    """Options or configuration the user has to fix (unknown rule code, bad pyproject)."""


@dataclass(frozen=True, slots=True)
class AuditOptions:
    """What a caller may choose; ``None`` means "not given here, use the project's config"."""

    select: tuple[str, ...] | None = None
    ignore: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    default_excludes: bool = True
    min_severity: Severity | None = None
    jobs: int | None = None  # None: every core this process may use
    use_cache: bool = True
    cache_dir: str | None = None
    config_file: str | None = None  # an explicit pyproject.toml
    use_project_config: bool = True
    max_file_bytes: int | None = None
    # paths are shown relative to it; TypeScript import resolution (the frontend's) works from
    # the process's working directory, so for TypeScript trees leave it None or equal to that
    cwd: str | None = None
    progress: ProgressCallback | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class ScanStats:
    files_found: int
    files_parsed: int  # parsed in this run (cache misses that reach a database)
    files_from_cache: int
    analysis_from_cache: bool
    suppressed: int  # findings silenced by ``# dbaudit: ignore``
    filtered: int  # findings left out by select/ignore/min-severity
    jobs: int
    seconds: float
    cache_note: str = ""


@dataclass(frozen=True, slots=True)
class StaticAuditRun:
    audit: Audit
    config: ProjectConfig
    stats: ScanStats
    facts: ProgramFacts = field(default_factory=ProgramFacts)
    cwd: str = ""  # the directory the audit's paths are relative to


def run_static_audit(paths: Sequence[str], options: AuditOptions | None = None) -> Audit:
    return scan(paths, options or AuditOptions()).audit


def scan(paths: Sequence[str], options: AuditOptions) -> StaticAuditRun:
    started = time.perf_counter()
    if not paths:
        raise AuditError("no path given to audit")
    register_static_model()  # before the pool forks, so the workers inherit it
    _forget_tsconfigs()
    cwd = os.path.abspath(options.cwd or os.getcwd())
    config = load_config(
        os.path.join(cwd, paths[0]), options.config_file, options.use_project_config
    )
    select = options.select if options.select is not None else config.select
    ignore = tuple(dict.fromkeys((*config.ignore, *options.ignore)))
    check_rule_codes(select or (), "select")
    check_rule_codes(ignore, "ignore")
    min_severity = options.min_severity or config.min_severity or Severity.INFO
    max_bytes = options.max_file_bytes or config.max_file_size or DEFAULT_MAX_FILE_BYTES

    absolute = [os.path.join(cwd, path) for path in paths]
    found = discover(absolute, _matchers(options, config, cwd), cwd=cwd)
    jobs = _job_count(options.jobs)
    store = _open_cache(options, config, paths, cwd)
    contexts = ContextDigests()
    try:
        outcomes, from_cache, parsed = _process(
            found.files, store, max_bytes, jobs, options, contexts
        )
        by_path = {f.display_path: f for f in found.files}

        def reparse(paths: list[str]) -> list[FileOutcome]:
            todo = [
                FileJob(
                    by_path[p].real_path,
                    p,
                    max_bytes,
                    contexts.for_file(by_path[p].real_path),
                )
                for p in paths
            ]
            return list(_run_jobs(todo, jobs))

        result, analysis_cached = _analyze(outcomes, store, reparse)
    finally:
        note = store.problem
        store.close()

    metas = {o.display_path: o.meta for o in outcomes}
    findings, suppressed, filtered = _select_findings(
        result.findings, metas, select, ignore, min_severity
    )
    audit = Audit(
        roots=tuple(dict.fromkeys(f.root for f in found.files)) or tuple(paths),
        files=[
            FileSummary(
                o.display_path,
                o.meta.lines,
                layers.classify(o.display_path),
                o.meta.language,
            )
            for o in outcomes
            if not o.meta.skip_reason
        ],
        findings=findings,
        good_practices=sorted(result.good_practices, key=_practice_order),
        skipped=sorted(
            [
                *found.skipped,
                *(_skipped(o) for o in outcomes if o.meta.skip_reason),
                *(_partly(o) for o in outcomes if o.meta.notes and not o.meta.skip_reason),
            ],
            key=lambda s: s.path,
        ),
    )
    stats = ScanStats(
        files_found=len(found.files),
        files_parsed=parsed,
        files_from_cache=from_cache,
        analysis_from_cache=analysis_cached,
        suppressed=suppressed,
        filtered=filtered,
        jobs=jobs,
        seconds=time.perf_counter() - started,
        cache_note=note,
    )
    return StaticAuditRun(audit=audit, config=config, stats=stats, facts=result.facts, cwd=cwd)


def is_error(skipped: SkippedFile) -> bool:
    """Whether a file was left out because something is wrong, not by design (empty file)."""
    return not skipped_by_design(skipped)


# --- configuration ---------------------------------------------------------------------------


def load_config(start: str, config_file: str | None, use_project_config: bool) -> ProjectConfig:
    """``[tool.dbaudit]``: from ``config_file`` when given, else from the nearest
    pyproject.toml at or above ``start`` that has the table (none with ``use_project_config``
    false)."""
    try:
        if config_file is not None:
            return project_config.load(config_file)
        if not use_project_config:
            return ProjectConfig()
        found = project_config.find_pyproject(start)
        return ProjectConfig() if found is None else project_config.load(found)
    except ConfigError as error:
        raise AuditError(str(error)) from None


def _matchers(options: AuditOptions, config: ProjectConfig, cwd: str) -> list[ExcludeMatcher]:
    matchers = []
    if options.default_excludes:
        matchers.append(ExcludeMatcher(DEFAULT_EXCLUDES, cwd))
    if config.exclude:
        matchers.append(ExcludeMatcher(config.exclude, config.base_dir))
    if options.exclude:
        matchers.append(ExcludeMatcher(options.exclude, cwd))
    return matchers


def known_rule_codes() -> tuple[str, ...]:
    from dbaudit.rules.registry import REGISTRY

    return tuple(sorted(REGISTRY))


def runtime_rule_codes() -> tuple[str, ...]:
    """The rules whose findings an events file can hold: the detectors' and the pytest
    plugin's missing-index check (``--dbaudit-explain``)."""
    from dbaudit.runtime.detect import RULES
    from dbaudit.runtime.plans import RULE as MISSING_INDEX

    return tuple(sorted({*RULES, MISSING_INDEX}))


def check_rule_codes(codes: Iterable[str], option: str) -> None:
    """``AuditError`` for a code or prefix that names no rule of the static audit's nor of the
    runtime's (DBA301 duplicate and DBA302 slow queries, DBA401 missing index):
    ``[tool.dbaudit]`` selects and ignores both (a runtime code selects no static finding)."""
    static = known_rule_codes()
    for code in codes:
        if any(rule.startswith(code.upper()) for rule in static):
            continue
        runtime = runtime_rule_codes()  # imported only for a code the static audit lacks
        if not any(rule.startswith(code.upper()) for rule in runtime):
            raise AuditError(
                f"unknown rule code {code!r} in {option} (see `dbaudit rules`; the runtime's "
                f"rules are {', '.join(runtime)})"
            )


def _job_count(requested: int | None) -> int:
    if requested is not None:
        if requested < 1:
            raise AuditError("--jobs must be at least 1")
        return requested
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _open_cache(
    options: AuditOptions, config: ProjectConfig, paths: Sequence[str], cwd: str
) -> cache_module.Cache:
    if not options.use_cache:
        return cache_module.Cache(None)
    directory = options.cache_dir or config.cache_dir
    if directory is None:
        project = config.base_dir or _project_dir(os.path.join(cwd, paths[0]), cwd)
        directory = cache_module.default_cache_dir(project)
    store = cache_module.Cache(directory)
    store.prune_other_versions()
    return store


def _project_dir(path: str, cwd: str) -> str:
    """The folder holding pyproject.toml or .git above ``path``; else the working directory."""
    start = os.path.abspath(path)
    probe = start if os.path.isdir(start) else os.path.dirname(start)
    while True:
        if any(os.path.exists(os.path.join(probe, m)) for m in ("pyproject.toml", ".git")):
            return probe
        parent = os.path.dirname(probe)
        if parent == probe:
            return cwd
        probe = parent


# --- reading and parsing ---------------------------------------------------------------------


def _process(
    files: Sequence[SourceFile],
    store: cache_module.Cache,
    max_bytes: int,
    jobs: int,
    options: AuditOptions,
    contexts: ContextDigests,
) -> tuple[list[FileOutcome], int, int]:
    """One outcome per file, in discovery order: from the cache when its content is known."""
    keys: dict[str, str] = {}
    sizes: dict[str, int] = {}
    context_of: dict[str, str] = {}
    outcomes: dict[str, FileOutcome] = {}
    for source in files:
        raw = read_bytes(source.real_path, max_bytes)
        if isinstance(raw, Unreadable):
            meta = FileMeta(skip_reason=raw.reason)
            outcomes[source.display_path] = FileOutcome(source.display_path, "", meta)
        else:
            context = contexts.for_file(source.real_path)
            context_of[source.display_path] = context
            digest = cache_digest(raw.digest, context)
            keys[source.display_path] = cache_module.file_key(source.display_path, digest)
            sizes[source.display_path] = len(raw.data)
    cached = store.get_metas(keys.values())
    hits = 0
    todo: list[FileJob] = []
    for source in files:
        key = keys.get(source.display_path)
        if key is None:
            continue
        hit = cached.get(key)
        if isinstance(hit, FileMeta):
            hits += 1
            digest = key.rsplit("\x1f", 1)[1]
            outcomes[source.display_path] = FileOutcome(source.display_path, digest, hit)
        else:
            context = context_of[source.display_path]
            todo.append(FileJob(source.real_path, source.display_path, max_bytes, context))
    # largest first, so the pool does not end waiting on one big file parsed last
    todo.sort(key=lambda job: -sizes[job.display_path])

    total = len(files)
    done = total - len(todo)
    if options.progress is not None:
        options.progress(done, total)
    fresh: dict[str, tuple[Any, bytes | None]] = {}
    for outcome in _run_jobs(todo, jobs):
        outcomes[outcome.display_path] = outcome
        if outcome.digest:
            key = cache_module.file_key(outcome.display_path, outcome.digest)
            fresh[key] = (outcome.meta, outcome.module_blob)
        done += 1
        if options.progress is not None:
            options.progress(done, total)
    store.put_files(fresh)
    parsed = sum(1 for o in outcomes.values() if o.module_blob is not None)
    ordered = [outcomes[s.display_path] for s in files if s.display_path in outcomes]
    return ordered, hits, parsed


def _run_jobs(todo: list[FileJob], jobs: int) -> Iterable[FileOutcome]:
    if jobs <= 1 or len(todo) < _POOL_THRESHOLD:
        return (process_file(job) for job in todo)
    return _pooled(todo, jobs)


def _pooled(todo: list[FileJob], jobs: int) -> Iterable[FileOutcome]:
    import multiprocessing

    # imported once here, inherited by forked workers
    import dbaudit.frontends.python

    if any(is_script(job.display_path) for job in todo):
        import dbaudit.frontends.typescript  # noqa: F401

    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else None)
    chunk = max(1, min(16, len(todo) // (jobs * 8)))
    pool = ProcessPoolExecutor(max_workers=jobs, mp_context=context, initializer=_quiet_worker)
    try:
        yield from pool.map(process_file, todo, chunksize=chunk)
    except BaseException:
        # Ctrl-C or an error: drop the queued files instead of parsing the rest of the tree, and
        # stop the chunks in progress (Python 3.14 has terminate_workers(); 3.11 has no API)
        pool.shutdown(wait=False, cancel_futures=True)
        workers = getattr(pool, "_processes", None) or {}
        for process in list(workers.values()):
            process.terminate()
        raise
    pool.shutdown(wait=True)


def _quiet_worker() -> None:
    """Workers leave Ctrl-C to the parent, which stops the pool; no traceback per worker."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    register_static_model()  # already inherited when forked; needed when spawned


# --- analysis --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Result:
    findings: list[Finding]
    good_practices: list[GoodPractice]
    facts: ProgramFacts = field(default_factory=ProgramFacts)


@cache
def _result_tag() -> str:
    """Part of the tree's cache key: ``_Result`` and the facts it keeps are defined outside the
    packages the cache's analyzer fingerprint covers, so their source is hashed here."""
    from dbaudit.indexes import static_workload

    digest = hashlib.blake2b(digest_size=8)
    for module_file in (__file__, static_workload.__file__):
        try:
            with open(module_file, "rb") as handle:
                digest.update(handle.read())
        except OSError:
            continue
    return digest.hexdigest()


def _analyze(
    outcomes: list[FileOutcome],
    store: cache_module.Cache,
    reparse: Callable[[list[str]], list[FileOutcome]],
) -> tuple[_Result, bool]:
    reachable = [o for o in outcomes if o.meta.touches_db and not o.meta.skip_reason]
    if not reachable:
        return _Result([], []), False
    keys = [cache_module.file_key(o.display_path, o.digest) for o in reachable if o.digest]
    tree_key = ""
    if len(keys) == len(reachable):
        tree_key = cache_module.analysis_key([*keys, _result_tag()])
    if tree_key:
        hit = store.get_analysis(tree_key)
        if isinstance(hit, _Result):
            return hit, True
    missing = [
        cache_module.file_key(o.display_path, o.digest) for o in reachable if o.module_blob is None
    ]
    # a million model objects are loaded and walked: no collector passes over them meanwhile
    with paused_collection():
        loaded = store.get_modules(missing)
        modules = []
        lost: list[str] = []  # cached metas whose models are gone (cache switched off meanwhile)
        for index, outcome in enumerate(outcomes):
            if not outcome.meta.touches_db or outcome.meta.skip_reason:
                continue
            if outcome.module_blob is not None:
                modules.append(pickle.loads(outcome.module_blob))
                outcomes[index] = replace(outcome, module_blob=None)  # peak memory: models only
                continue
            module = loaded.get(cache_module.file_key(outcome.display_path, outcome.digest))
            if module is None:
                lost.append(outcome.display_path)
            else:
                modules.append(module)
        for again in reparse(lost) if lost else ():
            if again.module_blob is not None:
                modules.append(pickle.loads(again.module_blob))
        from dbaudit.analysis import Program, analyze
        from dbaudit.indexes.static_workload import collect

        analysis = analyze(modules)
        facts = collect(Program(sorted(modules, key=lambda m: m.path)))
        # freed while the collector is still paused: re-enabled with a million models alive,
        # its first pass would walk them all once more (0.6 s) just before they are dropped
        del modules, loaded
    result = _Result(list(analysis.findings), list(analysis.good_practices), facts)
    if tree_key:
        store.put_analysis(tree_key, result)
    return result, False


def _select_findings(
    findings: Iterable[Finding],
    metas: dict[str, FileMeta],
    select: tuple[str, ...] | None,
    ignore: tuple[str, ...],
    min_severity: Severity,
) -> tuple[list[Finding], int, int]:
    kept: list[Finding] = []
    suppressed = filtered = 0
    for finding in findings:
        if not rule_selected(finding.rule, select, ignore) or finding.severity < min_severity:
            filtered += 1
            continue
        meta = metas.get(finding.path)
        if meta is not None and meta.suppressions.covers(finding):
            suppressed += 1
            continue
        kept.append(finding)
    kept.sort(key=lambda f: (f.path, f.line, f.col, f.rule))
    return kept, suppressed, filtered


def rule_selected(rule: str, select: tuple[str, ...] | None, ignore: tuple[str, ...]) -> bool:
    """Codes or prefixes, as in ruff: the longest matching pattern decides."""
    rule = rule.upper()
    if select is None:
        chosen = 0
    else:
        chosen = max((len(s) for s in select if rule.startswith(s.upper())), default=-1)
    dropped = max((len(i) for i in ignore if rule.startswith(i.upper())), default=-1)
    return chosen >= 0 and dropped < chosen


def _practice_order(practice: GoodPractice) -> tuple[str, int]:
    return (practice.path, practice.line)


def _skipped(outcome: FileOutcome) -> SkippedFile:
    return SkippedFile(outcome.display_path, outcome.meta.skip_reason)


def _partly(outcome: FileOutcome) -> SkippedFile:
    """A file analyzed with a caveat (recovered syntax errors): listed so the user sees it.

    The details go in parentheses: the text report groups reasons by what precedes them.
    """
    return SkippedFile(outcome.display_path, f"partly analyzed ({'; '.join(outcome.meta.notes)})")


def _forget_tsconfigs() -> None:
    """tsconfig.json files may have changed since the last scan in this process."""
    resolution = sys.modules.get("dbaudit.frontends.typescript.resolution")
    if resolution is None:  # never imported: nothing remembered (and no import cost)
        return
    resolution.load_tsconfig.cache_clear()
    resolution._read_tsconfig.cache_clear()
