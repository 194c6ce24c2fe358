"""The program model: what a language frontend extracts from one source file.

Every frontend (Python ``ast`` today, TypeScript later) produces these same frozen, slotted
dataclasses, and every analysis pass and rule reads only them, never a syntax tree
(DESIGN.md, "Program model"). Everything here is small and picklable so that worker
processes can send one ``ModuleModel`` per file back to the parent and a content-hash cache
can store it.

Conventions shared by all events inside a function (``DbOp``, ``Call``, ``Assign``,
``AttrAccess``, ``Await``):

- ``seq`` is the event's position in source (evaluation) order inside its function, so
  passes can reason about "before" and "after" without spans.
- ``loops`` holds the ids of the enclosing loops of the same function, outermost first
  (ids index ``Function.loops``); an empty tuple means "not in a loop".
- ``reads`` are the local names the event reads; ``targets`` the names it binds. Data
  dependencies between awaited results are computed from these two.
- ``control_reads`` are names read by the conditions that decide whether the event runs
  (an enclosing ``if``/``while`` test, or an earlier ``if ...: return/raise`` guard).
- ``branch`` is the path of enclosing conditional branches as ``(statement id, arm)``
  pairs, so two events in the ``if`` and ``else`` arms of one statement are known to be
  mutually exclusive.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

DbOpKind = Literal[
    "select", "count", "insert", "update", "delete", "raw", "flush", "refresh", "stream", "ddl"
]
LoopKind = Literal["for", "async for", "while", "comprehension"]
Branch = tuple[tuple[int, int], ...]


@dataclass(frozen=True, slots=True)
class Span:
    """1-based lines, 0-based column, as Python's ``ast`` reports them."""

    line: int
    end_line: int
    col: int = 0


@dataclass(frozen=True, slots=True)
class Filter:
    """One predicate: ``Render.chain_id == chain.id`` is ("chain_id", "==", "chain.id")."""

    column: str
    op: str  # "==", "in", "any", "<", ">", "like", "is", "raw", ...
    value: str = ""  # the value expression as written (never a literal's content in reports)
    table: str = ""
    # the condition it comes from is in ``DbOp.unread_conditions`` (an arm of an OR, a NOT, a
    # Django ``exclude``, a BETWEEN's low bound): a fix keeps that text, never this filter alone
    part_of_unread: bool = False


@dataclass(frozen=True, slots=True)
class DbOp:
    """One database round trip (or a statement that will cause one) found in code."""

    library: str  # "sqlalchemy", "django", "dbapi", "asyncpg", "psycopg", "sqlite3"
    kind: DbOpKind
    api: str  # the call as written, e.g. "session.execute", "Render.objects.filter"
    receiver: str  # "self.session", "conn", "Render.objects"; "" when none
    span: Span
    seq: int
    tables: tuple[str, ...] = ()  # model class names or SQL table names, first is the main one
    columns: tuple[str, ...] = ()
    filters: tuple[Filter, ...] = ()
    # conditions of the query, as written, that are not plain ANDed ``filters``: an OR / NOT
    # group, ``*clauses``, a name or a helper's call that builds the filter. A fix that rewrites
    # the query must carry them over; () when the frontend read every condition
    unread_conditions: tuple[str, ...] = ()
    order_by: tuple[str, ...] = ()
    has_limit: bool = False
    batched: bool = False  # IN / ANY / executemany / insert of a list: one statement, many rows
    single_key: bool = False  # looks up one row by key (get, fetchrow, .first(), == id)
    aggregate: tuple[str, ...] = ()  # "count", "sum", ... computed in SQL
    group_by: bool = False
    window: bool = False  # OVER (...) / ROW_NUMBER()
    joins: tuple[str, ...] = ()
    eager_loads: tuple[str, ...] = ()  # relationship names loaded eagerly (selectinload, ...)
    awaited: bool = False
    loops: tuple[int, ...] = ()
    reads: frozenset[str] = frozenset()
    targets: tuple[str, ...] = ()
    control_reads: frozenset[str] = frozenset()
    branch: Branch = ()
    in_gather: bool = False  # an argument of asyncio.gather / TaskGroup.create_task
    # "rows", "row", "scalar", "count"; "queryset" (Django's, run where it is evaluated);
    # "subquery" (SQL of an enclosing query: Exists(...), OuterRef: no round trip); "" unknown
    result_shape: str = ""
    sql: str = ""  # SQL text when it was a string literal (shortened)
    text: str = ""  # the source excerpt of the call (one line, shortened)
    # the statement's own WHERE as written, one entry per condition it ANDs together, whole
    # (Drizzle ``eq(renders.tenantId, tenantId)``, Prisma ``tenantId: t.id`` / ``...filters``):
    # a batched fix keeps them. A condition the frontend could not take apart stays one entry
    # (``or(...)``, ``sql`...```). () when there is none or the frontend keeps none (Python)
    where: tuple[str, ...] = ()
    # the caller keeps only the first row (``const [row] = await db.select()...``): without
    # a LIMIT every matching row is still fetched (and, with FOR UPDATE, locked)
    first_row_only: bool = False


@dataclass(frozen=True, slots=True)
class Call:
    """A call to something that is not itself recognised as a database call."""

    callee: str  # as written: "helper", "self.dal.get", "RendersDAL.get_by_chain_id"
    span: Span
    seq: int
    args: tuple[str, ...] = ()  # argument expressions as written (shortened)
    awaited: bool = False
    loops: tuple[int, ...] = ()
    reads: frozenset[str] = frozenset()
    targets: tuple[str, ...] = ()
    control_reads: frozenset[str] = frozenset()
    branch: Branch = ()
    in_gather: bool = False
    deferred: bool = (
        False  # a task queued elsewhere (Celery .delay, create_task, ...): no query here
    )
    receiver_type: str = ""  # class of the receiver when the frontend could tell (``dal = X()``)


@dataclass(frozen=True, slots=True)
class Loop:
    id: int
    kind: LoopKind
    iterable: str  # the iterable expression as written
    span: Span
    parent: int | None = None
    targets: tuple[str, ...] = ()
    reads: frozenset[str] = frozenset()  # names read by the iterable expression
    chunked: bool = (
        False  # iterates over chunks/batches of keys (``for chunk in chunked(ids, 500)``)
    )
    constant_size: int | None = None  # a literal tuple/list/range of known small size
    is_async: bool = False
    branch_depth: int = 0  # how many conditional arms enclose the loop itself
    # the loop variable's binding as written, without type annotations: ``{ recipientId }``,
    # ``[id, name]``, ``user_id, name``, ``i, (a, b)``. ``targets`` only lists the names it
    # binds; a fix that maps over the iterable needs the shape too (a list of objects is
    # not a list of ids). "" when the frontend kept none: the one name in ``targets``, or a
    # flat tuple of them.
    pattern: str = ""


@dataclass(frozen=True, slots=True)
class Assign:
    """A local binding ``targets = <expression reading reads>``, kept for data dependencies."""

    targets: tuple[str, ...]
    reads: frozenset[str]
    span: Span
    seq: int
    loops: tuple[int, ...] = ()
    value: str = ""  # the value expression as written (shortened)
    kind: str = "assign"  # "assign", "for-target", "with-target", "augassign", "append", "len"


@dataclass(frozen=True, slots=True)
class AttrAccess:
    """``base.attr`` read where ``base`` is a loop variable (lazy-load candidates)."""

    base: str
    attr: str
    span: Span
    seq: int
    loops: tuple[int, ...] = ()
    call: str = ""  # method called on the attribute, e.g. "all" for ``p.renders.all()``
    text: str = ""
    branch: Branch = ()


@dataclass(frozen=True, slots=True)
class Await:
    span: Span
    seq: int
    loops: tuple[int, ...] = ()
    expr: str = ""


@dataclass(frozen=True, slots=True)
class Gather:
    """``asyncio.gather(...)`` / ``TaskGroup.create_task`` use: concurrent awaits."""

    api: str
    span: Span
    seq: int
    arity: int
    loops: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class Function:
    qualname: str  # "RendersDAL.get_by_chain_id", "helper", "outer.<locals>.inner"
    name: str
    span: Span
    class_name: str = ""
    decorators: tuple[str, ...] = ()
    is_async: bool = False
    params: tuple[str, ...] = ()
    param_annotations: tuple[tuple[str, str], ...] = ()  # (param, annotation as written)
    # TypeScript parameters in call order when one is a pattern (``handle({ id, name: label
    # }: Args, logger)``), whose names ``params`` lists flat, out of the call's positions: per
    # position its name, or for an object pattern the (property, name) pairs it binds; an
    # array pattern or a rest parameter is () (what it binds is not one argument's property)
    param_positions: tuple[str | tuple[tuple[str, str], ...], ...] = ()
    is_staticmethod: bool = False
    is_classmethod: bool = False
    db_ops: tuple[DbOp, ...] = ()
    calls: tuple[Call, ...] = ()
    loops: tuple[Loop, ...] = ()
    assigns: tuple[Assign, ...] = ()
    attr_accesses: tuple[AttrAccess, ...] = ()
    awaits: tuple[Await, ...] = ()
    gathers: tuple[Gather, ...] = ()
    returns_reads: frozenset[str] = frozenset()  # names the return statements read
    # branch arms that end in ``return``/``raise``: code after such an arm never runs once
    # the arm was taken, so an event inside it and one after it are mutually exclusive
    exiting_arms: tuple[tuple[int, int], ...] = ()
    # arms that end in ``break``: inside a loop, what they run happens once, not per item
    breaking_arms: tuple[tuple[int, int], ...] = ()
    # (branch id, arm, the condition under which that arm runs, as the language writes it) for
    # each ``if`` inside a loop: ``u.active`` for its first arm, ``not u.active`` (Python) or
    # ``!u.active`` (TypeScript) for its else arm, a ``continue`` guard's rest included (a fix
    # that writes every item at once keeps the items the arm is taken for). An arm not listed
    # (a catch, a match case, a test too long to keep) has no condition a fix can say
    conditions: tuple[tuple[int, int, str], ...] = ()
    # events that run at most once per run of a loop, as (first seq, last seq, loop id): each
    # is followed, before that loop's next iteration, by a return, raise or break that leaves
    # it, or sits in an arm taken for one item only (``if item.slug == slug:``)
    once_in_loop: tuple[tuple[int, int, int], ...] = ()
    # how often each local name is read (Name loads), to tell "only counted" from "used"
    name_loads: tuple[tuple[str, int], ...] = ()
    # the function's own source lines, kept only where a finding can point (loops, queries,
    # awaits), so reports can quote code without re-reading files
    source_lines: tuple[str, ...] = field(default=(), repr=False)


@dataclass(frozen=True, slots=True)
class Relationship:
    name: str
    target: str  # model class name as written ("Render")
    lazy: str = "select"  # SQLAlchemy lazy= strategy, Django: "select" (lazy by default)
    uselist: bool = True
    span: Span | None = None


@dataclass(frozen=True, slots=True)
class ForeignKey:
    column: str  # attribute name on the model, e.g. "chain_id"
    target_table: str  # "render_chains" or a model class name
    target_column: str = "id"


@dataclass(frozen=True, slots=True)
class ModelClass:
    """An ORM model read from source (SQLAlchemy declarative or Django)."""

    name: str
    library: str  # "sqlalchemy" | "django"
    table: str
    span: Span
    columns: tuple[str, ...] = ()
    foreign_keys: tuple[ForeignKey, ...] = ()
    relationships: tuple[Relationship, ...] = ()
    # relationships this class declares on *other* classes (SQLAlchemy ``backref=``, Django
    # ``related_name`` / ``<model>_set``): (owner class name, relationship on that owner)
    reverse: tuple[tuple[str, Relationship], ...] = ()


@dataclass(frozen=True, slots=True)
class EngineCreation:
    """A call creating an engine or a connection pool, with the keyword arguments it passes."""

    api: str  # "create_async_engine", "asyncpg.create_pool", ...
    library: str
    span: Span
    function: str  # enclosing function qualname, "" at module level
    keywords: tuple[str, ...]
    has_kwargs_splat: bool = False  # ``**options``: we cannot tell what is set
    url: str = ""  # the URL argument as written (never its value)
    # keyword -> value expression as written (shortened): ``connect_args`` may hold the
    # statement timeout, ``poolclass`` may say there is no pool at all
    settings: tuple[tuple[str, str], ...] = ()
    text: str = ""
    # where the new engine is kept, as the events' ``targets``: the names (``engine``,
    # ``self.engine``, ``app.state.engine``) the creating statement binds, ``<return>`` when it
    # is returned, and ``<global>`` too when a name is declared ``global``
    targets: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Import:
    """``import a.b as c`` is ("c", "a.b", ""); ``from .x import y as z`` is ("z", ".x", "y")."""

    local: str
    module: str
    name: str = ""
    level: int = 0


@dataclass(frozen=True, slots=True)
class ClassInfo:
    name: str
    bases: tuple[str, ...]
    span: Span
    methods: tuple[str, ...] = ()
    # ``self.x = Something(...)`` in any method, and class-level annotations: attribute -> type
    attribute_types: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class ModuleModel:
    path: str
    lines: int
    imports: tuple[Import, ...] = ()
    functions: tuple[Function, ...] = ()
    classes: tuple[ClassInfo, ...] = ()
    models: tuple[ModelClass, ...] = ()
    engines: tuple[EngineCreation, ...] = ()
    # ``name = Something(...)`` at module level: lets ``dal.get(...)`` resolve to a class.
    global_types: tuple[tuple[str, str], ...] = ()
    language: str = "python"

    def function(self, qualname: str) -> Function | None:
        for fn in self.functions:
            if fn.qualname == qualname:
                return fn
        return None
