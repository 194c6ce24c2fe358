"""Detectors over synthetic events, in pairs: the problem is found / its fixed shape is not."""

from __future__ import annotations

import doctest
import sys

import pytest

from dbaudit.runtime.detect import (
    DetectConfig,
    OrmLoad,
    detect,
    independent_runs,
    repetition_groups,
    suggest_batch,
)
from dbaudit.runtime.events import CallSite, QueryEvent
from dbaudit.sql import fingerprint

LOOP = (CallSite("app/dal.py", 10, "RendersDAL.by_chain"), CallSite("app/service.py", 20, "load"))
OTHER = (CallSite("app/dal.py", 10, "RendersDAL.by_chain"), CallSite("app/service.py", 31, "other"))
BY_CHAIN = "SELECT * FROM renders WHERE renders.chain_id = $1"


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.seq = 0


def ev(
    clock: Clock,
    sql: str,
    params: tuple[object, ...] = (),
    *,
    stack: tuple[CallSite, ...] = LOOP,
    ms: float = 1.0,
    task: int | None = 1,
    results: frozenset[int] | None = None,
    ignored: bool = False,
    relationship: str | None = None,
) -> QueryEvent:
    event = QueryEvent(
        clock.seq,
        fingerprint(sql),
        clock.now,
        ms / 1000,
        None,
        stack,
        1,
        task,
        tuple(hash(p) for p in params),
        results,
        ignored,
        "test",
        False,
        None,
        None,
        relationship=relationship,
    )
    clock.seq += 1
    clock.now += ms / 1000 + 0.0001
    return event


CONFIG = DetectConfig()


def rules(events: list[QueryEvent], config: DetectConfig = CONFIG) -> list[str]:
    return sorted(f.rule for f in detect(events, config).findings)


def test_n_plus_one_detected_with_exact_count_and_location() -> None:
    c = Clock()
    events = [ev(c, "SELECT * FROM chains WHERE user_id = $1", (7,), stack=OTHER)]
    events += [ev(c, BY_CHAIN, (i,)) for i in range(50)]
    findings = detect(events, CONFIG, unit="t").findings
    assert [f.rule for f in findings] == ["DBA101"]
    n1 = findings[0]
    assert n1.evidence is not None and n1.evidence.queries == 50 and n1.evidence.unit == "t"
    assert (n1.path, n1.line, n1.function) == ("app/dal.py", 10, "RendersDAL.by_chain")
    assert [hop.line for hop in n1.call_chain] == [20, 10]  # outermost first
    assert n1.source == "runtime"
    assert n1.fix is not None and "renders.chain_id IN (?)" in n1.fix.code
    assert n1.evidence.total_ms == pytest.approx(50.0)


def test_n_plus_one_not_below_threshold_nor_from_different_callers() -> None:
    c = Clock()
    two = [ev(c, BY_CHAIN, (i,)) for i in range(2)]
    assert rules(two) == []
    c = Clock()
    callers = [ev(c, BY_CHAIN, (i,), stack=(LOOP, OTHER)[i % 2]) for i in range(4)]
    assert "DBA101" not in rules(callers)


def test_n_plus_one_threshold_is_configurable() -> None:
    c = Clock()
    two = [ev(c, BY_CHAIN, (i,)) for i in range(2)]
    assert rules(two, DetectConfig(n_plus_one_threshold=2)) == ["DBA101"]


def test_same_parameters_in_a_loop_is_a_duplicate_not_n_plus_one() -> None:
    c = Clock()
    events = [ev(c, BY_CHAIN, (5,)) for _ in range(4)]
    findings = detect(events, CONFIG).findings
    assert [f.rule for f in findings] == ["DBA301"]
    assert findings[0].evidence is not None and findings[0].evidence.queries == 4


def test_duplicates_across_call_sites_and_none_for_different_parameters() -> None:
    c = Clock()
    dup = [ev(c, "SELECT * FROM users WHERE id = $1", (1,), stack=s) for s in (LOOP, OTHER)]
    assert rules(dup) == ["DBA301"]
    c = Clock()
    distinct = [
        ev(c, "SELECT * FROM users WHERE id = $1", (i,), stack=s)
        for i, s in enumerate((LOOP, OTHER))
    ]
    assert "DBA301" not in rules(distinct)


def test_n_plus_one_claims_its_queries_so_nothing_is_reported_twice() -> None:
    c = Clock()
    events = [ev(c, BY_CHAIN, (i % 3,)) for i in range(9)]  # a loop with repeats
    assert rules(events) == ["DBA101"]


def test_sequential_independent_queries_detected_with_saving() -> None:
    c = Clock()
    events = [
        ev(c, "SELECT * FROM users WHERE id = $1", (7,), stack=(CallSite("s.py", 1, "f"),), ms=2),
        ev(
            c,
            "SELECT * FROM projects WHERE user_id = $1",
            (7,),
            stack=(CallSite("s.py", 2, "f"),),
            ms=3,
        ),
        ev(
            c,
            "SELECT * FROM credits WHERE user_id = $1",
            (7,),
            stack=(CallSite("s.py", 3, "f"),),
            ms=4,
        ),
    ]
    findings = detect(events, CONFIG).findings
    assert [f.rule for f in findings] == ["DBA105"]
    assert "save 5.0 ms of 9.0 ms" in findings[0].message
    assert findings[0].evidence is not None and findings[0].evidence.queries == 3


def test_dependent_queries_are_not_sequential_independent() -> None:
    c = Clock()
    render = ev(c, "SELECT * FROM renders WHERE id = $1", (1,), stack=(CallSite("s.py", 1, "f"),))
    # the chain id 99 was never a parameter before: it came from the render row
    chain = ev(c, "SELECT * FROM chains WHERE id = $1", (99,), stack=(CallSite("s.py", 2, "f"),))
    assert rules([render, chain]) == []


def test_results_seen_make_dependency_precise() -> None:
    c = Clock()
    render = ev(
        c,
        "SELECT * FROM renders WHERE id = $1",
        (1,),
        stack=(CallSite("s.py", 1, "f"),),
        results=frozenset({hash(1), hash(99), hash(42)}),
    )
    parent = ev(
        c,
        "SELECT * FROM renders WHERE id = $1",
        (42,),
        stack=(CallSite("s.py", 2, "f"),),
        results=frozenset({hash(42)}),
    )
    chain = ev(
        c,
        "SELECT * FROM chains WHERE id = $1",
        (99,),
        stack=(CallSite("s.py", 3, "f"),),
        results=frozenset({hash(99)}),
    )
    runs = independent_runs([render, parent, chain])
    assert [[e.seq for e in run] for run in runs] == [[0], [1, 2]]
    assert rules([render, parent, chain]) == ["DBA105"]


def test_sequential_needs_one_async_task_and_reads_only() -> None:
    c = Clock()
    sync_code = [
        ev(
            c,
            f"SELECT * FROM t{i} WHERE u = $1",
            (7,),
            stack=(CallSite("s.py", i, "f"),),
            task=None,
        )
        for i in range(3)
    ]
    assert rules(sync_code) == []
    c = Clock()
    two_tasks = [
        ev(c, f"SELECT * FROM t{i} WHERE u = $1", (7,), stack=(CallSite("s.py", i, "f"),), task=i)
        for i in range(3)
    ]
    assert rules(two_tasks) == []
    c = Clock()
    writes = [
        ev(c, f"UPDATE t{i} SET a = 1 WHERE u = $1", (7,), stack=(CallSite("s.py", i, "f"),))
        for i in range(3)
    ]
    assert rules(writes) == []


def test_sequential_minimum_saving() -> None:
    c = Clock()
    events = [
        ev(c, f"SELECT * FROM t{i} WHERE u = $1", (7,), stack=(CallSite("s.py", i, "f"),), ms=1)
        for i in range(2)
    ]
    assert rules(events, DetectConfig(sequential_min_saving_ms=5)) == []
    assert rules(events, DetectConfig(sequential_min_saving_ms=0.5)) == ["DBA105"]


def test_slow_query_detected_and_fast_one_not() -> None:
    c = Clock()
    slow = [ev(c, "SELECT * FROM big WHERE a = $1", (1,), ms=250, task=None)]
    findings = detect(slow, CONFIG).findings
    assert [f.rule for f in findings] == ["DBA302"]
    assert "250.0 ms" in findings[0].message
    c = Clock()
    assert rules([ev(c, "SELECT * FROM big WHERE a = $1", (1,), ms=99, task=None)]) == []


def test_ignored_and_failed_queries_are_never_judged() -> None:
    c = Clock()
    events = [ev(c, BY_CHAIN, (i,), ignored=True) for i in range(5)]
    assert rules(events) == []
    c = Clock()
    failed = [ev(c, BY_CHAIN, (i,))._replace(error="OperationalError") for i in range(5)]
    assert rules(failed) == []


def test_allowlist_suppresses_with_a_reason() -> None:
    c = Clock()
    events = [ev(c, BY_CHAIN, (i,)) for i in range(5)]
    detection = detect(events, DetectConfig(allow=("app/dal.py",)))
    assert detection.findings == ()
    assert [s.reason for s in detection.suppressed] == ["allowed by pattern 'app/dal.py'"]
    by_sql = detect(events, DetectConfig(allow=("*renders.chain_id*",)))
    assert by_sql.findings == () and len(by_sql.suppressed) == 1


@pytest.mark.parametrize(
    "bad",
    [
        {"n_plus_one_threshold": 1},
        {"lazy_load_threshold": 1},
        {"slow_query_ms": 0},
        {"max_events": 0},
        {"allow": ("",)},
        {"ignore_sql": (" ",)},
    ],
)
def test_config_validation(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        DetectConfig(**bad)  # type: ignore[arg-type]


def test_suggest_batch() -> None:
    assert suggest_batch("UPDATE renders SET status = ? WHERE renders.id = ?") == (
        "UPDATE renders SET status = ? WHERE renders.id IN (?)"
    )
    assert suggest_batch("SELECT * FROM t WHERE a = ? AND b = ?") == ""  # no single key
    assert suggest_batch("SELECT * FROM t") == ""


def test_doctests() -> None:
    result = doctest.testmod(sys.modules["dbaudit.runtime.detect"])
    assert result.attempted >= 2 and result.failed == 0


# -- grouping: the loop is the place, stacks compare by value ---------------------------------

HELPER = CallSite("app/dal.py", 10, "get_user")
LOOP_A = CallSite("app/service.py", 20, "report")  # in the loop that starts at line 19
LOOP_B = CallSite("app/service.py", 31, "report")  # in the loop that starts at line 30
HELPER_X = CallSite("app/dal.py", 40, "user_for_invoice")
HELPER_Y = CallSite("app/dal.py", 50, "user_for_refund")
IN_LOOP_X = CallSite("app/service.py", 60, "reconcile")  # both in the loop at line 59
IN_LOOP_Y = CallSite("app/service.py", 61, "reconcile")
LOOPS = {
    ("app/service.py", 20): 19,
    ("app/service.py", 31): 30,
    ("app/service.py", 60): 59,
    ("app/service.py", 61): 59,
    ("tests/test_ops.py", 5): 4,
}
GET_USER = "SELECT * FROM users WHERE users.id = $1"


def locate(stack: tuple[CallSite, ...]) -> tuple[int, int] | None:
    """What runtime/loops.py answers from the source, for this fictional app."""
    for index, site in enumerate(stack):
        header = LOOPS.get((site.path, site.line))
        if header is not None:
            return index, header
    return None


def test_two_loops_calling_one_helper_are_two_findings() -> None:
    c = Clock()
    events = [ev(c, GET_USER, (i,), stack=(HELPER, LOOP_A)) for i in range(4)]
    events += [ev(c, GET_USER, (i,), stack=(HELPER, LOOP_B)) for i in range(4)]
    findings = detect(events, CONFIG, locate_loop=locate).findings
    assert sorted((f.rule, f.line) for f in findings) == [("DBA101", 20), ("DBA101", 31)]
    assert all(f.evidence is not None and f.evidence.queries == 4 for f in findings)


def test_one_loop_through_two_helpers_is_one_finding_at_the_loop() -> None:
    c = Clock()
    events = [
        ev(c, GET_USER, (i,), stack=(HELPER_X, IN_LOOP_X) if i % 2 else (HELPER_Y, IN_LOOP_Y))
        for i in range(6)
    ]
    [finding] = detect(events, CONFIG, locate_loop=locate).findings
    assert finding.evidence is not None and finding.evidence.queries == 6
    assert (finding.path, finding.function) == ("app/service.py", "reconcile")
    assert "user_for_refund" in finding.problem and "user_for_invoice" in finding.problem
    assert [hop.detail for hop in finding.call_chain][-1] == "also from here"
    # without the loop in sight each helper is its own place: 3 + 3
    assert len(detect(events, CONFIG).findings) == 2


def test_lookups_from_different_lines_under_a_far_loop_are_not_merged() -> None:
    """Three lookups run once each inside one iteration of a test runner's loop (no loop
    over keys): no N+1, as when the chains were grouped exactly."""
    runner = CallSite("tests/test_ops.py", 5, "test_all")
    c = Clock()
    events = [
        ev(c, GET_USER, (i,), stack=(HELPER, CallSite("app/ctx.py", line, "context"), runner))
        for i, line in enumerate((11, 16, 18))
    ]
    assert rules(events) == []
    assert detect(events, CONFIG, locate_loop=locate).findings == ()


class Colliding:
    """Two unequal frames with one hash: only equality may tell the chains apart."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __hash__(self) -> int:
        return 42

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Colliding) and other.name == self.name


def test_stacks_that_only_hash_alike_are_never_grouped_together() -> None:
    c = Clock()
    one = (Colliding("one"),)
    two = (Colliding("two"),)
    events = [ev(c, GET_USER, (i,), stack=(one, two)[i % 2]) for i in range(4)]  # type: ignore[arg-type]
    assert hash(one) == hash(two) and one != two
    assert [len(g.events) for g in repetition_groups(events)] == [2, 2]
    assert rules(events) == []  # 2 + 2, each under the threshold


# -- per-item writes (DBA103) ------------------------------------------------------------------


def test_row_by_row_writes_are_per_item_writes_with_a_bulk_fix() -> None:
    c = Clock()
    events = [
        ev(c, "INSERT INTO audit_log (user_id, action) VALUES ($1, $2)", (i, "x"))
        for i in range(12)
    ]
    [finding] = detect(events, CONFIG).findings
    assert finding.rule == "DBA103"
    assert finding.message.startswith("Row-by-row writes: the same INSERT ran 12 times")
    assert finding.fix is not None and "executemany" in finding.fix.summary
    assert finding.fix.code.startswith("INSERT INTO audit_log (user_id, action) VALUES (?, ?), (?")
    c = Clock()
    updates = [
        ev(c, "UPDATE renders SET chain_id = NULL WHERE renders.id = $1", (i,)) for i in range(5)
    ]
    [update] = detect(updates, CONFIG).findings
    assert update.rule == "DBA103" and update.fix is not None
    assert update.fix.code == "UPDATE renders SET chain_id = NULL WHERE renders.id IN (?)"


def test_one_executemany_is_not_per_item_writes() -> None:
    c = Clock()
    batch = ev(c, "INSERT INTO audit_log (user_id) VALUES ($1)", ())._replace(many=True)
    assert rules([batch]) == []


# -- ORM lazy loads ----------------------------------------------------------------------------

RENDERS_OF = "SELECT renders.id FROM renders WHERE $1 = renders.project_id"


def test_lazy_loaded_relationship_is_named_with_its_loader_option() -> None:
    c = Clock()
    events = [ev(c, RENDERS_OF, (i,), relationship="Project.renders") for i in range(50)]
    [finding] = detect(events, CONFIG).findings
    assert finding.rule == "DBA101"
    assert finding.message.startswith("N+1: Project.renders lazy-loaded for 50 projects")
    assert finding.fix is not None
    assert finding.fix.code == "select(Project).options(selectinload(Project.renders))"
    assert finding.fixed_query_cost == "2"


def test_two_lazy_loads_are_enough_when_the_orm_says_so() -> None:
    c = Clock()
    two = [ev(c, RENDERS_OF, (i,), relationship="Project.renders") for i in range(2)]
    assert rules(two) == ["DBA101"]
    c = Clock()
    plain = [ev(c, RENDERS_OF, (i,)) for i in range(2)]
    assert rules(plain) == []  # no ORM word for it: the usual threshold (3)
    assert rules(two, DetectConfig(lazy_load_threshold=3)) == []


def test_many_to_one_and_column_loads() -> None:
    c = Clock()
    owners = [ev(c, GET_USER, (i,), relationship="Order.customer (many-to-one)") for i in range(3)]
    [finding] = detect(owners, CONFIG).findings
    assert "Order.customer lazy-loaded for 3 orders" in finding.message
    assert finding.fix is not None and "joinedload(Order.customer)" in finding.fix.code
    c = Clock()
    deferred = [
        ev(c, "SELECT p.bio FROM p WHERE p.id = $1", (i,), relationship="User.bio (deferred)")
        for i in range(3)
    ]
    [column] = detect(deferred, CONFIG).findings
    assert column.message.startswith("N+1: User.bio reloaded for 3 users one by one")
    assert column.fix is not None and column.fix.code == "select(User).options(undefer(User.bio))"
    c = Clock()
    expired = [ev(c, GET_USER, (i,), relationship="User (expired)") for i in range(3)]
    [refresh] = detect(expired, CONFIG).findings
    assert "expired User attributes reloaded for 3 users" in refresh.message
    assert refresh.fix is not None and "expire_on_commit=False" in refresh.fix.code


def test_orm_load_labels_parse() -> None:
    assert OrmLoad.parse("Project.renders") == OrmLoad("Project.renders", "collection")
    assert OrmLoad.parse("A.b, A.c (deferred)") == OrmLoad("A.b, A.c", "deferred")
    assert OrmLoad.parse("User (expired)").owner == "User"


# -- ignore_sql --------------------------------------------------------------------------------


def test_ignored_sql_is_counted_but_never_judged() -> None:
    c = Clock()
    events = [ev(c, BY_CHAIN, (i,)) for i in range(5)]
    assert rules(events, DetectConfig(ignore_sql=("select * from renders*",))) == []
    assert rules(events, DetectConfig(ignore_sql=("*FROM users*",))) == ["DBA101"]


def test_every_finding_carries_the_whole_units_queries_and_time() -> None:
    c = Clock()
    events = [ev(c, "SELECT * FROM chains WHERE user_id = $1", (7,), stack=OTHER, ms=3.0)]
    events += [ev(c, BY_CHAIN, (i,)) for i in range(50)]
    [n1] = detect(events, CONFIG, unit="t").findings
    assert n1.evidence is not None
    assert (n1.evidence.queries, n1.evidence.unit_queries) == (50, 51)
    assert n1.evidence.unit_ms == pytest.approx(53.0)


def test_the_fix_is_written_for_the_library_that_sent_the_statements() -> None:
    """Django's statements get Django's batch APIs; a per-row DELETE by ``pk IN (?)`` (how
    Django deletes one object) gets the one-list statement."""
    c = Clock()
    reads = [ev(c, "SELECT * FROM tag WHERE tag.name = ?", (f"t{i}",)) for i in range(4)]
    deletes = [ev(c, 'DELETE FROM "c" WHERE "c"."id" IN (?)', (i,)) for i in range(4)]
    found = detect([e._replace(source="django") for e in reads + deletes], CONFIG).findings
    by_rule = {f.rule: f for f in found}
    assert "prefetch_related" in by_rule["DBA101"].fix.summary  # type: ignore[union-attr]
    assert "bulk_create" in by_rule["DBA103"].fix.summary  # type: ignore[union-attr]
    assert by_rule["DBA103"].fix.code.endswith("-- every key in one IN list")  # type: ignore[union-attr]
    other = detect(reads, CONFIG).findings[0].fix
    assert other is not None and "prefetch_related" not in other.summary
