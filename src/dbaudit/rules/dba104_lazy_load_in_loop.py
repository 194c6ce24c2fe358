"""DBA104: lazy relationship loads in a loop.

## What it does
Finds attribute access on an ORM relationship inside a loop over query results that did not
load that relationship eagerly: ``project.renders`` in ``for project in projects`` where the
query had no ``selectinload(Project.renders)``/``joinedload`` and the relationship is not
declared ``lazy="selectin"``/``"joined"``; Django ``book.author`` without ``select_related``
and ``author.books.all()`` without ``prefetch_related``. The model classes (SQLAlchemy
declarative and Django models, including ``backref``/``related_name`` reverse relations) are
read from the tree, so only real relationships are reported. A Django to-many relation
queried with a queryset method in the loop (``workflow.actions.order_by(...)``, ``.filter``,
``.values_list``) runs a query per item even when ``prefetch_related`` loaded it: only
``.all()`` reads prefetched rows, so the method belongs in a ``Prefetch``'s queryset.

## Why is this bad?
The loop looks like plain attribute access, but each first access to an unloaded relationship
runs a SELECT: N rows give N more queries. This is the most common N+1 in Python code. With
SQLAlchemy's asyncio extension it is worse: the implicit load raises ``MissingGreenlet``.

## Example
```python
projects = (await session.scalars(select(Project).where(Project.user_id == user_id))).all()
for project in projects:
    print(project.name, len(project.renders))
```

## Use instead
```python
query = (
    select(Project)
    .where(Project.user_id == user_id)
    .options(selectinload(Project.renders))
)
```

## References
- SQLAlchemy relationship loading techniques: https://docs.sqlalchemy.org/en/20/orm/queryguide/relationships.html
- Django ``select_related`` / ``prefetch_related``: https://docs.djangoproject.com/en/stable/ref/models/querysets/
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from dbaudit.analysis.callgraph import FunctionRef
from dbaudit.analysis.program import Program, significant_loops
from dbaudit.findings import Finding, Fix, Severity
from dbaudit.model import DbOp, Function, Loop, Relationship, Span
from dbaudit.rules._shared import fixed_cost, loop_header, noun

CODE = "DBA104"
NAME = "lazy-load-in-loop"
CATEGORY = "queries"

EAGER_STRATEGIES = frozenset(
    {"joined", "selectin", "subquery", "immediate", "raise", "raise_on_sql", "noload"}
)


def relationships_of(program: Program, model_name: str) -> dict[str, Relationship]:
    """Relationship attributes of a model: its own and those other models declare on it."""
    key = ("relationships", model_name)
    if key not in program.memo:
        program.memo[key] = _relationships_of(program, model_name)
    return program.memo[key]  # type: ignore[return-value]


def _relationships_of(program: Program, model_name: str) -> dict[str, Relationship]:
    found: dict[str, Relationship] = {}
    model = program.models.get(model_name)
    if model is not None:
        found.update({r.name: r for r in model.relationships})
    for other in program.models.values():
        for owner, relationship in other.reverse:
            if owner == model_name:
                found.setdefault(relationship.name, relationship)
    return found


def _element_model(program: Program, model: str, loop: Loop) -> str:
    """``for chain in project.chains``: the rows are RenderChain, not Project."""
    match = re.fullmatch(r"(\w+)\.(\w+)(?:\.all\(\))?", loop.iterable.strip())
    if match:
        relationship = relationships_of(program, model).get(match.group(2))
        if relationship is not None and relationship.target:
            return relationship.target
    return model


# a Django ``Prefetch("actions", queryset=...)`` object written in place
_PREFETCH_OBJECT = re.compile(r"""^Prefetch\(\s*(?:lookup\s*=\s*)?['"]([\w.]+)['"]""")
# Django queryset methods that run a query of their own on a related manager, even when
# prefetch_related loaded the relation: only ``all()`` (and what reads it) uses those rows
_BYPASS = frozenset(
    {
        "filter",
        "exclude",
        "order_by",
        "values",
        "values_list",
        "annotate",
        "select_related",
        "prefetch_related",
        "distinct",
        "only",
        "defer",
        "get",
        "latest",
        "earliest",
        "aggregate",
        "in_bulk",
        "iterator",
        "reverse",
    }
)


def _eager(op: DbOp, name: str, relationships: dict[str, Relationship] | None = None) -> bool:
    """``op`` loads ``name`` eagerly, or may: a Django ``prefetch_related`` argument held by a
    variable (``action_prefetch``, a ``Prefetch`` built elsewhere; a bare name that is no
    relationship of the model) or spread (``*lookups``) may load any relationship."""
    for loaded in op.eager_loads:
        prefetch = _PREFETCH_OBJECT.match(loaded)
        if prefetch is not None:
            loaded = prefetch.group(1)
        elif (
            op.library == "django"
            and relationships is not None
            and (
                loaded.startswith("*")
                or (re.fullmatch(r"[A-Za-z_]\w*", loaded) and loaded not in relationships)
            )
        ):
            return True
        first = loaded.split("__")[0].split(".")[-1]
        if first == name or loaded.endswith(f".{name}") or loaded == name:
            return True
    return False


def check(program: Program) -> Iterator[Finding]:
    if not program.models:
        return
    for ref in program.functions:
        fn = ref.function
        if not fn.loops or not fn.attr_accesses:
            continue
        reported: set[tuple[int, str]] = set()
        sources: dict[int, DbOp | None] = {}
        for access in fn.attr_accesses:
            loop_ids = [i for i in access.loops if access.base in fn.loops[i].targets]
            if not loop_ids:
                continue
            loop = fn.loops[loop_ids[-1]]
            if loop.id not in sources:
                sources[loop.id] = program.loop_source(ref, loop)
            op = sources[loop.id]
            if op is None:
                continue
            model = _element_model(program, op.tables[0], loop)
            relationships = relationships_of(program, model)
            relationship = relationships.get(access.attr)
            if relationship is None or (loop.id, access.attr) in reported:
                continue
            bypass = _bypassing_call(fn, loop, access.base, access.attr, op, relationship)
            if not bypass and relationship.lazy in EAGER_STRATEGIES:
                continue
            if not bypass and _eager(op, access.attr, relationships):
                continue
            if not significant_loops(fn, access.loops):
                continue
            reported.add((loop.id, access.attr))
            if bypass:
                yield _bypass_finding(
                    program, ref, loop, op, model, relationship, access.span, bypass
                )
            else:
                yield _finding(program, ref, loop, op, model, relationship, access.span)


def _bypassing_call(
    fn: Function, loop: Loop, base: str, attr: str, op: DbOp, relationship: Relationship
) -> str:
    """The queryset method (``order_by``) called on a Django to-many relation of the loop's
    item in the loop, which queries whatever prefetch_related loaded; "" when none."""
    if op.library != "django" or not relationship.uselist:
        return ""
    return next(
        (
            a.call
            for a in fn.attr_accesses
            if loop.id in a.loops and a.base == base and a.attr == attr and a.call in _BYPASS
        ),
        "",
    )


def _finding(
    program: Program,
    ref: FunctionRef,
    loop: Loop,
    op: DbOp,
    model: str,
    relationship: Relationship,
    span: Span,
) -> Finding:
    item = noun(loop)
    cost = program.reach(ref).cost
    lazy_cost = f"{cost} + N (lazy loads)"
    if op.library == "django":
        method = "prefetch_related" if relationship.uselist else "select_related"
        fix_code = f'{op.api.split(".")[0]}.objects.filter(...).{method}("{relationship.name}")'
        summary = f'Add `.{method}("{relationship.name}")` to the queryset that feeds the loop.'
    else:
        loader = "selectinload" if relationship.uselist else "joinedload"
        option = f".options({loader}({model}.{relationship.name}))"
        fix_code = _legacy_query_fix(op, option) or f"select({model}).where(...){option}"
        summary = (
            f"Load `{model}.{relationship.name}` eagerly in the query that feeds the loop with "
            f"`.options({loader}({model}.{relationship.name}))`."
        )
    return program.finding(
        rule=CODE,
        severity=Severity.HIGH,
        message=f"`{item}.{relationship.name}` lazy-loads {relationship.target or 'a relationship'}"
        f" once per {item} inside `{loop_header(loop)}`",
        ref=ref,
        span=span,
        query_cost=lazy_cost,
        fixed_query_cost=fixed_cost(cost) if cost.terms else "2",
        fix=Fix(summary, fix_code),
        problem=(
            f"The rows of `{loop.iterable}` come from `{op.text or op.api}` (line {op.span.line}), "
            f"which does not load `{model}.{relationship.name}` eagerly, so the first access in "
            f"each iteration runs a SELECT: one query per {item}."
        ),
        confidence="high",
        code_span=loop.span,
    )


def _bypass_finding(
    program: Program,
    ref: FunctionRef,
    loop: Loop,
    op: DbOp,
    model: str,
    relationship: Relationship,
    span: Span,
    call: str,
) -> Finding:
    """``workflow.actions.order_by(...)`` per workflow: a query each time, prefetched or not
    (paperless-ngx's run_workflows, whose workflows come with a ``Prefetch("actions",
    queryset=....order_by("order", "pk"))`` the loop never reads)."""
    item = noun(loop)
    cost = program.reach(ref).cost
    name = relationship.name
    target = relationship.target or "the related model"
    loaded = _eager(op, name, relationships_of(program, model))
    owner = op.api.split(".")[0]
    verb = "prefetches" if _eager(op, name) else "may prefetch"  # a variable's Prefetch: may
    prefetched = f"`{op.text or op.api}` (line {op.span.line}) {verb} `{name}`, but "
    prefetched = prefetched if loaded else ""
    return program.finding(
        rule=CODE,
        severity=Severity.HIGH,
        message=f"`{item}.{name}.{call}()` queries {target} once per {item} inside "
        f"`{loop_header(loop)}`" + (": prefetched rows are read only by .all()" if loaded else ""),
        ref=ref,
        span=span,
        query_cost=f"{cost} + N (one per {item})",
        fixed_query_cost=fixed_cost(cost) if cost.terms else "2",
        fix=Fix(
            f"Prefetch `{model}.{name}` with the {call}() in the Prefetch's queryset and read "
            f"it with `{item}.{name}.all()` in the loop: one more query for all of them. "
            f"`.{call}()` on a related manager always runs a query of its own.",
            f'{owner}.objects.filter(...).prefetch_related(Prefetch("{name}", '
            f"queryset={target}.objects.{call}(...)))  # then {item}.{name}.all()",
        ),
        problem=(
            f"{prefetched}`{item}.{name}.{call}(...)` builds a new queryset, which never "
            f"reads prefetched rows: every iteration runs a SELECT on {target}, one query per "
            f"{item}."
        ),
        confidence="high",
        code_span=loop.span,
    )


# the calls that run a legacy ``Query`` (``Model.query...``, ``session.query(...)``, a name
# holding one): the loader option goes before them
_QUERY_RUNS = re.compile(
    r"\.(all|first|one|one_or_none|first_or_404|one_or_404|get|get_or_404|paginate)\((?:[^()]*)\)$"
)


def _legacy_query_fix(op: DbOp, option: str) -> str:
    """The loop's own legacy ``Query`` with the loader option added (``Pages.query.all()`` ->
    ``Pages.query.options(selectinload(Pages.files)).all()``): Flask-SQLAlchemy's
    ``Model.query`` and ``session.query()`` take ``.options()``, and have no ``select()``
    to rewrite. Empty when the loop's rows come from a 2.0-style statement."""
    text = op.text.strip()
    legacy = ".query" in op.api or op.api.startswith("query") or "query(" in text
    held = re.fullmatch(r"[A-Za-z_]\w*\.(all|first|one|one_or_none|paginate)", op.api)
    if not (legacy or held) or text.endswith("…"):
        return ""
    runs = _QUERY_RUNS.search(text)
    if runs is None:
        return f"{text}{option}"
    return f"{text[: runs.start()]}{option}{runs.group(0)}"
