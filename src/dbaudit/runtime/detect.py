"""Runtime detectors: pure functions from one unit's ``QueryEvent``s to ``Finding``s.

Recording is separate from judging (STYLE.md section 5): nothing here touches a database, a frame
or a clock. The detectors run once per unit, in order, and each claims the queries it explains so
that one problem is reported once (an N+1 loop is not also a run of "sequential" queries):

1. **N+1** (DBA101, the static rule ID of "query in a loop"): the same SELECT fingerprint from
   one place (the same loop, or the same chain of application frames; see
   :func:`repetition_groups`), at least ``n_plus_one_threshold`` times with at least two
   different parameter sets. When the SQLAlchemy ORM said the statements lazily loaded a
   relationship or a deferred/expired column (``QueryEvent.relationship``), the finding names
   it ("Project.renders lazy-loaded for 50 projects"), suggests the loader option, and two
   loads are enough (``lazy_load_threshold``).
   **Per-item writes** (DBA103): the same INSERT, UPDATE or DELETE repeated the same way; one
   multi-row statement or one ``executemany`` would do.
   **Batches are neither** (see :func:`_batched`): a loop of pages or of chunks already
   batches, its statements grow with the rows over the batch size. What the executed
   statements show decides, strictly (a real N+1 must never be hidden): *offset pages*, where
   the one varying parameter is the OFFSET's ``?`` (by index in the fingerprint, whose ``?``
   are the parameters when their count is the parameters'), growing by one step of at least
   ``_BATCH_MIN`` (the LIMIT, when it is a parameter; the rows, when counted); *keyset pages*,
   where only cursors (``?`` compared with ``<``/``>`` under ``ORDER BY ... LIMIT``) vary and
   each is in the previous page's last row, or an integer one (``hash(n) == n``) moves by the
   LIMIT at least; *chunks*, where the collapsed ``IN (?)``, ``ARRAY[?]`` or ``VALUES`` list
   held at least ``_BATCH_MIN`` values (the parameters the fingerprint's ``?`` do not account
   for), chunks of one size but the last and, for keys, none in two chunks (``= ANY(?)``: only
   with kept values, an array being one hash). A LIMIT per parent key, one key per statement,
   chunks or pages under ``_BATCH_MIN`` stay N+1s. Such groups are claimed: not "sequential"
   queries either.
2. **Duplicate queries** (DBA301): the same fingerprint with the same parameters, repeated
   in one thread with no write to a table it reads in between (see :func:`_between_writes`:
   ``exists()``, ``add()``, ``exists()`` again reads what the write changed; threads: see
   :func:`_duplicate_findings`).
3. **Sequential independent queries** (DBA105): consecutive SELECTs in one asyncio task where no
   query's parameters can have come from another's result (see :func:`ready_levels`: parameter
   values are traced to the task's inputs or to earlier results, which the asyncpg adapters
   see; a value of unknown origin counts as dependent, so this detector errs towards silence).
   The saving reported is what overlapping the run would have saved: the sum of durations minus
   the longest.
4. **Slow queries** (DBA302): any execution at or over ``slow_query_ms``.

Literal values count as parameters wherever parameter sets are compared (duplicates, the N+1's
distinct parameter sets, the batch checks): a statement written with its values in the SQL
(an f-string, Django's ``qs[a:b]``) has the fingerprint of its bound form and no parameters,
so ``Fingerprint.literals`` (a hash of the text's literals, computed once per text) tells
``id = 1`` from ``id = 2``, and ``Fingerprint.values`` puts each literal at its place among the
parameters for the batch checks. They are no parameter values for the sequential detector: a
literal comes from no result, and a value of unknown origin there would silence it.

Statements whose normalised SQL matches an ``ignore_sql`` pattern are treated like queries run
inside ``dbaudit.ignore()``: counted, never judged. Findings matching an ``allow`` pattern
(fnmatch, against the explanation (which quotes the normalised SQL), ``path:line``, the path or
the function) are moved to ``suppressed`` with the pattern as their reason.

Cost (issue #5): ``detect`` runs once per profiled unit, so it skips what a unit cannot hold (no
statement ran twice: no grouping for N+1 or duplicates; fewer than two SELECTs in any task: no
dependency analysis; no query reached the threshold: no slow-query pass), reads the events'
fields at C speed (``itemgetter``, ``map``, a stable sort and ``groupby``) rather than one Python
step per event, and builds each finding once, with the unit's totals in its evidence. The
batch checks run only for a group about to be reported, from a shape cached per statement
text (``None``, the usual answer, when it has no LIMIT, OFFSET or collapsed list).
"""

from __future__ import annotations

import functools
import itertools
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, fields
from fnmatch import fnmatchcase
from itertools import compress, groupby, repeat, takewhile
from operator import add, attrgetter, eq, ge, is_, itemgetter, mul, not_, sub, truth
from typing import Any

from dbaudit.findings import CallHop, Finding, Fix, RuntimeEvidence, Severity
from dbaudit.runtime.batch_keys import varying_parameters
from dbaudit.runtime.callsite import MAX_STACK
from dbaudit.runtime.events import CallSite, QueryEvent, Results
from dbaudit.sql.batch import suggest_batch

N_PLUS_ONE = "DBA101"
PER_ITEM_WRITES = "DBA103"
SEQUENTIAL = "DBA105"
DUPLICATE = "DBA301"
SLOW = "DBA302"
RULES = (N_PLUS_ONE, PER_ITEM_WRITES, SEQUENTIAL, DUPLICATE, SLOW)

_JUDGED_KINDS = frozenset({"select", "insert", "update", "delete"})
_WRITE_KINDS = frozenset({"insert", "update", "delete"})

# Fields of a QueryEvent (a named tuple) read at C speed: the detectors run once per unit, and
# a Python step per event (a generator, a comprehension) was most of their cost.
_FIELD = QueryEvent._fields.index
_SEQ = itemgetter(_FIELD("seq"))
_STARTED = itemgetter(_FIELD("started"))
_DURATION = itemgetter(_FIELD("duration"))
_STACK = itemgetter(_FIELD("stack"))
_TASK = itemgetter(_FIELD("task_id"))
_THREAD = itemgetter(_FIELD("thread_id"))
_PARAMS = itemgetter(_FIELD("param_hashes"))
_RESULTS = itemgetter(_FIELD("result_hashes"))
_MANY = itemgetter(_FIELD("many"))
_IGNORED_AND_ERROR = itemgetter(_FIELD("ignored"), _FIELD("error"))
_RELATIONSHIP_FIELD = _FIELD("relationship")
_RELATIONSHIP = itemgetter(_RELATIONSHIP_FIELD)
_REQUEST_FIELD = _FIELD("request")
_REQUEST = itemgetter(_REQUEST_FIELD)
_PARENT_MARK = " @"  # capture/django_orm.py's PARENT_MARK: a label ends with its parent's digest
_DIGEST = attrgetter("fingerprint.digest")
# the literals of the text (a hash, "" for none) beside the digest or the parameters
_DIGEST_AND_LITERALS = attrgetter("fingerprint.digest", "fingerprint.literals")
_PARAMS_AND_LITERALS = attrgetter("param_hashes", "fingerprint.literals")
_KIND = attrgetter("fingerprint.kind")
_KIND_AND_MANY = attrgetter("fingerprint.kind", "many")
_SELECTS_ONLY = {("select", False)}  # the (kind, many) of every event of most units
_TEXT = attrgetter("fingerprint.text")
_FIRST = itemgetter(0)
_SECOND = itemgetter(1)
_PATH_LINE_FUNCTION = attrgetter("path", "line", "function")
_SITE_VALUE = attrgetter(*(f.name for f in fields(CallSite) if f.compare))  # what == compares
_NOTHING_TO_SKIP = {(False, None)}  # (ignored, error) of an event every detector judges
# A CallSite's hash is computed once and kept in ``_hash`` (events.py): read it at C speed,
# not through a Python ``__hash__`` call per frame (a slot: every CallSite has it).
_site_hash: Callable[[CallSite], int] = attrgetter("_hash")


@dataclass(frozen=True, slots=True)
class DetectConfig:
    """Thresholds for one unit. Every field is validated: a bad value is a clear ``ValueError``."""

    n_plus_one_threshold: int = 3
    lazy_load_threshold: int = 2  # ORM-labelled lazy loads: the N+1 shape from two parents on
    duplicate_threshold: int = 2
    sequential_min_queries: int = 2
    sequential_min_saving_ms: float = 0.0
    slow_query_ms: float = 100.0
    max_events: int = 10_000
    allow: tuple[str, ...] = field(default=())
    ignore_sql: tuple[str, ...] = field(default=())  # fnmatch on the normalised SQL

    def __post_init__(self) -> None:
        thresholds = (
            "n_plus_one_threshold",
            "lazy_load_threshold",
            "duplicate_threshold",
            "sequential_min_queries",
        )
        for name in thresholds:
            if getattr(self, name) < 2:
                raise ValueError(f"{name} must be at least 2, got {getattr(self, name)}")
        if self.slow_query_ms <= 0 or self.sequential_min_saving_ms < 0:
            raise ValueError("slow_query_ms must be > 0 and sequential_min_saving_ms >= 0")
        if self.max_events < 1:
            raise ValueError(f"max_events must be at least 1, got {self.max_events}")
        for kind, patterns in (("allow", self.allow), ("ignore_sql", self.ignore_sql)):
            for pattern in patterns:
                if not isinstance(pattern, str) or not pattern.strip():
                    raise ValueError(f"{kind} patterns must be non-empty strings, got {pattern!r}")


@dataclass(frozen=True, slots=True)
class Suppressed:
    finding: Finding
    reason: str


@dataclass(frozen=True, slots=True)
class Detection:
    findings: tuple[Finding, ...]
    suppressed: tuple[Suppressed, ...] = ()
    # seq of every event some finding explains, or a page or chunk loop (no finding) does
    claimed: frozenset[int] = frozenset()


# (index of the loop's frame in the stack, the loop's first line) or None: see runtime/loops.py
LocateLoop = Callable[[tuple[CallSite, ...]], "tuple[int, int] | None"]


def detect(
    events: Sequence[QueryEvent],
    config: DetectConfig,
    unit: str = "",
    locate_loop: LocateLoop | None = None,
) -> Detection:
    """Run every detector over one unit's events (in the order they were recorded).

    ``locate_loop`` (``dbaudit.runtime.loops.loop_frame`` in a live unit) says which frame of a
    call chain is the loop, so an N+1 finding points at the loop; without it, at the query.
    """
    if set(map(_IGNORED_AND_ERROR, events)) <= _NOTHING_TO_SKIP:
        judged = list(events)  # every event is judged (one C-speed pass tells)
    else:
        judged = [e for e in events if not e.ignored and e.error is None]
    if config.ignore_sql:
        judged = _without_ignored_sql(judged, config.ignore_sql)
    if not judged:
        return _NOTHING_FOUND
    claimed: set[int] = set()
    findings: list[Finding] = []
    # The unit's totals go into every finding's evidence as it is built (a report compares the
    # function's measured total with its fixed total, not one loop's share with it).
    totals = (len(events), round(sum(map(_DURATION, events)) * 1000, 3))
    if len(judged) > 1:
        selects_only = set(map(_KIND_AND_MANY, judged)) == _SELECTS_ONLY
        by_request = _per_request(judged) is not None
        # No statement ran twice: no repetition, so neither an N+1 nor a duplicate (every
        # threshold is at least 2). One C-speed pass over the digests tells.
        if len(set(map(_DIGEST, judged))) < len(judged):
            plain = judged if selects_only else _plain(judged)
            seen: set[tuple[str, str, int, str]] = set()
            for part in (_per_request(plain) or (plain,)) if by_request else (plain,):
                for finding, explained in _repetition_findings(
                    part, config, unit, locate_loop, totals, claimed, events
                ):
                    claimed.update(explained)
                    # the same problem in several requests of one test: reported once, as
                    # the one request's unit reports it in production
                    key = (finding.rule, finding.path, finding.line, _finding_digest(finding))
                    if key not in seen:
                        seen.add(key)
                        findings.append(finding)
        findings += _sequential_findings(
            judged, config, unit, claimed, totals, selects_only, by_request
        )
    if max(map(_DURATION, judged)) >= config.slow_query_ms / 1000:
        findings += find_slow(judged, config, unit, totals=totals)
    if not findings:
        return _NOTHING_FOUND
    kept, suppressed = _apply_allowlist(findings, config.allow)
    return Detection(tuple(kept), tuple(suppressed), frozenset(claimed))


_NOTHING_FOUND = Detection(())


def _repetition_findings(
    plain: Sequence[QueryEvent],
    config: DetectConfig,
    unit: str,
    locate_loop: LocateLoop | None,
    totals: tuple[int, float],
    claimed: set[int],
    events: Sequence[QueryEvent],
) -> list[tuple[Finding, set[int]]]:
    """N+1s and per-item writes, then duplicates among what they left, in ``plain`` (one
    request's events, or the unit's); ``claimed`` collects the batch loops' events."""
    found = _n_plus_one_findings(plain, config, unit, locate_loop, totals, claimed)
    for _, explained in found:
        claimed.update(explained)
    remaining = _unclaimed(plain, claimed) if claimed else plain
    if len(remaining) >= config.duplicate_threshold:
        found += _duplicate_findings(remaining, config, unit, totals, events)
    return found


def _per_request(events: Sequence[QueryEvent]) -> list[list[QueryEvent]] | None:
    """``events`` split by the HTTP request that sent them (``QueryEvent.request``: a request
    a test made through a test client, inside its unit), those outside any request together,
    each part in the events' order; None when they are all of one request or of none (the
    usual unit: one C-speed pass tells). A test that repeats a request repeats the view's
    statements once per request: each request is judged as its own unit is in production,
    and the test body's own statements as before."""
    if not events or len(events[0]) <= _REQUEST_FIELD:
        return None
    requests = list(map(_REQUEST, events))
    if requests.count(requests[0]) == len(requests):
        return None
    parts: dict[int | None, list[QueryEvent]] = defaultdict(list)
    for event, request in zip(events, requests, strict=True):
        parts[request].append(event)
    return list(parts.values())


def _finding_digest(finding: Finding) -> str:
    return finding.evidence.fingerprint if finding.evidence is not None else ""


def _n_plus_one_findings(
    plain: Sequence[QueryEvent],
    config: DetectConfig,
    unit: str,
    locate_loop: LocateLoop | None,
    totals: tuple[int, float],
    batched: set[int] | None = None,
) -> list[tuple[Finding, set[int]]]:
    """Repeated statements from one place among ``plain`` (:func:`_plain`) events: reads are
    N+1 (DBA101), writes are per-item writes (DBA103). See :func:`repetition_groups` for what
    "one place" means. ``totals``: the whole unit's queries and milliseconds, for the evidence.
    ``batched`` collects the seq of the events of recognised batch loops."""
    found = []
    least = min(config.n_plus_one_threshold, config.lazy_load_threshold)
    for group in _repetition_groups(plain, locate_loop, repeated_only=True):
        group_events = group.events
        if len(group_events) < least:
            continue  # below any threshold, whatever the ORM said
        # literals are parameters too (an f-string's ``id = 1``, ``id = 2``)
        distinct_params = len(set(map(_PARAMS_AND_LITERALS, group_events)))
        load = orm_load(group_events)
        parents = distinct_params
        if load is not None:
            parents = orm_parents(group_events) or distinct_params
            if parents < 2:  # one parent's loads, told by the ORM: not the lazy-load N+1
                load, parents = None, distinct_params
        threshold = config.n_plus_one_threshold
        if load is not None:  # the ORM said so: already the N+1 shape at two parents
            threshold = min(threshold, config.lazy_load_threshold)
        if len(group_events) < threshold or parents < 2:
            continue  # the same parameters every time is a duplicate, not a loop over keys
        shape = _batch_shape(group_events[0].fingerprint.text) if load is None else None
        if shape is not None and _batched(group_events, shape):
            if batched is not None:  # explained: not "sequential" queries either
                batched.update(map(_SEQ, group_events))
            continue  # pages or chunks: the queries grow with rows over the batch size
        if group_events[0].fingerprint.kind == "select":
            finding = _n_plus_one_finding(group, parents, load, unit, totals)
        else:
            finding = _per_item_writes_finding(group, distinct_params, unit, totals)
        found.append((finding, set(map(_SEQ, group_events))))
    return found


# --- Batched reads and writes: page loops and chunk loops are not N+1 ------------------------

_BATCH_MIN = 3  # keys (or rows) per statement of a batch; fewer is still the per-item shape
_INT_LIKE = 1 << 40  # hash(n) is n for an int: a hash this small is an int's, not a string's
_PLACEHOLDER = re.compile(r"\?")
# a ``?`` compared with < <= > >=, alone or in a row value: ``id > ?``, ``(a, b) > (?, ?)``
_CURSOR_BEFORE = re.compile(
    r"(?<![<>=!-])(?:>=?|<=?) (?:(?:ROW)?\((?:(?:\?|CAST\(\? AS [\w ]+\)), )*)?(?:CAST\()?$"
)
_LIST_OPENERS = re.compile(r" IN \((?!SELECT )|\bANY\(|\bVALUES \(|\bARRAY\[")


@dataclass(frozen=True, slots=True)
class _BatchShape:
    """What a statement's normalised text says about batching, by placeholder index."""

    placeholders: int  # ``?`` in the text: parameters, and literals the fingerprint replaced
    list_width: int  # ``?`` in the one collapsed list's item (IN, ANY, VALUES), 0: none or many
    list_kind: str  # its opener: "IN (", "ANY(" (one parameter holds the keys), "VALUES (" ...
    limit_at: int  # index of the last LIMIT's ``?``, -1 without
    offset_at: int  # index of the last OFFSET's ``?``, -1 without
    cursors: tuple[int, ...]  # ``?`` compared with < <= > >= under ORDER BY ... LIMIT


@functools.lru_cache(maxsize=1024)
def _batch_shape(text: str) -> _BatchShape | None:
    """None when ``text`` can be no batch: no LIMIT or OFFSET, no collapsed list."""
    openers = list(_LIST_OPENERS.finditer(text))
    if not openers and " LIMIT " not in text and " OFFSET " not in text:
        return None
    marks = [m.start() for m in _PLACEHOLDER.finditer(text)]
    width, kind = 0, ""
    if len(openers) == 1:
        opener = openers[0]
        close = "]" if opener.group().endswith("[") else ")"
        depth, end = 1, opener.end()
        while end < len(text) and depth:
            depth += {"(": 1, "[": 1, ")": -1, "]": -1}.get(text[end], 0)
            end += 1
        if close == text[end - 1 : end]:
            width = text.count("?", opener.end(), end)
            kind = opener.group().strip()
    limit_at = offset_at = -1
    cursors: list[int] = []
    ordered = " ORDER BY " in text and " LIMIT " in text
    for index, at in enumerate(marks):
        before = text[max(0, at - 120) : at]
        if before.endswith(("LIMIT ", "LIMIT CAST(")):
            limit_at = index
        elif before.endswith(("OFFSET ", "OFFSET CAST(")):
            offset_at = index
        elif ordered and _CURSOR_BEFORE.search(before):
            cursors.append(index)
    return _BatchShape(len(marks), width, kind, limit_at, offset_at, tuple(cursors))


def _batched(events: Sequence[QueryEvent], shape: _BatchShape) -> bool:
    """True when a repetition group reads or writes in batches: pages of a table (by OFFSET or
    by a cursor, keyset pagination) or chunks of many keys per statement. The number of such
    statements grows with the rows over the page size, not with the rows: no N+1. ``shape``:
    :func:`_batch_shape` of their statement (the caller skips the call when it is None)."""
    params = list(map(_values, events))
    if shape.list_width and _chunks(events, params, shape):
        return True  # (else pages of a constant list, ``IN (?) ... LIMIT ? OFFSET ?``, may be)
    sizes = set(map(len, params))
    if len(sizes) != 1:
        return False
    (size,) = sizes
    columns = list(zip(*params, strict=True))
    varying = [i for i, column in enumerate(columns) if len(set(column)) > 1]
    exact = size == shape.placeholders  # no literal among the ``?``: index i is parameter i
    offset_pages = shape.offset_at >= 0 and len(varying) == 1
    if offset_pages and _offset_pages(events, columns, varying[0], shape, exact):
        return True
    if shape.cursors and varying and (not exact or set(varying) <= set(shape.cursors)):
        return _keyset_pages(events, params, columns, varying, shape, exact)
    return False


def _offset_pages(
    events: Sequence[QueryEvent],
    columns: list[tuple[int, ...]],
    varying: int,
    shape: _BatchShape,
    exact: bool,
) -> bool:
    """The one varying parameter is the OFFSET, growing by a page (of at least _BATCH_MIN
    rows) each time: ``LIMIT 100 OFFSET 0``, ``100``, ``200``..."""
    offsets = columns[varying]
    if exact:
        if varying != shape.offset_at:
            return False
    elif varying != len(columns) - 1 - (shape.placeholders - 1 - shape.offset_at) or offsets[0]:
        # literals among the ``?``: the last parameters are the OFFSET's only if nothing after
        # it is a literal, and a first page at offset 0 is required as well
        return False
    step = offsets[1] - offsets[0]
    if not _BATCH_MIN <= step < _INT_LIKE or not 0 <= offsets[0] < _INT_LIKE:
        return False
    moves = list(map(sub, offsets[1:], offsets))  # later - earlier
    if any(move != step for move in moves[:-1]) or not 1 <= moves[-1] <= step:
        return False  # a page each time; the move past a short last page may be shorter
    if exact and shape.limit_at >= 0 and columns[shape.limit_at][0] != step:
        return False  # the offset grows by the limit
    rows = [e.rows for e in events[:-2]]
    return None in rows or set(rows) <= {step}  # full pages, when counted


def _keyset_pages(
    events: Sequence[QueryEvent],
    params: list[tuple[int, ...]],
    columns: list[tuple[int, ...]],
    varying: list[int],
    shape: _BatchShape,
    exact: bool,
) -> bool:
    """Only the cursor (``WHERE id > ? ORDER BY id LIMIT ?``) varies, and each page starts
    after the previous one: its cursor is in the previous page's last row (when the rows were
    seen; then a literal LIMIT is fine too), or an integer cursor moves by at least the limit
    each time (but after the last page, which may be short)."""
    pages = [e.result_hashes for e in events[:-1]]  # each gives the next one its cursor
    seen = [page for page in pages if isinstance(page, Results)]
    if len(seen) == len(pages) and all(len(page) >= _BATCH_MIN for page in seen[:-1]) and seen[-1]:
        for page, values in zip(seen, params[1:], strict=True):  # (the last may be short)
            try:
                last_row = set(map(hash, page[-1]))
            except TypeError:
                return False
            if not {values[i] for i in varying} <= last_row:
                return False
        return True
    if not exact or len(varying) != 1 or shape.limit_at < 0:
        return False
    limit = columns[shape.limit_at][0]
    cursor = columns[varying[0]]
    if not _BATCH_MIN <= limit < _INT_LIKE or max(map(abs, cursor)) >= _INT_LIKE:
        return False
    moves = list(map(sub, cursor[1:], cursor))  # later - earlier
    if moves[-1] < 0:  # descending (``id < ?``)
        moves = [-m for m in moves]
    return all(m >= limit for m in moves[:-1]) and moves[-1] > 0


def _values(event: QueryEvent) -> tuple[int, ...]:
    """``event``'s parameters with its literals among them, in the order of the text's values
    (:attr:`Fingerprint.values`): what the batch checks index by ``?``. Its parameters alone
    when its text holds no literal, or when they cannot be placed (fewer or more than the
    text's placeholders: a ``$1`` used twice, a mapping)."""
    params = event.param_hashes
    slots = event.fingerprint.values
    if not slots:
        return params
    if not params:
        if None in slots:
            return params
        return slots  # type: ignore[return-value]  # (no None in it)
    if slots.count(None) != len(params):
        return params
    bound = iter(params)
    return tuple(next(bound) if slot is None else slot for slot in slots)


def _chunks(
    events: Sequence[QueryEvent], params: list[tuple[int, ...]], shape: _BatchShape
) -> bool:
    """Each statement carries a different chunk of at least _BATCH_MIN keys (or rows), the
    chunks of one size but the last, and no key in two chunks: ``WHERE id IN (?, ?, ...)``,
    ``= ANY(?)`` with an array, ``VALUES (?), (?), ...``."""
    arrays = _kept_arrays(events) if shape.list_kind == "ANY(" else None
    if arrays is not None:  # kept values: an array parameter is one hash, its length here
        sizes = list(map(len, arrays))
    else:  # the collapsed list holds what the text's ``?`` do not (literals only lower this)
        sizes = [(len(p) - shape.placeholders) // shape.list_width + 1 for p in params]
    full = sizes[0]
    if full < _BATCH_MIN or any(s != full for s in sizes[1:-1]) or not 1 <= sizes[-1] <= full:
        return False
    if arrays is not None:  # no key in two arrays
        try:
            return len(set(itertools.chain.from_iterable(arrays))) == sum(sizes)
        except TypeError:
            return False
    if shape.list_kind == "VALUES (":
        return True  # rows of many values (values of one column repeat across rows)
    # Once the values every statement has (the constants) are set aside, no key is in two
    # chunks, and the list's values are keys: a constant list beside a varying parent key
    # (``status IN (?, ?, ?) AND user_id = ?`` per user) is a loop over that key. (A key may
    # equal one of the values outside the list, hence the allowance.)
    chunks = list(map(set, params))
    constants = set.intersection(*chunks)
    keys = [chunk - constants for chunk in chunks]
    if any(len(k) < 2 * size - len(p) for k, size, p in zip(keys, sizes, params, strict=True)):
        return False
    return len(set().union(*keys)) == sum(map(len, keys))


def _kept_arrays(events: Sequence[QueryEvent]) -> list[list[object] | tuple[object, ...]] | None:
    """The array parameter of each event, when the unit kept the values (None otherwise)."""
    arrays = []
    for event in events:
        values = event.params
        if isinstance(values, dict):
            values = list(values.values())
        if not isinstance(values, list | tuple):
            return None
        found = [v for v in values if isinstance(v, list | tuple)]
        if len(found) != 1:
            return None
        arrays.append(found[0])
    return arrays


@dataclass(frozen=True, slots=True)
class RepetitionGroup:
    """Executions of one statement from one place; ``loop_at`` indexes the loop frame in the
    first event's stack (0, the query itself, when no loop was located)."""

    events: list[QueryEvent]
    loop_at: int
    query_sites: tuple[CallSite, ...]  # where the statement was issued, one per distinct path


def repetition_groups(
    events: Sequence[QueryEvent], locate_loop: LocateLoop | None = None
) -> list[RepetitionGroup]:
    """Group single-statement reads and writes by fingerprint and place.

    The place is first the exact chain of frames, compared by value (two chains that merely
    hash alike are never merged), so two loops calling one helper are two groups. Chains that
    reach the same statement under one loop (the same loop frame, whose first line
    ``locate_loop`` gives, and the same frames outside it) through different helpers are then
    one group, when each of them repeated and their executions interleave: one loop calling
    ``load_a(p)`` or ``load_b(p)`` per item. Three different lines that each ran a lookup once,
    under a loop far outside (a test runner's), are no loop over keys and stay apart.
    """
    return _repetition_groups(_plain(events), locate_loop, repeated_only=False)


def _repetition_groups(
    plain: Sequence[QueryEvent], locate_loop: LocateLoop | None, *, repeated_only: bool
) -> list[RepetitionGroup]:
    """:func:`repetition_groups` of :func:`_plain` events; ``repeated_only``: nothing at all
    when no statement ran twice from one chain (then every group would be one execution, which
    no detector judges)."""
    by_stack = _by_statement_and_stack(plain)
    if repeated_only and len(by_stack) == len(plain):  # as many groups as events: all single
        return []
    under_loop: dict[tuple[object, ...], list[tuple[list[QueryEvent], int]]] = {}
    groups: list[RepetitionGroup] = []
    for group in by_stack:
        first = group[0]
        stack = first.stack
        loop = locate_loop(stack) if locate_loop is not None and stack else None
        if loop is None:
            groups.append(RepetitionGroup(group, 0, stack[:1]))
            continue
        loop_at, header = loop
        site = stack[loop_at]
        # the frames outside the loop by value (hashed per group, not per event)
        place = (first.fingerprint.digest, site.path, site.function, header, stack[loop_at + 1 :])
        under_loop.setdefault(place, []).append((group, loop_at))
    for members in under_loop.values():
        if len(members) == 1:  # one chain under this loop: nothing to merge
            chain_events, loop_at = members[0]
            merged = sorted(chain_events, key=_SEQ)
            groups.append(RepetitionGroup(merged, loop_at, (chain_events[0].stack[0],)))
        else:
            groups.extend(_merge_interleaved(members))
    if len(groups) > 1:
        groups.sort(key=_first_seq)
    return groups


def _by_statement_and_stack(events: Sequence[QueryEvent]) -> list[list[QueryEvent]]:
    """``events`` grouped by fingerprint and chain of frames (by value), in order of first
    appearance, each group in the events' order.

    Capture hands out one shared tuple per call chain, and hashing a tuple of dataclasses field
    by field, per event, was the detectors' main cost: chains are told apart by ``id()`` once
    the distinct tuples of the unit are known to differ by value (the usual case; otherwise
    :class:`_StackNumbers` numbers them by value), and the grouping itself (a stable sort of
    the keys, then ``groupby``) runs at C speed, not one Python step per event.
    """
    if not events:
        return []
    stacks = list(map(_STACK, events))
    stack_keys: list[int] = list(map(id, stacks))
    distinct = dict(zip(stack_keys, stacks, strict=True))
    if len(distinct) > 1 and not _all_differ(distinct.values()):
        stack_keys = list(map(_StackNumbers(), stacks))
    keys = list(zip(map(_DIGEST, events), stack_keys, strict=True))
    first_seen = dict.fromkeys(keys)
    if len(first_seen) == len(keys):  # nothing repeats: one group per event
        return list(map(list, zip(events)))
    order = sorted(range(len(keys)), key=keys.__getitem__)  # stable: events' order within a key
    grouped = {
        key: list(map(events.__getitem__, indices))
        for key, indices in groupby(order, key=keys.__getitem__)
    }
    return list(map(grouped.__getitem__, first_seen))


def _all_differ(stacks: Iterable[tuple[CallSite, ...]]) -> bool:
    """True when no two of these (distinct) tuples are equal by value: their frames' hashes
    differ. False also when two merely hash alike: the caller then compares by value."""
    chains = list(stacks)
    try:  # (the hash of each frame of each chain, at C speed: no Python __hash__ per frame)
        signatures = set(map(tuple, map(map, repeat(_site_hash), chains)))
    except AttributeError:  # frames that are not CallSites (a test's): compare by value
        return False
    return len(signatures) == len(chains)


def _merge_interleaved(members: list[tuple[list[QueryEvent], int]]) -> list[RepetitionGroup]:
    """One group per cluster of repeated, interleaving chains under one loop; the others
    alone. ``members`` are (events in order, loop frame index) per chain."""
    members.sort(key=_first_member_seq)
    clusters: list[tuple[list[list[QueryEvent]], int, int]] = []  # (chains, loop_at, last seq)
    for chain_events, loop_at in members:
        first, last = chain_events[0].seq, chain_events[-1].seq
        if clusters and len(chain_events) > 1:
            chains, cluster_loop_at, cluster_last = clusters[-1]
            if len(chains[0]) > 1 and first < cluster_last:
                chains.append(chain_events)
                clusters[-1] = (chains, cluster_loop_at, max(cluster_last, last))
                continue
        clusters.append(([chain_events], loop_at, last))
    groups = []
    for chains, loop_at, _ in clusters:
        merged = sorted(itertools.chain.from_iterable(chains), key=_SEQ)
        sites = tuple(dict.fromkeys(chain[0].stack[0] for chain in chains))
        groups.append(RepetitionGroup(merged, loop_at, sites))
    return groups


def orm_load(events: Sequence[QueryEvent]) -> OrmLoad | None:
    """What the ORM lazily loaded for every event of a group (None unless they all agree)."""
    label = events[0].relationship if len(events[0]) > _RELATIONSHIP_FIELD else None
    if label is None:
        return None
    labels = set(map(_RELATIONSHIP, events))
    if None in labels:
        return None  # not all of them
    loads = {label.partition(_PARENT_MARK)[0] for label in labels}
    if len(loads) != 1:
        return None  # not all the same relationship
    return OrmLoad.parse(loads.pop())


def orm_parents(events: Sequence[QueryEvent]) -> int | None:
    """How many parent objects a group of lazy loads loaded for, when every label names its
    parent (Django's end in ``" @<digest of the parent's key>"``, capture/django_orm.py);
    None otherwise (SQLAlchemy's: the parameter sets count). One parent's related rows read
    with two filters (``article.comments.filter(text=t)`` for two ``t``) is one parent."""
    parents: set[str] = set()
    for label in map(_RELATIONSHIP, events):
        _, mark, parent = label.partition(_PARENT_MARK)
        if not mark:
            return None
        parents.add(parent)
    return len(parents)


@dataclass(frozen=True, slots=True)
class OrmLoad:
    """A label of ``capture/sqlalchemy_orm.py`` read back: ``"Project.renders"`` (a collection),
    ``"Render.project (many-to-one)"``, ``"Project.description (deferred)"``, ``"Project
    (expired)"``.

    >>> OrmLoad.parse("Project.renders").fix_code
    'select(Project).options(selectinload(Project.renders))'
    >>> OrmLoad.parse("Render.project (many-to-one)").fix_code
    'select(Render).options(joinedload(Render.project))'
    """

    attribute: str  # "Project.renders", "Project.description, Project.notes", "Project"
    kind: str  # "collection", "many-to-one", "one-to-one", "deferred", "expired"

    @classmethod
    def parse(cls, label: str) -> OrmLoad:
        attribute, _, kind = label.partition(" (")
        return cls(attribute, kind.rstrip(")") or "collection")

    @property
    def owner(self) -> str:
        return self.attribute.split(".", 1)[0]

    @property
    def is_column(self) -> bool:
        return self.kind in ("deferred", "expired")

    @property
    def fix_code(self) -> str:
        if self.kind == "expired":
            return "Session(engine, expire_on_commit=False)  # or reload the rows in one query"
        if self.kind == "deferred":
            columns = ", ".join(self.attribute.split(", "))
            return f"select({self.owner}).options(undefer({columns}))"
        loader = "selectinload" if self.kind == "collection" else "joinedload"
        return f"select({self.owner}).options({loader}({self.attribute}))"


def _n_plus_one_finding(
    group: RepetitionGroup,
    distinct_params: int,
    load: OrmLoad | None,
    unit: str,
    totals: tuple[int, float],
) -> Finding:
    events = group.events
    first = events[0]
    total_ms = _total_ms(events)
    text = first.fingerprint.text
    via = ""
    if group.loop_at:
        via = " through " + " and ".join(
            f"{site.function} ({site.path}:{site.line})" for site in group.query_sites
        )
    stats = f"{len(events)} queries, {total_ms:.1f} ms"
    if load is None:
        message = (
            f"N+1: the same query ran {len(events)} times from one call site "
            f"({distinct_params} different parameter sets, {total_ms:.1f} ms)"
        )
        problem = (
            f"Each iteration of the loop sends its own round trip{via}: `{text}`. The cost "
            "grows with the number of rows the loop walks over."
        )
        fix = Fix(
            summary=_BATCH_READ_ADVICE.get(first.source, _BATCH_READ_ADVICE[""]),
            code=_batch_for(text, varying_parameters(events)),
            language="sql",
        )
    elif load.is_column:
        what = f"expired {load.owner} attributes" if load.kind == "expired" else load.attribute
        message = (
            f"N+1: {what} reloaded for {distinct_params} {plural(load.owner, distinct_params)} "
            f"one by one ({stats})"
        )
        cause = (
            "were expired (by a commit or expire()) and each object reloads them on access"
            if load.kind == "expired"
            else "is deferred and each object loads it on first access"
        )
        problem = f"{load.attribute} {cause}{via}: `{text}`."
        fix = Fix(
            summary=(
                "Keep the loaded values across the commit (expire_on_commit=False) or reload "
                "all rows in one query."
                if load.kind == "expired"
                else "Load the column with the query that loads the objects (undefer)."
            ),
            code=load.fix_code,
        )
    else:
        message = (
            f"N+1: {load.attribute} lazy-loaded for {distinct_params} "
            f"{plural(load.owner, distinct_params)} ({stats})"
        )
        problem = (
            f"{load.attribute} was not loaded with the {load.owner} query, so each "
            f"{load.owner} loads it on first access{via}: `{text}`."
        )
        how = (
            "selectinload: one more query for all of them"
            if load.kind == "collection"
            else "joinedload: the same query"
        )
        fix = Fix(
            summary=f"Load {load.attribute} with the {load.owner} query ({how}).",
            code=load.fix_code,
        )
    if load is not None and first.source == "django":  # labelled by capture/django_orm.py
        fix = _django_load_fix(load, counts=text.startswith(_DJANGO_COUNTS))
    return _finding(
        rule=N_PLUS_ONE,
        at=group.loop_at,
        severity=Severity.HIGH if len(events) >= 10 else Severity.MEDIUM,
        message=message,
        stack=first.stack,
        extra_sites=group.query_sites[1:],
        problem=problem,
        fix=fix,
        evidence=RuntimeEvidence(
            len(events), round(total_ms, 3), unit, first.fingerprint.digest, *totals
        ),
        query_cost=str(len(events)),
        fixed_query_cost="2" if load is not None and load.kind == "collection" else "1",
        confidence="high" if first.stack else "low",
    )


def _django_load_fix(load: OrmLoad, counts: bool = False) -> Fix:
    """A Django lazy load's fix, in Django's words (its labels name the attribute as
    SQLAlchemy's do; Django has no expired attributes, only deferred fields).

    >>> _django_load_fix(OrmLoad.parse("Article.author (many-to-one)")).code
    'Article.objects.select_related("author")'
    >>> _django_load_fix(OrmLoad.parse("Article.tags")).code
    'Article.objects.prefetch_related("tags")'
    """
    owner, _, name = load.attribute.partition(".")
    if load.is_column:
        return Fix(
            summary=f"Load {name} with the {owner} query: drop it from defer(), add it to only().",
            code=f'{owner}.objects.defer(None)  # or .only(..., "{name}")',
        )
    if load.kind.startswith("filtered"):
        return _django_filtered_fix(load, counts)
    if load.kind == "collection":
        return Fix(
            summary=(
                f"Load {load.attribute} with the {owner} query (prefetch_related: one more "
                "query for all of them, which count() and exists() read too; for counts "
                f'alone, annotate(Count("{name}"))).'
            ),
            code=f'{owner}.objects.prefetch_related("{name}")',
        )
    return Fix(
        summary=f"Load {load.attribute} with the {owner} query (select_related: the same query).",
        code=f'{owner}.objects.select_related("{name}")',
    )


def _django_filtered_fix(load: OrmLoad, counts: bool) -> Fix:
    """A related manager's queryset filtered further (``article.comments.filter(text=t)``),
    whose rows ``prefetch_related("comments")`` does not serve: a ``Prefetch`` with that
    filtered queryset, or for ``count()``/``exists()`` a ``Count`` with that filter.

    >>> _django_filtered_fix(OrmLoad.parse("Article.comments (filtered Comment: text)"), True).code
    'Article.objects.annotate(comments_count=Count("comments", filter=Q(comments__text=...)))'
    """
    owner, _, name = load.attribute.partition(".")
    related, _, lookups = load.kind.removeprefix("filtered").strip().partition(": ")
    names = lookups.split(", ") if lookups else []
    if counts:
        condition = ", ".join(f"{name}__{lookup}=..." for lookup in names) or "..."
        return Fix(
            summary=(
                f"Count {load.attribute} with the {owner} query: annotate() a Count with the "
                "same filter (filter=Q(...)), one query for all of them; exists() is a count "
                "over 0."
            ),
            code=f'{owner}.objects.annotate({name}_count=Count("{name}", filter=Q({condition})))',
        )
    condition = ", ".join(f"{lookup}=..." for lookup in names) or "..."
    return Fix(
        summary=(
            f"Load {load.attribute} with the {owner} query, filtered as the loop filters them: "
            "prefetch_related with a Prefetch of that queryset (one more query for all of "
            "them), read from to_attr."
        ),
        code=(
            f'{owner}.objects.prefetch_related(Prefetch("{name}", '
            f'queryset={related or "..."}.objects.filter({condition}), to_attr="filtered_{name}"))'
        ),
    )


# count() and exists() as Django sends them, normalised: what annotate(Count(...)) replaces
_DJANGO_COUNTS = ('SELECT COUNT(*) AS "__count" ', 'SELECT ? AS "a" ')

# The fix in the words of the library that sent the statements (``QueryEvent.source``).
_BATCH_READ_ADVICE = {
    "": (
        "Fetch all keys in one query (or eager-load the relationship) before the loop, then "
        "group the rows in Python."
    ),
    "django": (
        "Fetch all keys in one query before the loop (select_related for a foreign key, "
        "prefetch_related for a reverse or many-to-many relation, or filter(key__in=keys)), "
        "then group the rows in Python."
    ),
}
_BATCH_WRITE_ADVICE = {
    "": (
        "Write all rows at once: cursor.executemany / session.execute(insert(Model), rows) / "
        "update(Model).where(Model.id.in_(ids)), in one transaction."
    ),
    "django": (
        "Write all rows at once: Model.objects.bulk_create(objs) / bulk_update(objs, fields) / "
        "Model.objects.filter(pk__in=ids).update(...) or .delete(), in one transaction."
    ),
}


def _per_item_writes_finding(
    group: RepetitionGroup, distinct_params: int, unit: str, totals: tuple[int, float]
) -> Finding:
    events = group.events
    first = events[0]
    total_ms = _total_ms(events)
    text = first.fingerprint.text
    statement = first.fingerprint.kind.upper()
    batch = _batch_for(text, varying_parameters(events))
    return _finding(
        rule=PER_ITEM_WRITES,
        at=group.loop_at,
        severity=Severity.HIGH if len(events) >= 10 else Severity.MEDIUM,
        message=(
            f"Row-by-row writes: the same {statement} ran {len(events)} times from one call "
            f"site ({distinct_params} different parameter sets, {total_ms:.1f} ms)"
        ),
        stack=first.stack,
        extra_sites=group.query_sites[1:],
        problem=(
            f"Each row is written with its own round trip: `{text}`. One statement (or one "
            "executemany) would write them all."
        ),
        fix=Fix(
            summary=_BATCH_WRITE_ADVICE.get(first.source, _BATCH_WRITE_ADVICE[""]),
            code=batch,
            language="sql" if batch else "python",
        ),
        evidence=RuntimeEvidence(
            len(events), round(total_ms, 3), unit, first.fingerprint.digest, *totals
        ),
        query_cost=str(len(events)),
        fixed_query_cost="1",
        confidence="high" if first.stack else "low",
    )


def plural(noun: str, count: int) -> str:
    """``plural("Project", 50)`` is ``"projects"``: lower case, an English plural.

    >>> [plural(n, 2) for n in ("Project", "Category", "Address", "Day")]
    ['projects', 'categories', 'addresses', 'days']
    """
    word = noun.lower()
    if count == 1:
        return word
    if word.endswith("y") and word[-2:-1] not in ("a", "e", "i", "o", "u"):
        return word[:-1] + "ies"
    if word.endswith(("s", "x", "z", "ch", "sh")):
        return word + "es"
    return word + "s"


def _duplicate_findings(
    plain: Sequence[QueryEvent],
    config: DetectConfig,
    unit: str,
    totals: tuple[int, float],
    events: Sequence[QueryEvent] = (),
) -> list[tuple[Finding, set[int]]]:
    """``events``: all the unit's events, for the writes between two runs of a statement.

    Runs in two threads are no duplicate of each other: one flow of control does not hold
    both results, so "pass the result along" does not apply (a miss at worst). Under a test
    client the test's thread arranges and checks (``session.refresh(item)`` after creating
    it, a re-read after the request) while the app's thread serves the request
    (``session.get(Item, id)``): the same statement and parameters, in two sessions, neither
    redundant (full-stack-fastapi-template's ``test_read_item``)."""
    # ((fingerprint, literals), QueryEvent.params_key, thread) per event, at C speed;
    # executemany is not plain; statements that differ in their literals only (an f-string's)
    # are no duplicates
    keys = list(
        zip(
            map(_DIGEST_AND_LITERALS, plain),
            map(hash, map(_PARAMS, plain)),
            map(_THREAD, plain),
            strict=True,
        )
    )
    if len(set(keys)) == len(keys):
        return []  # nothing ran twice with the same parameters
    found = []
    writes: list[QueryEvent] | None = None
    for key, count in Counter(keys).items():  # in order of first appearance
        if count < config.duplicate_threshold:
            continue
        group = list(compress(plain, map(eq, keys, repeat(key))))
        if group[0].fingerprint.kind == "insert":
            continue  # the same values inserted twice are two rows, neither one redundant
        if writes is None:  # DDL that names a table (CREATE, DROP, ALTER) changes it too
            writes = [e for e in events if e.error is None and _changes_tables(e)]
        for run in _between_writes(group, writes):
            if len(run) >= config.duplicate_threshold:
                found.append(_duplicate_finding(run, unit, totals))
    return found


def _between_writes(
    group: list[QueryEvent], writes: Sequence[QueryEvent]
) -> list[list[QueryEvent]]:
    """``group`` (one statement run again with the same parameters, in order) cut wherever a
    write to a table it reads ran between two of its runs: the second run may read what the
    write changed (``exists()``, ``add()``, ``exists()`` again), a re-read, not a duplicate.
    A statement or a write whose tables are unknown overlaps everything. The same UPDATE or
    DELETE run again after another write to its tables (the rows were recreated: a test that
    restores a backup twice migrates the same tables twice) is no duplicate either."""
    tables = {t.lower() for t in group[0].fingerprint.tables}
    cuts = [
        w.seq
        for w in writes
        if not tables
        or not w.fingerprint.tables
        or not tables.isdisjoint([t.lower() for t in w.fingerprint.tables])
    ]
    if not cuts:
        return [group]
    runs = [[group[0]]]
    for event in group[1:]:
        previous = runs[-1][-1].seq
        if any(previous < cut < event.seq for cut in cuts):
            runs.append([event])
        else:
            runs[-1].append(event)
    return runs


def _changes_tables(event: QueryEvent) -> bool:
    kind = event.fingerprint.kind
    return kind in _WRITE_KINDS or (kind == "other" and bool(event.fingerprint.tables))


def _duplicate_finding(
    group: list[QueryEvent], unit: str, totals: tuple[int, float]
) -> tuple[Finding, set[int]]:
    first = group[0]
    total_ms = _total_ms(group)
    sites = _call_sites(group)
    finding = _finding(
        rule=DUPLICATE,
        severity=Severity.MEDIUM if len(group) >= 5 else Severity.LOW,
        message=(
            f"Duplicate query: the same statement with the same parameters ran "
            f"{len(group)} times ({total_ms:.1f} ms)"
        ),
        stack=first.stack,
        extra_sites=sites[1:],
        problem=(
            f"`{first.fingerprint.text}` returned the same rows {len(group) - 1} more "
            f"time(s) than needed, from {len(sites) or 'an unknown number of'} call site(s)."
        ),
        fix=_duplicate_fix(group),
        evidence=RuntimeEvidence(
            len(group), round(total_ms, 3), unit, first.fingerprint.digest, *totals
        ),
        query_cost=str(len(group)),
        fixed_query_cost="1",
        confidence="high",
    )
    return finding, set(map(_SEQ, group))


def _duplicate_fix(group: Sequence[QueryEvent]) -> Fix:
    """The SQLAlchemy reloads of an object a commit expired (labelled ``"User (expired)"``)
    repeat because of the commit, not because code asked twice: no result to pass along."""
    load = orm_load(group)
    if load is None or load.kind != "expired":
        return _DUPLICATE_FIX
    return Fix(
        summary=(
            f"SQLAlchemy reloaded {load.owner} after each commit expired it: keep loaded "
            "objects across commits with expire_on_commit=False (or commit once, after "
            "the reads)."
        ),
        code=load.fix_code,
        language="python",
    )


_DUPLICATE_FIX = Fix(
    summary="Run it once and pass the result along (or cache it for the unit of work)."
)


def _call_sites(events: Sequence[QueryEvent]) -> list[CallSite]:
    """The distinct ``QueryEvent.call_site``s of ``events``, in order of first appearance
    (each distinct chain object looked at once)."""
    stacks = list(map(_STACK, events))
    distinct = dict(zip(map(id, stacks), stacks, strict=True)).values()
    return list(dict.fromkeys(map(_FIRST, filter(None, distinct))))


def _sequential_findings(
    events: Sequence[QueryEvent],
    config: DetectConfig,
    unit: str,
    claimed: frozenset[int] | set[int],
    totals: tuple[int, float],
    selects_only: bool,
    by_request: bool = False,
) -> list[Finding]:
    """``selects_only``: every event is a single-statement SELECT (not executemany).
    ``by_request``: ``events`` hold several requests (:func:`_per_request`): a task
    that made requests in its own task (an ASGI transport in the test's) runs each request's
    statements after the previous request's, which no line of the application could gather."""
    least = config.sequential_min_queries
    if len(events) < least:
        return []
    tasks: list[Any] = list(map(_TASK, events))
    if by_request:
        requests = map(_REQUEST, events)
        tasks = [None if t is None else (t, r) for t, r in zip(tasks, requests, strict=True)]
    if tasks.count(tasks[0]) == len(tasks):  # one task (or none) for the whole unit: the usual
        per_task = [events] if tasks[0] is not None else []
    else:
        per_task = _per_task(events, tasks, least)
    found: list[list[QueryEvent]] = []
    for task_events in per_task:
        if not selects_only:
            eligible = _eligible(task_events, claimed)
        elif claimed:
            eligible = len(task_events) - sum(map(claimed.__contains__, map(_SEQ, task_events)))
        else:
            eligible = len(task_events)
        if eligible < least:
            continue  # no run possible: skip the dependency analysis (an N+1 claimed them all)
        ordered = sorted(task_events, key=_STARTED)
        for independent in _independent_runs(ordered, claimed, selects_only):
            for run in _awaited_together(independent) if len(independent) >= least else ():
                if len(run) < least:
                    continue
                if _saving_ms(run) < config.sequential_min_saving_ms:
                    continue
                found.append(run)
    if not found:
        return []
    if len(found) == 1:
        same_shape = [found]
    else:  # runs through the same chains of frames are one finding ("N times")
        runs: dict[tuple[tuple[CallSite, ...], ...], list[list[QueryEvent]]] = defaultdict(list)
        for run in found:
            runs[tuple(map(_STACK, run))].append(run)
        same_shape = list(runs.values())
    findings = []
    for occurrences in same_shape:
        first_run = occurrences[0]
        queries = sum(map(len, occurrences))
        total_ms = sum(map(_total_ms, occurrences))
        saving_ms = sum(map(_saving_ms, occurrences))
        sites = sequence_sites(first_run)
        times = f" ({len(occurrences)} times)" if len(occurrences) > 1 else ""
        findings.append(
            _finding(
                rule=SEQUENTIAL,
                severity=Severity.MEDIUM,
                message=(
                    f"{len(first_run)} independent queries ran one after another in one task"
                    f"{times}; running them concurrently would save {saving_ms:.1f} ms "
                    f"of {total_ms:.1f} ms"
                ),
                stack=first_run[0].stack,
                extra_sites=sites,
                problem=(
                    "None of these queries uses a value returned by the others, yet each waited "
                    "for the previous one: `" + "`; `".join(map(_TEXT, first_run)) + "`"
                ),
                fix=_SEQUENTIAL_FIX,
                evidence=RuntimeEvidence(
                    queries, round(total_ms, 3), unit, first_run[0].fingerprint.digest, *totals
                ),
                query_cost=f"{len(first_run)} sequential",
                fixed_query_cost=f"{len(first_run)} concurrent",
                confidence="medium",
            )
        )
    return findings


_SEQUENTIAL_FIX = Fix(
    summary=(
        "Run them with asyncio.gather, each on its own connection or session "
        "(one AsyncSession cannot run two queries at once), or join them."
    ),
    code="results = await asyncio.gather(query_a(), query_b())",
    language="python",
)
_MANY_TASKS = 8  # above this many busy tasks, one Python pass groups the events by task


def _awaited_together(run: list[QueryEvent]) -> list[list[QueryEvent]]:
    """``run`` cut before each query whose chain of application frames and the previous
    query's share no function at their outer end (neither chain holds the function the other
    starts in): nothing of the application awaited both, a framework did (FastAPI's
    dependencies, then the endpoint; an authentication middleware, then the view), so no line
    of it could gather them. A chain of ``MAX_STACK`` frames may have been cut short of the
    function they share: it is never cut there."""
    parts = [[run[0]]]
    for previous, event in itertools.pairwise(run):
        if _apart(previous.stack, event.stack):
            parts.append([event])
        else:
            parts[-1].append(event)
    return parts


def _apart(first: tuple[CallSite, ...], second: tuple[CallSite, ...]) -> bool:
    if not first or not second or len(first) >= MAX_STACK or len(second) >= MAX_STACK:
        return False  # no application frame, or a chain that may go on: cannot be told
    # functions by path and name: their lines differ from query to query
    first_functions = {(site.path, site.function) for site in first}
    second_functions = {(site.path, site.function) for site in second}
    return (first[-1].path, first[-1].function) not in second_functions and (
        second[-1].path,
        second[-1].function,
    ) not in first_functions


def _per_task(
    events: Sequence[QueryEvent], tasks: list[Any], least: int
) -> list[Sequence[QueryEvent]]:
    """Each asyncio task's events (in the events' order, tasks in order of first appearance)
    for the tasks that ran at least ``least`` of them; events outside a task are left out."""
    busy = [t for t, n in Counter(tasks).items() if n >= least and t is not None]
    if len(busy) <= _MANY_TASKS:
        return [list(compress(events, map(eq, tasks, repeat(t)))) for t in busy]
    by_task: dict[Any, list[QueryEvent]] = defaultdict(list)
    for event, task in zip(events, tasks, strict=True):
        by_task[task].append(event)
    return [by_task[t] for t in busy]


def _eligible(task_events: Sequence[QueryEvent], claimed: frozenset[int] | set[int]) -> int:
    """How many of ``task_events`` could be in a run: unclaimed SELECTs, not executemany."""
    return sum(
        1
        for e in task_events
        if e.fingerprint.kind == "select" and not e.many and e.seq not in claimed
    )


def sequence_sites(run: Sequence[QueryEvent]) -> list[CallSite]:
    """Where each later query of a run was awaited, in the function that awaited them all: the
    first frame (from the outside in) where its stack leaves the first query's stack. That is
    the line a reader fixes (and the one the static rule points at), not the DAL line."""
    try:  # frames compared by the fields CallSite compares, at C speed
        return _sequence_sites(run, _SITE_VALUE)
    except AttributeError:  # frames that are not CallSites (a test's): as they compare
        return _sequence_sites(run, _itself)


def _sequence_sites(
    run: Sequence[QueryEvent], value: Callable[[CallSite], object]
) -> list[CallSite]:
    first = list(map(value, reversed(run[0].stack)))
    sites: list[CallSite] = []
    for event in run[1:]:
        stack = event.stack[::-1]
        # the frames in common from the outside in
        depth = len(list(takewhile(truth, map(eq, map(value, stack), first))))
        if depth < len(stack):
            sites.append(stack[depth])
    return list(dict.fromkeys(sites))


def independent_runs(
    task_events: Sequence[QueryEvent], claimed: frozenset[int] | set[int] = frozenset()
) -> list[list[QueryEvent]]:
    """Split one task's events (in start order) into runs of consecutive, mutually independent
    SELECTs: consecutive queries at the same :func:`ready_levels` level. Claimed events (an N+1
    loop) and writes take part in the dependency levels but never in a run."""
    return _independent_runs(task_events, claimed, selects_only=False)


def _independent_runs(
    task_events: Sequence[QueryEvent], claimed: frozenset[int] | set[int], selects_only: bool
) -> list[list[QueryEvent]]:
    levels = _ready_levels(task_events, selects_only)
    keys: Iterable[int] = levels
    if claimed or not selects_only:
        if selects_only:
            eligible: Iterable[bool] = map(not_, map(claimed.__contains__, map(_SEQ, task_events)))
        else:
            eligible = map(
                all,
                zip(
                    map(eq, map(_KIND, task_events), repeat("select")),
                    map(not_, map(_MANY, task_events)),
                    map(not_, map(claimed.__contains__, map(_SEQ, task_events))),
                    strict=True,
                ),
            )
        # an eligible query's level, -1 for the others: runs are the consecutive equal keys >= 0
        keys = map(sub, map(mul, map(add, levels, repeat(1)), eligible), repeat(1))
    return [
        list(map(_SECOND, members))
        for key, members in groupby(zip(keys, task_events, strict=True), key=_FIRST)
        if key >= 0
    ]


def ready_levels(task_events: Sequence[QueryEvent]) -> list[int]:
    """For each query, the earliest "round" it could have started in: 0 for queries needing only
    the task's inputs, one more than the query whose result a parameter came from, and no earlier
    than the round after any write before it (reads after a write may read what it wrote).

    A parameter value is *known* from the earliest query that used it as a parameter, and
    *produced* by the earliest query whose (seen) result holds it. A multi-valued parameter set
    (an ``IN`` list) wholly contained in an earlier result is taken from the latest such result,
    even when small integers also happen to be known. A value of unknown origin while some
    result was not seen is assumed to come from the previous query: the detector errs towards
    silence.
    """
    return _ready_levels(task_events, selects_only=False)


def _ready_levels(task_events: Sequence[QueryEvent], selects_only: bool) -> list[int]:
    """:func:`ready_levels`; ``selects_only``: no event is a write (or executemany)."""
    if not task_events:
        return []
    # The first query needs nothing that came before it: round 0, its values known from it.
    first = task_events[0]
    levels = [0]
    known = dict.fromkeys(first.param_hashes, 0)  # value -> the round of its first use
    barrier = 0 if selects_only or _is_read(first) else 1
    all_results_seen = first.result_hashes is not None
    # value -> the round after the earliest query whose result holds it, indexed lazily: the
    # results are hashed (at C speed, once) only when some value is not a known input
    rounds: dict[int, int] = {}
    indexed = 0
    for index, event in enumerate(itertools.islice(task_events, 1, None), 1):
        ready = barrier
        values = event.param_hashes
        if len(values) == 1:  # the usual case; one value has no single source
            value = values[0]
            origin = known.get(value)
            if origin is None:
                if indexed < index:
                    _index_results(task_events, levels, rounds, indexed, index)
                    indexed = index
                origin = rounds.get(value)
                if origin is not None:
                    ready = max(ready, origin)
                elif not all_results_seen:
                    ready = max(ready, levels[index - 1] + 1)
                known[value] = ready
            else:
                ready = max(ready, origin)
        elif values:
            source = _single_source(task_events, levels, index, values)
            if source is not None:
                ready = max(ready, levels[source] + 1)
            else:
                origins = list(map(known.get, values))
                if None in origins:
                    if indexed < index:
                        _index_results(task_events, levels, rounds, indexed, index)
                        indexed = index
                    for value in compress(values, map(is_, origins, repeat(None))):
                        origin = rounds.get(value)
                        if origin is not None:
                            ready = max(ready, origin)
                        elif not all_results_seen:
                            ready = max(ready, levels[index - 1] + 1)
                    inputs = set(origins)
                    inputs.discard(None)
                    if inputs:
                        ready = max(ready, *inputs)  # type: ignore[type-var,assignment]
                else:
                    ready = max(ready, *origins)  # type: ignore[type-var,assignment]
            # known.setdefault(value, ready) for each value, at C speed
            known.update(dict.fromkeys(set(values).difference(known), ready))
        levels.append(ready)
        if event.result_hashes is None:
            all_results_seen = False
        if not selects_only and not _is_read(event):
            barrier = ready + 1
    return levels


def _index_results(
    events: Sequence[QueryEvent], levels: list[int], rounds: dict[int, int], start: int, stop: int
) -> None:
    """Add the result values of ``events[start:stop]`` to ``rounds``: value -> the round after
    the earliest query whose result holds it."""
    for earlier in range(start, stop):
        results = events[earlier].result_hashes
        if isinstance(results, Results):  # result_hashes(), without a call per query
            results = results.hashes()
        if results:
            new = results - rounds.keys()
            rounds.update(dict.fromkeys(new, levels[earlier] + 1))


def _is_read(event: QueryEvent) -> bool:
    """A single-statement SELECT: later reads need not wait for it."""
    return event.fingerprint.kind == "select" and not event.many


_SOURCE_LOOKBACK = 50


def _single_source(
    events: Sequence[QueryEvent], levels: list[int], index: int, values: tuple[int, ...]
) -> int | None:
    wanted = set(values)
    if len(wanted) < 2:
        return None
    # The latest such result: small integers are in many results, and the latest is the
    # conservative choice (a later round, so less concurrency claimed).
    for earlier in range(index - 1, max(-1, index - 1 - _SOURCE_LOOKBACK), -1):
        results = events[earlier].result_hashes
        if isinstance(results, Results):  # result_hashes(), without a call per query
            results = results.hashes()
        if results is not None and wanted <= results:
            return earlier
    return None


def find_slow(
    events: Sequence[QueryEvent],
    config: DetectConfig,
    unit: str = "",
    *,
    totals: tuple[int, float] = (0, 0.0),
) -> list[Finding]:
    threshold_s = config.slow_query_ms / 1000
    groups: dict[str, list[QueryEvent]] = defaultdict(list)
    for event in compress(events, map(ge, map(_DURATION, events), repeat(threshold_s))):
        groups[event.fingerprint.digest].append(event)
    findings = []
    for group in groups.values():
        slowest = max(group, key=_DURATION)
        slowest_ms = slowest.duration * 1000
        total_ms = _total_ms(group)
        findings.append(
            _finding(
                rule=SLOW,
                severity=Severity.HIGH if slowest_ms >= 1000 else Severity.MEDIUM,
                message=(
                    f"Slow query: {slowest_ms:.1f} ms (threshold {config.slow_query_ms:g} ms)"
                    + (f", {len(group)} slow executions" if len(group) > 1 else "")
                ),
                stack=slowest.stack,
                problem=f"`{slowest.fingerprint.text}` took {slowest_ms:.1f} ms.",
                fix=_SLOW_FIX,
                evidence=RuntimeEvidence(
                    len(group), round(total_ms, 3), unit, slowest.fingerprint.digest, *totals
                ),
                confidence="high",
            )
        )
    return findings


_batch_for = functools.lru_cache(maxsize=1024)(suggest_batch)  # a unit's statements recur


_SLOW_FIX = Fix(
    summary=(
        "Look at its plan (dbaudit.runtime.explain, EXPLAIN without ANALYZE for "
        "writes) for a sequential scan or a sort that an index would remove."
    )
)


def _finding(
    *,
    rule: str,
    severity: Severity,
    message: str,
    stack: tuple[CallSite, ...],
    problem: str,
    fix: Fix,
    evidence: RuntimeEvidence,
    confidence: str,
    query_cost: str = "",
    fixed_query_cost: str = "",
    extra_sites: Sequence[CallSite] = (),
    at: int = 0,
) -> Finding:
    site = stack[at] if stack else CallSite("<unknown>", 0, "")
    hops = _hops(stack)
    if extra_sites:  # CallHop(path, line, function, "also from here") per site, at C speed
        also = zip(*map(_PATH_LINE_FUNCTION, extra_sites), strict=True)
        hops += tuple(map(CallHop, *also, repeat("also from here")))
    return Finding(
        rule=rule,
        severity=severity,
        message=message,
        path=site.path,
        line=site.line,
        end_line=site.line,
        function=site.function,
        query_cost=query_cost,
        fixed_query_cost=fixed_query_cost,
        call_chain=hops,
        fix=fix,
        confidence=confidence,  # type: ignore[arg-type]
        source="runtime",
        problem=problem,
        evidence=evidence,
    )


# chain object -> (the chain, its hops, outermost first): the same chains recur in every unit
_HOPS: dict[int, tuple[tuple[CallSite, ...], tuple[CallHop, ...]]] = {}
_HOPS_LIMIT = 1024


def _hops(stack: tuple[CallSite, ...]) -> tuple[CallHop, ...]:
    known = _HOPS.get(id(stack))
    if known is not None and known[0] is stack:  # (an entry keeps its chain alive: no id reuse)
        return known[1]
    hops = tuple(CallHop(s.path, s.line, s.function) for s in reversed(stack))
    if len(_HOPS) >= _HOPS_LIMIT:
        _HOPS.clear()
    _HOPS[id(stack)] = (stack, hops)
    return hops


def _apply_allowlist(
    findings: list[Finding], patterns: tuple[str, ...]
) -> tuple[list[Finding], list[Suppressed]]:
    if not patterns:
        return findings, []
    kept, suppressed = [], []
    for finding in findings:
        subjects = (
            finding.problem,
            f"{finding.path}:{finding.line}",
            finding.path,
            finding.function,
        )
        pattern = next((p for p in patterns if any(fnmatchcase(s, p) for s in subjects)), None)
        if pattern is None:
            kept.append(finding)
        else:
            suppressed.append(Suppressed(finding, f"allowed by pattern {pattern!r}"))
    return kept, suppressed


class _StackNumbers:
    """A small number per distinct stack *value*, for grouping keys.

    Capture hands out one shared tuple per call chain, and hashing a tuple of dataclasses field
    by field, per event, was the detectors' main cost: each tuple object is looked up by
    ``id()`` and hashed (and compared, so equal hashes of different chains stay apart) once.
    """

    __slots__ = ("_by_id", "_by_value")

    def __init__(self) -> None:
        self._by_id: dict[int, tuple[tuple[CallSite, ...], int]] = {}
        self._by_value: dict[tuple[CallSite, ...], int] = {}

    def __call__(self, stack: tuple[CallSite, ...]) -> int:
        known = self._by_id.get(id(stack))
        if known is None:
            number = self._by_value.setdefault(stack, len(self._by_value))
            known = self._by_id[id(stack)] = (stack, number)  # keeps ``stack`` alive
        return known[1]


def _without_ignored_sql(events: list[QueryEvent], patterns: tuple[str, ...]) -> list[QueryEvent]:
    verdicts: dict[str, bool] = {}  # per fingerprint: a unit has few distinct statements
    kept = []
    for event in events:
        fp = event.fingerprint
        ignored = verdicts.get(fp.digest)
        if ignored is None:
            text = fp.text.lower()
            ignored = verdicts[fp.digest] = any(fnmatchcase(text, p.lower()) for p in patterns)
        if not ignored:
            kept.append(event)
    return kept


def _plain(events: Sequence[QueryEvent]) -> Sequence[QueryEvent]:
    """The single-statement reads and writes among ``events`` (not executemany, not DDL)."""
    if set(map(_KIND, events)) <= _JUDGED_KINDS and not any(map(_MANY, events)):
        return events
    return [e for e in events if e.fingerprint.kind in _JUDGED_KINDS and not e.many]


def _unclaimed(events: Sequence[QueryEvent], claimed: set[int]) -> list[QueryEvent]:
    return list(compress(events, map(not_, map(claimed.__contains__, map(_SEQ, events)))))


def _itself(value: object) -> object:
    return value


def _first_seq(group: RepetitionGroup) -> int:
    return group.events[0].seq


def _first_member_seq(member: tuple[list[QueryEvent], int]) -> int:
    return member[0][0].seq


def _total_ms(events: Iterable[QueryEvent]) -> float:
    seconds: float = sum(map(_DURATION, events))
    return seconds * 1000


def _saving_ms(run: Sequence[QueryEvent]) -> float:
    saving: float = sum(map(_DURATION, run)) - max(map(_DURATION, run))
    return saving * 1000
