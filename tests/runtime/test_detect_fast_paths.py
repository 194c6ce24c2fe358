"""``detect()`` over units that exercise every detector and every fast path, pinned exactly.

The detectors skip work when a unit cannot hold a finding (no statement repeats, fewer than two
SELECTs in any task, no query reaches the slow threshold) and read the events' fields at C
speed (issue #5). These units pin that the findings stay what the plain per-event
implementation found: every message, evidence number, suppression and claimed query, and (as a
digest) every call chain, fix and problem text. ``EXPECTED`` was produced by that
implementation (commit f390419, before the fast paths); a change of wording or of a rule
updates it on purpose (print ``snapshot(detect(...))`` for each scenario).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import pytest

from dbaudit.findings import Finding
from dbaudit.runtime.detect import DetectConfig, Detection, detect, repetition_groups
from dbaudit.runtime.events import CallSite, QueryEvent, Results
from dbaudit.sql import fingerprint

LocateLoop = Callable[[tuple[CallSite, ...]], "tuple[int, int] | None"]
Scenario = tuple[list[QueryEvent], DetectConfig, "LocateLoop | None"]
Pinned = tuple[list[str], list[str], list[int], str]  # findings, suppressed, claimed, digest

DAL = CallSite("app/dal.py", 10, "RendersDAL.by_chain")
DAL_USER = CallSite("app/dal.py", 20, "UsersDAL.get")
DAL_X = CallSite("app/dal.py", 40, "user_for_invoice")
DAL_Y = CallSite("app/dal.py", 50, "user_for_refund")
IN_LOOP = CallSite("app/service.py", 20, "load")  # in the loop that starts at line 19
IN_LOOP_X = CallSite("app/service.py", 60, "reconcile")  # both in the loop at line 59
IN_LOOP_Y = CallSite("app/service.py", 61, "reconcile")
SERVICE = CallSite("app/service.py", 30, "dashboard")
SERVICE_B = CallSite("app/service.py", 31, "dashboard")
SERVICE_C = CallSite("app/service.py", 32, "dashboard")
ROUTE = CallSite("app/api.py", 5, "get_dashboard")
LOOPS = {("app/service.py", 20): 19, ("app/service.py", 60): 59, ("app/service.py", 61): 59}

BY_CHAIN = "SELECT * FROM renders WHERE renders.chain_id = $1"
GET_USER = "SELECT * FROM users WHERE users.id = $1"
GET_PROJECTS = "SELECT * FROM projects WHERE projects.user_id = $1"
GET_CREDITS = "SELECT * FROM user_credits WHERE user_credits.user_id = $1"
CHAINS_IN = "SELECT * FROM render_chains WHERE render_chains.project_id IN ($1, $2, $3)"
INSERT_LOG = "INSERT INTO audit_log (user_id, action) VALUES ($1, $2)"


def locate(stack: tuple[CallSite, ...]) -> tuple[int, int] | None:
    """What runtime/loops.py answers from the source, for this fictional app."""
    for index, site in enumerate(stack):
        header = LOOPS.get((site.path, site.line))
        if header is not None:
            return index, header
    return None


class Unit:
    """Builds one unit's events in order: start times, durations and seqs as a clock would."""

    def __init__(self) -> None:
        self.events: list[QueryEvent] = []
        self.now = 0.0

    def q(
        self,
        sql: str,
        params: tuple[int, ...] = (),
        *,
        stack: tuple[CallSite, ...] = (DAL, SERVICE, ROUTE),
        ms: float = 1.0,
        task: int | None = 1,
        results: frozenset[int] | Results | None = frozenset(),
        ignored: bool = False,
        error: str | None = None,
        many: bool = False,
        relationship: str | None = None,
    ) -> Unit:
        self.events.append(
            QueryEvent(
                len(self.events),
                fingerprint(sql),
                self.now,
                ms / 1000,
                None,
                stack,
                1,
                task,
                tuple(hash(p) for p in params),
                results,
                ignored,
                "test",
                many,
                error,
                None,
                relationship=relationship,
            )
        )
        self.now += ms / 1000 + 0.0001
        return self


def hashes(*values: int) -> frozenset[int]:
    return frozenset(hash(v) for v in values)


CONFIG = DetectConfig()


def _empty() -> Scenario:
    return [], CONFIG, None


def _one_query() -> Scenario:
    return Unit().q(GET_USER, (1,)).events, CONFIG, locate


def _independent_reads_one_task() -> Scenario:
    """No statement repeats: no N+1 or duplicate work, one run of four."""
    u = Unit().q(GET_USER, (1,), stack=(DAL_USER, SERVICE))
    u.q(GET_PROJECTS, (1,), stack=(DAL, SERVICE_B)).q(GET_CREDITS, (1,), stack=(DAL, SERVICE_C))
    u.q("SELECT count(*) FROM renders", (), ms=3.0)
    return u.events, CONFIG, locate


def _dependent_reads() -> Scenario:
    """Each query takes a value from the previous result: no run."""
    u = Unit().q(GET_USER, (1,), results=hashes(1, 7))
    u.q(GET_PROJECTS, (7,), results=Results([(11, "a"), (12, "b"), (13, "c")]))
    u.q(CHAINS_IN, (11, 12, 13), results=hashes(100))
    u.q(BY_CHAIN, (100,))
    return u.events, CONFIG, locate


def _unseen_results() -> Scenario:
    """A value of unknown origin after a result that was not seen: assumed dependent."""
    u = Unit().q(GET_USER, (1,), results=None).q(GET_PROJECTS, (8,), results=None)
    u.q(GET_CREDITS, (9,))
    return u.events, CONFIG, locate


def _repeats_below_threshold() -> Scenario:
    u = Unit().q(BY_CHAIN, (1,), stack=(DAL, IN_LOOP)).q(BY_CHAIN, (2,), stack=(DAL, IN_LOOP))
    u.q(GET_USER, (1,), stack=(DAL_USER, SERVICE))
    return u.events, CONFIG, locate


def _repeats_from_different_chains() -> Scenario:
    """A statement repeats, but never twice from one chain: no group of two."""
    u = Unit()
    for i, stack in enumerate([(DAL, SERVICE), (DAL, SERVICE_B), (DAL, SERVICE_C)]):
        u.q(BY_CHAIN, (i,), stack=stack)
    return u.events, CONFIG, locate


def _n_plus_one_under_a_loop() -> Scenario:
    u = Unit().q(GET_PROJECTS, (1,), results=hashes(*range(20)), stack=(DAL, SERVICE))
    for i in range(20):
        u.q(BY_CHAIN, (i,), stack=(DAL, IN_LOOP, ROUTE), ms=0.5)
    u.q(GET_CREDITS, (1,), stack=(DAL_USER, SERVICE_B))
    u.q(GET_USER, (1,), stack=(DAL_USER, SERVICE_C))
    return u.events, CONFIG, locate


def _n_plus_one_without_locate() -> Scenario:
    events, config, _ = _n_plus_one_under_a_loop()
    return events, config, None


def _one_loop_two_helpers() -> Scenario:
    u = Unit()
    for i in range(6):
        u.q(GET_USER, (i,), stack=(DAL_X, IN_LOOP_X) if i % 2 else (DAL_Y, IN_LOOP_Y))
    return u.events, CONFIG, locate


def _single_run_breaks_a_merge() -> Scenario:
    """Two repeated chains under one loop with a single execution between them."""
    u = (
        Unit()
        .q(GET_USER, (0,), stack=(DAL_X, IN_LOOP_X))
        .q(GET_USER, (1,), stack=(DAL_Y, IN_LOOP_Y))
    )
    for i in range(2, 8):
        u.q(GET_USER, (i,), stack=(DAL_X, IN_LOOP_X) if i % 2 else (DAL_Y, IN_LOOP_Y))
    u.q(GET_USER, (9,), stack=(CallSite("app/dal.py", 70, "other"), IN_LOOP_X))
    for i in range(10, 14):
        u.q(GET_USER, (i,), stack=(DAL, IN_LOOP_Y))
    return u.events, CONFIG, locate


def _equal_chains_as_distinct_tuples() -> Scenario:
    """Chains equal by value but not the same tuple (or the same frames) are one place."""
    u = Unit()
    for i in range(5):
        stack = (CallSite("app/dal.py", 10, "RendersDAL.by_chain"), CallSite(*_SITE_ARGS))
        u.q(BY_CHAIN, (i,), stack=stack)
    return u.events, CONFIG, None


_SITE_ARGS = ("app/service.py", 20, "load")


def _duplicates_from_two_sites() -> Scenario:
    u = Unit()
    for stack in [(DAL_USER, SERVICE), (DAL_USER, SERVICE_B)] * 3:
        u.q(GET_USER, (1,), stack=stack)
    u.q(GET_USER, (2,), stack=(DAL_USER, SERVICE))
    return u.events, CONFIG, locate


def _duplicate_without_a_stack() -> Scenario:
    u = Unit().q(GET_USER, (1,), stack=()).q(GET_USER, (1,), stack=())
    return u.events, CONFIG, locate


def _loop_with_repeated_keys() -> Scenario:
    """An N+1 that claims its repeats: no duplicate reported on top."""
    u = Unit()
    for i in range(9):
        u.q(BY_CHAIN, (i % 3,), stack=(DAL, IN_LOOP))
    return u.events, CONFIG, locate


def _writes_and_a_barrier() -> Scenario:
    u = Unit().q(GET_USER, (1,), stack=(DAL_USER, SERVICE))
    for i in range(12):
        u.q(INSERT_LOG, (i, 5), stack=(DAL, IN_LOOP))
    u.q("UPDATE renders SET chain_id = NULL WHERE renders.id = $1", (3,))
    u.q(GET_PROJECTS, (1,), stack=(DAL, SERVICE_B)).q(GET_CREDITS, (1,), stack=(DAL, SERVICE_C))
    return u.events, CONFIG, locate


def _executemany_and_ddl() -> Scenario:
    u = Unit()
    for i in range(4):
        u.q(INSERT_LOG, (i, 1), many=True)
    u.q("CREATE TABLE tmp_x (id int)").q("CREATE TABLE tmp_x (id int)")
    u.q(GET_USER, (1,), stack=(DAL_USER, SERVICE)).q(GET_PROJECTS, (1,), stack=(DAL, SERVICE_B))
    return u.events, CONFIG, locate


def _several_tasks() -> Scenario:
    """Three tasks, each with its own independent reads; reads outside any task are left out."""
    u = Unit()
    for n in (1, 2, 3):
        u.q(GET_USER, (n,), task=n, stack=(DAL_USER, CallSite("app/jobs.py", n, "job")))
    for n, task in ((1, 1), (2, 2), (3, 3), (0, None)):
        u.q(GET_PROJECTS, (n,), task=task, stack=(DAL, CallSite("app/jobs.py", 10 + n, "job")))
    u.q(GET_CREDITS, (1,), task=2, stack=(DAL, SERVICE_C)).q(GET_CREDITS, (2,), task=None)
    u.q(GET_PROJECTS, (5,), task=None, stack=(DAL, SERVICE_C))
    return u.events, CONFIG, locate


def _many_busy_tasks() -> Scenario:
    """More tasks than the grouping by comparison handles (grouped in one Python pass), each
    running the same two independent reads: one finding, "12 times"."""
    u = Unit()
    for task in range(12):
        u.q(GET_USER, (task,), task=100 + task, stack=(DAL_USER, SERVICE))
        u.q(GET_CREDITS, (task,), task=100 + task, stack=(DAL, SERVICE_B))
    u.q(GET_PROJECTS, (1,), task=None)
    return u.events, DetectConfig(n_plus_one_threshold=50), locate


def _out_of_start_order() -> Scenario:
    """Events recorded in completion order; the task's run is read in start order."""
    u = (
        Unit()
        .q(GET_USER, (1,), stack=(DAL_USER, SERVICE))
        .q(GET_PROJECTS, (1,), stack=(DAL, SERVICE_B))
    )
    u.q(GET_CREDITS, (1,), stack=(DAL, SERVICE_C))
    first, second, third = u.events
    u.events = [first, third._replace(started=second.started - 0.0001), second]
    return u.events, CONFIG, locate


def _slow_queries() -> Scenario:
    u = Unit().q(GET_USER, (1,), ms=150.0).q(GET_USER, (2,), ms=120.0, stack=(DAL_USER, SERVICE_B))
    u.q(GET_PROJECTS, (1,), ms=1500.0, task=None).q(GET_CREDITS, (1,), ms=99.9)
    return u.events, CONFIG, locate


def _slow_threshold_configured() -> Scenario:
    u = Unit().q(GET_USER, (1,), ms=3.0).q(GET_PROJECTS, (1,), ms=2.0, task=None)
    return u.events, DetectConfig(slow_query_ms=2.0), locate


def _slow_exactly_at_threshold() -> Scenario:
    u = Unit().q(GET_USER, (1,), ms=1.0).q(GET_PROJECTS, (1,), ms=2.0, task=None)
    return u.events, DetectConfig(slow_query_ms=2.0), locate


def _ignored_and_failed() -> Scenario:
    u = Unit()
    for i in range(6):
        u.q(BY_CHAIN, (i,), stack=(DAL, IN_LOOP), ignored=i < 4)
    for i in range(3):
        u.q(GET_USER, (i,), stack=(DAL_USER, IN_LOOP), error="UndefinedTable")
    u.q(GET_PROJECTS, (1,), ms=500.0, ignored=True)
    return u.events, CONFIG, locate


def _all_ignored() -> Scenario:
    u = Unit().q(GET_USER, (1,), ignored=True, ms=900.0).q(GET_USER, (2,), error="Timeout")
    return u.events, CONFIG, locate


def _allow_patterns() -> Scenario:
    events, _, _ = _n_plus_one_under_a_loop()
    u = Unit()
    u.events, u.now = list(events), events[-1].started + 0.01
    u.q(GET_USER, (1,), ms=300.0, stack=(DAL_USER, SERVICE_C), task=None)
    return u.events, DetectConfig(allow=("*renders.chain_id*", "app/api.py")), locate


def _ignore_sql() -> Scenario:
    events, _, _ = _n_plus_one_under_a_loop()
    return events, DetectConfig(ignore_sql=("select * from renders where*",)), locate


def _orm_lazy_loads() -> Scenario:
    u = Unit().q(GET_PROJECTS, (1,), stack=(DAL, SERVICE))
    for i in range(2):
        u.q(BY_CHAIN, (i,), stack=(DAL, IN_LOOP), relationship="Project.renders")
    for i in range(3):
        u.q(GET_USER, (i,), stack=(DAL_USER, IN_LOOP), relationship="Render.user (many-to-one)")
    for i in range(2):
        sql = "SELECT projects.description FROM projects WHERE projects.id = $1"
        u.q(sql, (i,), stack=(DAL_X, IN_LOOP), relationship="Project.description (deferred)")
    for i in range(2):
        sql = "SELECT * FROM projects WHERE projects.id = $1"
        u.q(sql, (i,), stack=(DAL_Y, IN_LOOP), relationship="Project (expired)")
    return u.events, CONFIG, locate


def _mixed_lazy_labels() -> Scenario:
    u = Unit()
    for i, label in enumerate(["Project.renders", None, "Project.renders"]):
        u.q(BY_CHAIN, (i,), stack=(DAL, IN_LOOP), relationship=label)
    return u.events, CONFIG, locate


def _in_list_from_a_result() -> Scenario:
    u = Unit().q(GET_PROJECTS, (1,), results=Results([(11, 1), (12, 1), (13, 1)]))
    u.q(GET_USER, (2,), results=hashes(2, 3))
    u.q(CHAINS_IN, (11, 12, 13), stack=(DAL, SERVICE_B), results=hashes(5))
    u.q(GET_CREDITS, (1,), stack=(DAL, SERVICE_C))
    return u.events, CONFIG, locate


def _claimed_then_sequential() -> Scenario:
    u = Unit().q(GET_USER, (1,), stack=(DAL_USER, SERVICE))
    for i in range(5):
        u.q(BY_CHAIN, (i,), stack=(DAL, IN_LOOP))
    u.q(GET_CREDITS, (1,), stack=(DAL, SERVICE_C)).q(GET_PROJECTS, (1,), stack=(DAL, SERVICE_B))
    return u.events, CONFIG, locate


def _same_run_twice() -> Scenario:
    """One run shape in two tasks: one finding, "2 times"."""
    u = Unit()
    for task in (1, 2):
        u.q(GET_USER, (task,), task=task, stack=(DAL_USER, SERVICE))
        u.q(GET_PROJECTS, (task,), task=task, stack=(DAL, SERVICE_B))
    return u.events, DetectConfig(sequential_min_saving_ms=0.5), locate


def _saving_below_minimum() -> Scenario:
    u = (
        Unit()
        .q(GET_USER, (1,), stack=(DAL_USER, SERVICE))
        .q(GET_PROJECTS, (1,), stack=(DAL, SERVICE_B))
    )
    return u.events, DetectConfig(sequential_min_saving_ms=5.0), locate


SCENARIOS: dict[str, Callable[[], Scenario]] = {
    "empty": _empty,
    "one_query": _one_query,
    "independent_reads_one_task": _independent_reads_one_task,
    "dependent_reads": _dependent_reads,
    "unseen_results": _unseen_results,
    "repeats_below_threshold": _repeats_below_threshold,
    "repeats_from_different_chains": _repeats_from_different_chains,
    "n_plus_one_under_a_loop": _n_plus_one_under_a_loop,
    "n_plus_one_without_locate": _n_plus_one_without_locate,
    "one_loop_two_helpers": _one_loop_two_helpers,
    "single_run_breaks_a_merge": _single_run_breaks_a_merge,
    "equal_chains_as_distinct_tuples": _equal_chains_as_distinct_tuples,
    "duplicates_from_two_sites": _duplicates_from_two_sites,
    "duplicate_without_a_stack": _duplicate_without_a_stack,
    "loop_with_repeated_keys": _loop_with_repeated_keys,
    "writes_and_a_barrier": _writes_and_a_barrier,
    "executemany_and_ddl": _executemany_and_ddl,
    "several_tasks": _several_tasks,
    "many_busy_tasks": _many_busy_tasks,
    "out_of_start_order": _out_of_start_order,
    "slow_queries": _slow_queries,
    "slow_threshold_configured": _slow_threshold_configured,
    "slow_exactly_at_threshold": _slow_exactly_at_threshold,
    "ignored_and_failed": _ignored_and_failed,
    "all_ignored": _all_ignored,
    "allow_patterns": _allow_patterns,
    "ignore_sql": _ignore_sql,
    "orm_lazy_loads": _orm_lazy_loads,
    "mixed_lazy_labels": _mixed_lazy_labels,
    "in_list_from_a_result": _in_list_from_a_result,
    "claimed_then_sequential": _claimed_then_sequential,
    "same_run_twice": _same_run_twice,
    "saving_below_minimum": _saving_below_minimum,
}


def snapshot(detection: Detection) -> Pinned:
    """Each finding in one line (rule, severity, place, message, evidence), each suppression
    with its reason, the claimed queries, and a digest of everything the findings carry (call
    chains, fixes, problems, confidence)."""
    everything = repr(
        (
            [_everything(f) for f in detection.findings],
            [(_everything(s.finding), s.reason) for s in detection.suppressed],
        )
    )
    return (
        [_line(f) for f in detection.findings],
        [f"{_line(s.finding)} -- {s.reason}" for s in detection.suppressed],
        sorted(detection.claimed),
        hashlib.sha256(everything.encode()).hexdigest()[:16],
    )


def _line(f: Finding) -> str:
    assert f.evidence is not None
    e = f.evidence
    return (
        f"{f.rule} {f.severity.name} {f.path}:{f.line} {f.function}: {f.message} "
        f"[{e.queries} q, {e.total_ms} ms; unit {e.unit_queries} q, {e.unit_ms} ms]"
    )


def _everything(f: Finding) -> tuple[object, ...]:
    assert f.evidence is not None and f.fix is not None
    e = f.evidence
    return (
        f.rule,
        f.severity.name,
        f.message,
        (f.path, f.line, f.end_line, f.col, f.function, f.code, f.source, f.confidence),
        (f.query_cost, f.fixed_query_cost),
        [(h.path, h.line, h.function, h.detail) for h in f.call_chain],
        (f.fix.summary, f.fix.code, f.fix.language),
        f.problem,
        (e.queries, e.total_ms, e.unit, e.fingerprint, e.unit_queries, e.unit_ms),
    )


# fmt: off
EXPECTED: dict[str, Pinned] = {
    "empty": ([], [], [], "1391876e63685b7d"),
    "one_query": ([], [], [], "1391876e63685b7d"),
    "independent_reads_one_task": (
        [
            "DBA105 MEDIUM app/dal.py:20 UsersDAL.get: 4 independent queries ran one after "
            "another in one task; running them concurrently would save 3.0 ms of 6.0 ms [4 q, 6.0"
            " ms; unit 4 q, 6.0 ms]",
        ],
        [],
        [],
        "95022ca8c2e7495e",
    ),
    "dependent_reads": ([], [], [], "1391876e63685b7d"),
    "unseen_results": ([], [], [], "1391876e63685b7d"),
    "repeats_below_threshold": (
        [
            "DBA105 MEDIUM app/dal.py:10 RendersDAL.by_chain: 2 independent queries ran one after"
            " another in one task; running them concurrently would save 1.0 ms of 2.0 ms [2 q, "
            "2.0 ms; unit 3 q, 3.0 ms]",
        ],
        [],
        [],
        "e671c4f504f8691a",
    ),
    "repeats_from_different_chains": (
        [
            "DBA105 MEDIUM app/dal.py:10 RendersDAL.by_chain: 3 independent queries ran one after"
            " another in one task; running them concurrently would save 2.0 ms of 3.0 ms [3 q, "
            "3.0 ms; unit 3 q, 3.0 ms]",
        ],
        [],
        [],
        "29edeab710730d1e",
    ),
    "n_plus_one_under_a_loop": (
        [
            "DBA101 HIGH app/service.py:20 load: N+1: the same query ran 20 times from one call "
            "site (20 different parameter sets, 10.0 ms) [20 q, 10.0 ms; unit 23 q, 13.0 ms]",
            "DBA105 MEDIUM app/dal.py:20 UsersDAL.get: 2 independent queries ran one after "
            "another in one task; running them concurrently would save 1.0 ms of 2.0 ms [2 q, 2.0"
            " ms; unit 23 q, 13.0 ms]",
        ],
        [],
        [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20],
        "1f387891ccaf711e",
    ),
    "n_plus_one_without_locate": (
        [
            "DBA101 HIGH app/dal.py:10 RendersDAL.by_chain: N+1: the same query ran 20 times from"
            " one call site (20 different parameter sets, 10.0 ms) [20 q, 10.0 ms; unit 23 q, "
            "13.0 ms]",
            "DBA105 MEDIUM app/dal.py:20 UsersDAL.get: 2 independent queries ran one after "
            "another in one task; running them concurrently would save 1.0 ms of 2.0 ms [2 q, 2.0"
            " ms; unit 23 q, 13.0 ms]",
        ],
        [],
        [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20],
        "3161bf7971168a69",
    ),
    "one_loop_two_helpers": (
        [
            "DBA101 MEDIUM app/service.py:61 reconcile: N+1: the same query ran 6 times from one "
            "call site (6 different parameter sets, 6.0 ms) [6 q, 6.0 ms; unit 6 q, 6.0 ms]",
        ],
        [],
        [0, 1, 2, 3, 4, 5],
        "39304ab1f08bf2b1",
    ),
    "single_run_breaks_a_merge": (
        [
            "DBA101 MEDIUM app/service.py:60 reconcile: N+1: the same query ran 8 times from one "
            "call site (8 different parameter sets, 8.0 ms) [8 q, 8.0 ms; unit 13 q, 13.0 ms]",
            "DBA101 MEDIUM app/service.py:61 reconcile: N+1: the same query ran 4 times from one "
            "call site (4 different parameter sets, 4.0 ms) [4 q, 4.0 ms; unit 13 q, 13.0 ms]",
        ],
        [],
        [0, 1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12],
        "2716abcd182bab19",
    ),
    "equal_chains_as_distinct_tuples": (
        [
            "DBA101 MEDIUM app/dal.py:10 RendersDAL.by_chain: N+1: the same query ran 5 times "
            "from one call site (5 different parameter sets, 5.0 ms) [5 q, 5.0 ms; unit 5 q, 5.0 "
            "ms]",
        ],
        [],
        [0, 1, 2, 3, 4],
        "00288a8995ef45f4",
    ),
    "duplicates_from_two_sites": (
        [
            "DBA101 MEDIUM app/dal.py:20 UsersDAL.get: N+1: the same query ran 4 times from one "
            "call site (2 different parameter sets, 4.0 ms) [4 q, 4.0 ms; unit 7 q, 7.0 ms]",
            "DBA301 LOW app/dal.py:20 UsersDAL.get: Duplicate query: the same statement with the "
            "same parameters ran 3 times (3.0 ms) [3 q, 3.0 ms; unit 7 q, 7.0 ms]",
        ],
        [],
        [0, 1, 2, 3, 4, 5, 6],
        "78d3e8cc42d94000",
    ),
    "duplicate_without_a_stack": (
        [
            "DBA301 LOW <unknown>:0 : Duplicate query: the same statement with the same "
            "parameters ran 2 times (2.0 ms) [2 q, 2.0 ms; unit 2 q, 2.0 ms]",
        ],
        [],
        [0, 1],
        "1c4e70a88d6b9517",
    ),
    "loop_with_repeated_keys": (
        [
            "DBA101 MEDIUM app/service.py:20 load: N+1: the same query ran 9 times from one call "
            "site (3 different parameter sets, 9.0 ms) [9 q, 9.0 ms; unit 9 q, 9.0 ms]",
        ],
        [],
        [0, 1, 2, 3, 4, 5, 6, 7, 8],
        "dd2bd36ca5dd47b1",
    ),
    "writes_and_a_barrier": (
        [
            "DBA103 HIGH app/service.py:20 load: Row-by-row writes: the same INSERT ran 12 times "
            "from one call site (12 different parameter sets, 12.0 ms) [12 q, 12.0 ms; unit 16 q,"
            " 16.0 ms]",
            "DBA105 MEDIUM app/dal.py:10 RendersDAL.by_chain: 2 independent queries ran one after"
            " another in one task; running them concurrently would save 1.0 ms of 2.0 ms [2 q, "
            "2.0 ms; unit 16 q, 16.0 ms]",
        ],
        [],
        [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12],
        "5d2519b6a2a195a2",  # b2e5964: a multi-column INSERT's batch repeats the whole row
    ),
    "executemany_and_ddl": (
        [
            "DBA105 MEDIUM app/dal.py:20 UsersDAL.get: 2 independent queries ran one after "
            "another in one task; running them concurrently would save 1.0 ms of 2.0 ms [2 q, 2.0"
            " ms; unit 8 q, 8.0 ms]",
        ],
        [],
        [],
        "6a99c55d95e26865",
    ),
    "several_tasks": (
        [
            "DBA105 MEDIUM app/dal.py:20 UsersDAL.get: 2 independent queries ran one after "
            "another in one task; running them concurrently would save 1.0 ms of 2.0 ms [2 q, 2.0"
            " ms; unit 10 q, 10.0 ms]",
            "DBA105 MEDIUM app/dal.py:20 UsersDAL.get: 2 independent queries ran one after "
            "another in one task; running them concurrently would save 1.0 ms of 2.0 ms [2 q, 2.0"
            " ms; unit 10 q, 10.0 ms]",
            "DBA105 MEDIUM app/dal.py:20 UsersDAL.get: 2 independent queries ran one after "
            "another in one task; running them concurrently would save 1.0 ms of 2.0 ms [2 q, 2.0"
            " ms; unit 10 q, 10.0 ms]",
        ],
        [],
        [],
        "799da9cf45ae8a46",
    ),
    "many_busy_tasks": (
        [
            "DBA105 MEDIUM app/dal.py:20 UsersDAL.get: 2 independent queries ran one after "
            "another in one task (12 times); running them concurrently would save 12.0 ms of 24.0"
            " ms [24 q, 24.0 ms; unit 25 q, 25.0 ms]",
        ],
        [],
        [],
        "8c66f5cbab4b9006",
    ),
    "out_of_start_order": (
        [
            "DBA105 MEDIUM app/dal.py:20 UsersDAL.get: 3 independent queries ran one after "
            "another in one task; running them concurrently would save 2.0 ms of 3.0 ms [3 q, 3.0"
            " ms; unit 3 q, 3.0 ms]",
        ],
        [],
        [],
        "02a532dfd94aae22",
    ),
    "slow_queries": (
        [
            "DBA105 MEDIUM app/dal.py:10 RendersDAL.by_chain: 3 independent queries ran one after"
            " another in one task; running them concurrently would save 219.9 ms of 369.9 ms [3 "
            "q, 369.9 ms; unit 4 q, 1869.9 ms]",
            "DBA302 MEDIUM app/dal.py:10 RendersDAL.by_chain: Slow query: 150.0 ms (threshold 100"
            " ms), 2 slow executions [2 q, 270.0 ms; unit 4 q, 1869.9 ms]",
            "DBA302 HIGH app/dal.py:10 RendersDAL.by_chain: Slow query: 1500.0 ms (threshold 100 "
            "ms) [1 q, 1500.0 ms; unit 4 q, 1869.9 ms]",
        ],
        [],
        [],
        "b5764c2dfd6ad633",
    ),
    "slow_threshold_configured": (
        [
            "DBA302 MEDIUM app/dal.py:10 RendersDAL.by_chain: Slow query: 3.0 ms (threshold 2 ms)"
            " [1 q, 3.0 ms; unit 2 q, 5.0 ms]",
            "DBA302 MEDIUM app/dal.py:10 RendersDAL.by_chain: Slow query: 2.0 ms (threshold 2 ms)"
            " [1 q, 2.0 ms; unit 2 q, 5.0 ms]",
        ],
        [],
        [],
        "3b3f31ef1a237cd7",
    ),
    "slow_exactly_at_threshold": (
        [
            "DBA302 MEDIUM app/dal.py:10 RendersDAL.by_chain: Slow query: 2.0 ms (threshold 2 ms)"
            " [1 q, 2.0 ms; unit 2 q, 3.0 ms]",
        ],
        [],
        [],
        "f6c966c7d39de71e",
    ),
    "ignored_and_failed": (
        [
            "DBA105 MEDIUM app/dal.py:10 RendersDAL.by_chain: 2 independent queries ran one after"
            " another in one task; running them concurrently would save 1.0 ms of 2.0 ms [2 q, "
            "2.0 ms; unit 10 q, 509.0 ms]",
        ],
        [],
        [],
        "d5d764a3dffd0f73",
    ),
    "all_ignored": ([], [], [], "1391876e63685b7d"),
    "allow_patterns": (
        [
            "DBA301 LOW app/dal.py:20 UsersDAL.get: Duplicate query: the same statement with the "
            "same parameters ran 2 times (301.0 ms) [2 q, 301.0 ms; unit 24 q, 313.0 ms]",
            "DBA302 MEDIUM app/dal.py:20 UsersDAL.get: Slow query: 300.0 ms (threshold 100 ms) [1"
            " q, 300.0 ms; unit 24 q, 313.0 ms]",
        ],
        [
            "DBA101 HIGH app/service.py:20 load: N+1: the same query ran 20 times from one call "
            "site (20 different parameter sets, 10.0 ms) [20 q, 10.0 ms; unit 24 q, 313.0 ms] -- "
            "allowed by pattern '*renders.chain_id*'",
        ],
        [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 22, 23],
        "71249c74f51a5a1b",
    ),
    "ignore_sql": (
        [
            "DBA105 MEDIUM app/dal.py:10 RendersDAL.by_chain: 3 independent queries ran one after"
            " another in one task; running them concurrently would save 2.0 ms of 3.0 ms [3 q, "
            "3.0 ms; unit 23 q, 13.0 ms]",
        ],
        [],
        [],
        "334195a5a52b87c8",
    ),
    "orm_lazy_loads": (
        [
            "DBA101 MEDIUM app/service.py:20 load: N+1: Project.renders lazy-loaded for 2 "
            "projects (2 queries, 2.0 ms) [2 q, 2.0 ms; unit 10 q, 10.0 ms]",
            "DBA101 MEDIUM app/service.py:20 load: N+1: Render.user lazy-loaded for 3 renders (3 "
            "queries, 3.0 ms) [3 q, 3.0 ms; unit 10 q, 10.0 ms]",
            "DBA101 MEDIUM app/service.py:20 load: N+1: Project.description reloaded for 2 "
            "projects one by one (2 queries, 2.0 ms) [2 q, 2.0 ms; unit 10 q, 10.0 ms]",
            "DBA101 MEDIUM app/service.py:20 load: N+1: expired Project attributes reloaded for 2"
            " projects one by one (2 queries, 2.0 ms) [2 q, 2.0 ms; unit 10 q, 10.0 ms]",
        ],
        [],
        [1, 2, 3, 4, 5, 6, 7, 8, 9],
        "e434cb5e5af4175a",
    ),
    "mixed_lazy_labels": (
        [
            "DBA101 MEDIUM app/service.py:20 load: N+1: the same query ran 3 times from one call "
            "site (3 different parameter sets, 3.0 ms) [3 q, 3.0 ms; unit 3 q, 3.0 ms]",
        ],
        [],
        [0, 1, 2],
        "e1ae1b44f6812fb9",
    ),
    "in_list_from_a_result": (
        [
            "DBA105 MEDIUM app/dal.py:10 RendersDAL.by_chain: 2 independent queries ran one after"
            " another in one task; running them concurrently would save 1.0 ms of 2.0 ms [2 q, "
            "2.0 ms; unit 4 q, 4.0 ms]",
        ],
        [],
        [],
        "ae83502ebe18211d",
    ),
    "claimed_then_sequential": (
        [
            "DBA101 MEDIUM app/service.py:20 load: N+1: the same query ran 5 times from one call "
            "site (5 different parameter sets, 5.0 ms) [5 q, 5.0 ms; unit 8 q, 8.0 ms]",
            "DBA105 MEDIUM app/dal.py:10 RendersDAL.by_chain: 2 independent queries ran one after"
            " another in one task; running them concurrently would save 1.0 ms of 2.0 ms [2 q, "
            "2.0 ms; unit 8 q, 8.0 ms]",
        ],
        [],
        [1, 2, 3, 4, 5],
        "13f5e04401cf7954",
    ),
    "same_run_twice": (
        [
            "DBA105 MEDIUM app/dal.py:20 UsersDAL.get: 2 independent queries ran one after "
            "another in one task (2 times); running them concurrently would save 2.0 ms of 4.0 ms"
            " [4 q, 4.0 ms; unit 4 q, 4.0 ms]",
        ],
        [],
        [],
        "41440f5353053602",
    ),
    "saving_below_minimum": ([], [], [], "1391876e63685b7d"),
}
# fmt: on


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_findings_are_exactly_the_pinned_ones(name: str) -> None:
    events, config, locate_loop = SCENARIOS[name]()
    assert snapshot(detect(events, config, "unit", locate_loop)) == EXPECTED[name]


def test_every_scenario_is_pinned_and_every_detector_is_exercised() -> None:
    assert sorted(EXPECTED) == sorted(SCENARIOS)
    rules = {line.split()[0] for findings, _, _, _ in EXPECTED.values() for line in findings}
    assert rules == {"DBA101", "DBA103", "DBA105", "DBA301", "DBA302"}
    assert any(suppressed for _, suppressed, _, _ in EXPECTED.values())


def test_nothing_repeats_means_single_groups_and_no_finding() -> None:
    events, config, locate_loop = _independent_reads_one_task()
    assert [len(g.events) for g in repetition_groups(events, locate_loop)] == [1, 1, 1, 1]
    assert [f.rule for f in detect(events, config, "unit", locate_loop).findings] == ["DBA105"]
