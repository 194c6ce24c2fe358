"""Good practice, recognised so a report can say what is already optimal and must stay so.

Each entry carries its query cost: a batched ``IN`` query is "1 query for N keys", a gather of
four queries is "4 (concurrent)", chunked batching is one query per chunk.
"""

from __future__ import annotations

from collections.abc import Iterator

from dbaudit.analysis.callgraph import FunctionRef
from dbaudit.analysis.program import READ_KINDS, Program
from dbaudit.findings import GoodPractice
from dbaudit.model import DbOp


def good_practices(program: Program) -> Iterator[GoodPractice]:
    for ref in program.functions:
        yield from _op_practices(program, ref)
        yield from _gathers(program, ref)
        yield from _chunked(program, ref)


def _practice(
    program: Program, ref: FunctionRef, op: DbOp, kind: str, description: str, cost: str
) -> GoodPractice:
    return GoodPractice(
        kind=kind,
        path=ref.module.path,
        line=op.span.line,
        end_line=op.span.end_line,
        function=ref.function.qualname,
        description=description,
        query_cost=cost,
        code=program.excerpt(ref, op.span),
    )


def _op_practices(program: Program, ref: FunctionRef) -> Iterator[GoodPractice]:
    for op in ref.function.db_ops:
        table = op.tables[0] if op.tables else "rows"
        if op.loops and not any(ref.function.loops[i].chunked for i in op.loops):
            continue  # inside a per-item loop: a finding, not a practice
        if op.window:
            yield _practice(
                program,
                ref,
                op,
                "window function",
                f"per-group top rows of {table} with a window function (ROW_NUMBER/OVER) in one "
                "query instead of one query per group",
                "1 query for N groups",
            )
        if op.group_by and op.aggregate:
            yield _practice(
                program,
                ref,
                op,
                "aggregation",
                f"{'/'.join(a.upper() for a in op.aggregate)} per group of {table} computed by "
                "GROUP BY in the database",
                "1 query for N groups",
            )
        if op.batched and op.kind in READ_KINDS:
            yield _practice(
                program,
                ref,
                op,
                "batched IN",
                f"{table} rows for many keys fetched at once (IN / ANY)",
                "1 query for N keys",
            )
        elif op.batched and op.kind in {"insert", "update", "delete", "raw"}:
            yield _practice(
                program,
                ref,
                op,
                "bulk write",
                f"{op.kind.upper()} of many {table} rows in one statement",
                "1 statement for N rows",
            )
        if op.eager_loads:
            yield _practice(
                program,
                ref,
                op,
                "eager loading",
                f"relationships {', '.join(op.eager_loads)} of {table} loaded eagerly",
                f"{1 + len(op.eager_loads)} queries for N rows",
            )
        # a Prisma op's joins are its relation filters (``recipients: { some: ... }``): they
        # pick the rows, they fetch no related one
        joined = op.joins if op.library != "prisma" else ()
        if len(joined) >= 2 and op.kind in READ_KINDS and not op.window:
            yield _practice(
                program,
                ref,
                op,
                "joined lookup",
                f"{table} and {len(joined)} related rows fetched with JOINs in one query",
                "1 query",
            )


def _gathers(program: Program, ref: FunctionRef) -> Iterator[GoodPractice]:
    fn = ref.function
    for gather in fn.gathers:
        inside = [
            c
            for c in fn.calls
            if c.in_gather and gather.span.line <= c.span.line <= gather.span.end_line
        ]
        ops = [
            o
            for o in fn.db_ops
            if o.in_gather and gather.span.line <= o.span.line <= gather.span.end_line
        ]
        if any(o.loops for o in ops) or any(c.loops for c in inside if c.loops != gather.loops):
            continue  # a fan-out over items: N queries, reported by DBA101/DBA102
        queries = len(ops)
        for call in inside:
            target = program.resolve(ref, call)
            if target is not None and program.reach(target).queries:
                queries += program.reach(target).cost.total_constant or 1
        if queries < 2:
            continue
        yield GoodPractice(
            kind="concurrent awaits",
            path=ref.module.path,
            line=gather.span.line,
            end_line=gather.span.end_line,
            function=fn.qualname,
            description=f"{queries} independent queries run concurrently with {gather.api}",
            query_cost=f"{queries} (concurrent)",
            code=program.excerpt(ref, gather.span),
        )


def _chunked(program: Program, ref: FunctionRef) -> Iterator[GoodPractice]:
    fn = ref.function
    for loop in fn.loops:
        if not loop.chunked:
            continue
        batched = [o for o in fn.db_ops if loop.id in o.loops and o.batched]
        if not batched:
            continue
        yield GoodPractice(
            kind="chunked batching",
            path=ref.module.path,
            line=loop.span.line,
            end_line=loop.span.end_line,
            function=fn.qualname,
            description=f"keys processed in chunks (`{loop.iterable}`), one batched query each",
            query_cost="1 query per chunk (N / chunk size)",
            code=program.excerpt(ref, loop.span),
        )
