"""Django ORM: which relation or deferred field a statement lazily loaded.

Django's ``execute_wrapper`` hook (``capture/django.py``) sees every statement but not why the
ORM sent it, and Django has no event that says so. The call chain does: a lazy load runs inside
one of a few Django functions, recognised by their code objects, captured once at import.
:func:`lazy_load_label` walks up from the statement's compiler frame to the first application
frame; the first frame that names a load gives the label:

- ``ForwardManyToOneDescriptor.get_object`` (``article.author``, a forward one-to-one too):
  ``"Article.author (many-to-one)"``, ``"Restaurant.place (one-to-one)"``;
- ``ReverseOneToOneDescriptor.__get__`` (``place.restaurant``): ``"Place.restaurant
  (one-to-one)"``;
- ``DeferredAttribute.__get__`` (a field left out by ``only()``/``defer()``, loaded by
  ``refresh_from_db(fields=[...])`` on first access): ``"Article.body (deferred)"``, as the
  SQLAlchemy labels name a deferred column (``capture/sqlalchemy_orm.py``);
- a related manager's queryset (``article.comments.all()``, ``article.tags.all()``, their
  ``filter()``, ``get()``, ``count()``, ``exists()``...): ``"Article.comments"``,
  ``"Article.tags"``. The manager is gone from the stack by the time its queryset runs, so the
  queryset tells: a reverse foreign key's manager leaves the parent in
  ``_known_related_objects``; a many-to-many manager filters on one foreign key of the through
  table, which names the relation and its side.

The owner is the class of the object the attribute was read on (``type(instance)``), the name
the attribute's: what the fix writes (``Article.objects.select_related("author")``).

Which related-manager statements are lazy loads: every read of one parent's related rows, that
is every evaluation of a queryset a related manager built for one object (iterating it, ``get``,
``first``, ``count``, ``exists``, ``aggregate``). Each sends one statement per parent object, so
a loop over parents repeats it: the N+1 shape from two parents on. ``prefetch_related`` serves
``all()``, ``count()`` and ``exists()`` of an unfiltered manager from its cache (one query for
all parents), and an ``annotate(Count(...))`` or a ``Prefetch`` with a filtered queryset the
rest, so a labelled finding's fix applies to them all. Not lazy loads, and a frame of theirs
below the application's withdraws the label: the managers' writes (``set()``, a reverse foreign
key's ``clear()``/``remove()``, ``get_or_create()``, ``update_or_create()``, ``update()``,
``delete()``), which read rows to write them, and ``prefetch_related``'s own queries
(``prefetch_one_level``), which are the fix, as SQLAlchemy's ``selectinload`` gets no label.

Cost: the label is looked for for SELECTs inside a unit only. The commonest SELECT, a queryset
no object made (``Model.objects.filter(...)`` carries no hints; every descriptor's and related
manager's queryset carries ``hints={"instance": ...}``), is told by its
evaluation frame, two or three frames above the compiler's, reached with attribute reads
(:func:`_of_no_object`); SQL the application sends stops at its first frame. Measured at the
real stack of each statement (sqlite, Django 5.2, a shared 2-core VM): about 0.35 µs for such
a SELECT, 12 to 16 % of the rest of the wrapper (2.7 µs), and about 2.5 µs for a lazy load
(the walk to the application frame, ``f_locals`` of the frames that tell).
"""

from __future__ import annotations

import hashlib
import importlib
import os
from collections.abc import Callable
from types import CodeType, FrameType
from typing import Any

from dbaudit.runtime import callsite

# Django's own frames between the compiler and a descriptor: the queryset, its iterable, get()
# (about 6; more above a related manager's load to the application frame, or under a library
# that reads attributes for the application, a serializer). A label found is kept at the cap.
_MAX_DEPTH = 24
_KEEP_WALKING = object()  # a reader's answer: this frame does not tell, look further up
PARENT_MARK = " @"  # a label's end: " @" and the digest of the parent object's key
_PARENT_DIGEST_KEY = os.urandom(16)  # never written anywhere


def lazy_load_label(frame: FrameType) -> str | None:
    """The label of the lazy load that sent the statement ``frame`` (Django's compiler, above
    the cursor's frames) is executing, None when no lazy load did. Never raises."""
    try:
        if frame.f_code is _COMPILER_EXECUTE and _of_no_object(frame):
            return None  # the commonest SELECT, told from its first frames alone
        user, library = callsite._user_files, callsite._library_files  # the walk's verdicts
        readers = _READERS
        label = None
        for _ in range(_MAX_DEPTH):
            code = frame.f_code
            if id(code) in readers:  # (``in`` then an index: cheaper than .get for a miss)
                answer = readers[id(code)](frame)
                if answer is None:
                    return None  # a plain queryset, a write, prefetch_related's own query
                if label is None and answer is not _KEEP_WALKING:
                    # the load, unless a write or a prefetch sits below the application frame
                    # (a related manager's set() reads the rows it replaces with its queryset)
                    label = answer
            elif code.co_filename in user:
                break  # the application's frame: nothing Django did for it lies above
            elif code.co_filename not in library:  # a file not seen yet (the walk's verdict)
                callsite._classify(code.co_filename)
                if code.co_filename in user:
                    break
            frame = frame.f_back  # type: ignore[assignment]
            if frame is None:
                break
    except Exception:  # a label is a nicety: a Django of another shape must not cost the event
        return None
    return label if isinstance(label, str) else None


def _of_no_object(compiler: FrameType) -> bool:
    """True when the compiler's statement is a queryset's that no object made (no descriptor,
    no related manager): that queryset is evaluated (``_fetch_all``, ``count``, ``exists``...)
    two or three frames above the compiler (past the iterable, ``get_aggregation``,
    ``has_results``...), reached by attribute reads, without the walk's per-frame lookups."""
    above = compiler.f_back
    evaluation = above.f_back if above is not None else None
    for _ in range(2):
        if evaluation is None:
            return False
        if id(evaluation.f_code) in _EVALUATIONS:
            return not evaluation.f_locals["self"]._hints
        evaluation = evaluation.f_back
    return False


def _evaluated(frame: FrameType) -> object:
    """A queryset being evaluated (``_fetch_all``, ``count``...): a related manager's, labelled
    here; a descriptor's or ``refresh_from_db``'s, labelled further up; else none."""
    queryset = frame.f_locals["self"]
    if not queryset._hints:
        return None  # bound to no object: no descriptor or related manager made it
    label = related_manager_label(queryset)
    return _KEEP_WALKING if label is None else label


def related_manager_label(queryset: Any) -> str | None:
    """``"Article.comments @<parent>"`` for a queryset a related manager built for one article,
    ``"Article.comments (filtered Comment: text) @<parent>"`` when filters follow the
    relation's own condition (:func:`_filters_after`), None for any other queryset."""
    known = queryset._known_related_objects  # {foreign key: {parent key: parent}}
    where = queryset.query.where.children
    for field, parents in known.items():  # only a reverse foreign key's manager sets it
        for key, parent in parents.items():
            relation = f"{type(parent).__name__}.{field.remote_field.get_accessor_name()}"
            at = _condition_on(where, field)
            return _with_parent(relation + _filters_after(queryset, where, at), key)
    parent = queryset._hints.get("instance")
    if parent is None:
        return None
    for at, condition in enumerate(where):
        # the many-to-many manager's filter: ``through.<its side's foreign key> = parent key``
        # (prefetch_related's is an ``IN``: not one parent's load)
        if getattr(condition, "lookup_name", None) == "exact":
            name = many_to_many_accessor(getattr(condition.lhs, "target", None))
            if name is not None:
                relation = f"{type(parent).__name__}.{name}"
                return _with_parent(relation + _filters_after(queryset, where, at), parent.pk)
    return None


def _condition_on(where: list[Any], foreign_key: Any) -> int:
    """Where the reverse foreign key manager's own condition (``comment.article_id = parent
    key``) sits among the WHERE's terms, -1 when no term is that condition alone."""
    for at, condition in enumerate(where):
        if getattr(getattr(condition, "lhs", None), "target", None) is foreign_key:
            return at
    return -1


def _filters_after(queryset: Any, where: list[Any], at: int) -> str:
    """``" (filtered Comment: text, created__gt)"`` when terms follow the relation's condition
    in the WHERE, else "". A related manager applies its condition after its model's default
    manager filters and before any ``filter()``/``exclude()`` of the application's, so the
    terms after it are the application's: what ``prefetch_related("comments")`` does not
    serve. A term on a joined table or not a plain lookup is named by nothing (its path from
    the related model is not in the term)."""
    if at < 0 or at == len(where) - 1:
        return ""
    base = queryset.query.base_table
    lookups: list[str] = []
    for condition in where[at + 1 :]:
        target = getattr(getattr(condition, "lhs", None), "target", None)
        if target is None or getattr(condition.lhs, "alias", None) != base:
            lookups = []
            break
        lookup = condition.lookup_name
        lookups.append(target.name if lookup == "exact" else f"{target.name}__{lookup}")
    model = queryset.model.__name__
    return f" (filtered {model}: {', '.join(lookups)})" if lookups else f" (filtered {model})"


def _with_parent(label: str, key: object) -> str:
    """``label`` and the digest of the parent's key (``PARENT_MARK``): the detector counts a
    load's parents by it, not by parameter sets (one parent's related rows read with two
    filters is one parent). A digest keyed per process, so no key value reaches an events
    file; no digest for an unsaved parent (no key)."""
    if key is None:
        return label
    digest = hashlib.blake2b(repr(key).encode(), digest_size=6, key=_PARENT_DIGEST_KEY)
    return f"{label}{PARENT_MARK}{digest.hexdigest()}"


def many_to_many_accessor(foreign_key: Any) -> str | None:
    """The attribute whose many-to-many manager filters on ``foreign_key`` of a through table:
    ``tags`` for ``Article_tags.article``, ``articles`` (``Tag.articles``, the reverse side) for
    ``Article_tags.tag``; on a self-referential relation the two foreign keys tell the two
    sides apart (``following`` for ``from_author``, ``followers`` for ``to_author``)."""
    if not getattr(foreign_key, "many_to_one", False):
        return None
    through = foreign_key.model
    parent_meta = foreign_key.remote_field.model._meta
    for field in parent_meta.many_to_many:  # forward: the source is m2m_field_name()
        if field.remote_field.through is through and field.m2m_field_name() == foreign_key.name:
            return str(field.name)
    for relation in parent_meta.related_objects:  # reverse: the source is the other key
        if (
            relation.many_to_many
            and relation.through is through
            and relation.field.m2m_reverse_field_name() == foreign_key.name
        ):
            return str(relation.get_accessor_name())
    return None


def _forward(frame: FrameType) -> str | None:
    """``ForwardManyToOneDescriptor.get_object(self, instance)``."""
    local = frame.f_locals
    field = local["self"].field
    kind = "one-to-one" if field.one_to_one else "many-to-one"
    instance = local["instance"]
    return _with_parent(f"{type(instance).__name__}.{field.name} ({kind})", instance.pk)


def _reverse_one_to_one(frame: FrameType) -> str | None:
    """``ReverseOneToOneDescriptor.__get__(self, instance, cls)``."""
    local = frame.f_locals
    accessor = local["self"].related.get_accessor_name()
    instance = local["instance"]
    return _with_parent(f"{type(instance).__name__}.{accessor} (one-to-one)", instance.pk)


def _deferred(frame: FrameType) -> str | None:
    """``DeferredAttribute.__get__(self, instance, cls)``: the field's ``refresh_from_db``."""
    local = frame.f_locals
    instance = local["instance"]
    label = f"{type(instance).__name__}.{local['self'].field.attname} (deferred)"
    return _with_parent(label, instance.pk)


def _not_lazy(frame: FrameType) -> str | None:
    return None


def _nested_codes(function: Any, *path: str) -> list[CodeType]:
    """The code objects named by ``path`` inside ``function``'s code: the methods of a class
    Django builds per relation (``create_reverse_many_to_one_manager`` -> ``RelatedManager``
    -> ``set``), one code object shared by every class built."""
    codes = [function.__code__]
    for name in path:
        codes = [
            const
            for code in codes
            for const in code.co_consts
            if isinstance(const, CodeType) and const.co_name == name
        ]
    return codes


def _code_of(module_name: str, path: str) -> CodeType | None:
    """The code of ``django.db.models.<module_name>.<path>``, None if this Django has none."""
    try:
        target: Any = importlib.import_module(f"django.db.models.{module_name}")
        for attribute in path.split("."):
            target = getattr(target, attribute)
        return target.__code__  # type: ignore[no-any-return]
    except (ImportError, AttributeError):
        return None


def _readers() -> dict[CodeType, Callable[[FrameType], object]]:
    """What a frame of each Django function in ``_FUNCTIONS`` tells, by its code object. A
    function this Django does not have is left out (its loads go unlabelled): never an error."""
    readers: dict[CodeType, Callable[[FrameType], object]] = {}
    for module_name, path, reader in _FUNCTIONS:
        code = _code_of(module_name, path)
        if code is not None:
            readers[code] = reader
    try:
        module: Any = importlib.import_module("django.db.models.fields.related_descriptors")
        for factory, manager, method in _MANAGER_WRITES:
            for code in _nested_codes(getattr(module, factory), manager, method):
                readers[code] = _not_lazy
    except (ImportError, AttributeError):
        pass
    return readers


_FUNCTIONS: tuple[tuple[str, str, Callable[[FrameType], object]], ...] = (
    # the queryset methods that send a SELECT
    ("query", "QuerySet._fetch_all", _evaluated),
    ("query", "QuerySet._iterator", _evaluated),
    ("query", "QuerySet.count", _evaluated),
    ("query", "QuerySet.exists", _evaluated),
    ("query", "QuerySet.aggregate", _evaluated),
    # those that read only to write, and prefetch_related's loads (the fix, not the bug)
    ("query", "QuerySet.get_or_create", _not_lazy),
    ("query", "QuerySet.update_or_create", _not_lazy),
    ("query", "QuerySet.update", _not_lazy),
    ("query", "QuerySet.delete", _not_lazy),
    ("query", "prefetch_one_level", _not_lazy),
    # the loads
    ("fields.related_descriptors", "ForwardManyToOneDescriptor.get_object", _forward),
    ("fields.related_descriptors", "ForwardOneToOneDescriptor.get_object", _forward),
    ("fields.related_descriptors", "ReverseOneToOneDescriptor.__get__", _reverse_one_to_one),
    ("query_utils", "DeferredAttribute.__get__", _deferred),
)
# The related managers' writes that read through the manager's own queryset: methods of the
# classes Django builds per relation, found in their factory's code.
_MANAGER_WRITES = (
    ("create_reverse_many_to_one_manager", "RelatedManager", "set"),
    ("create_reverse_many_to_one_manager", "RelatedManager", "_clear"),
    ("create_forward_many_to_many_manager", "ManyRelatedManager", "set"),
)
# What a frame of each of those code objects says, by the code object's id (a code object
# hashes its bytecode and constants on every lookup; an int does not). Built once, when
# Django's capture is first imported; ``_CODES`` keeps the code objects alive for their ids.
_CODES = _readers()
_READERS = {id(code): reader for code, reader in _CODES.items()}
_EVALUATIONS = frozenset(id(code) for code, reader in _CODES.items() if reader is _evaluated)
_COMPILER_EXECUTE = _code_of("sql.compiler", "SQLCompiler.execute_sql")  # None: the walk only
