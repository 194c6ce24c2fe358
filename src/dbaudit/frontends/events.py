"""What every frontend records while it walks one function body, and how that becomes a
``Function`` of the program model.

The Python and TypeScript walkers differ in how they read syntax, not in what they record:
both subclass :class:`FunctionEvents`, so an event kind added to the model is collected and
emitted in one place.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from typing import Literal

from dbaudit.model import Assign, AttrAccess, Await, Call, DbOp, Function, Gather, Loop, Span

# a statement that leaves the loop around it: "break" leaves the innermost loop, "return"
# (return, raise/throw) every loop of the function
LoopExit = Literal["break", "return"]

# a key that tells one item from the others: ``if version.slug == slug:`` is taken for one
# item of the loop at most (``status == "pending"`` may be taken for every one, and so may
# ``user_id == owner.id``: a foreign key is shared by many rows)
UNIQUE_KEY = re.compile(
    r"^(id|pk|uuid|slug|name|verbose_name|key|username|email|identifier)$|_slug$", re.I
)


def weaker_exit(first: LoopExit | None, second: LoopExit | None) -> LoopExit | None:
    """What two paths both do: leave every loop only if both return, a loop if both leave."""
    if first is None or second is None:
        return None
    return "break" if "break" in (first, second) else "return"


class FunctionEvents:
    """The events of one function, in evaluation order (``seq``), as the model defines them."""

    def __init__(self) -> None:
        self.seq = 0
        self.ops: list[DbOp] = []
        self.calls: list[Call] = []
        self.loops: list[Loop] = []
        self.assigns: list[Assign] = []
        self.attrs: list[AttrAccess] = []
        self.awaits: list[Await] = []
        self.gathers: list[Gather] = []
        self.returns: set[str] = set()
        self.loads: Counter[str] = Counter()
        self.once_in_loop: list[tuple[int, int, int]] = []

    def _next(self) -> int:
        self.seq += 1
        return self.seq

    def to_function(
        self,
        *,
        qualname: str,
        name: str,
        span: Span,
        lines: Sequence[str],
        class_name: str,
        decorators: tuple[str, ...],
        is_async: bool,
        params: tuple[str, ...],
        annotations: tuple[tuple[str, str], ...],
        is_staticmethod: bool,
        is_classmethod: bool = False,
        exiting_arms: tuple[tuple[int, int], ...] = (),
        breaking_arms: tuple[tuple[int, int], ...] = (),
        conditions: tuple[tuple[int, int, str], ...] = (),
    ) -> Function:
        # the source is kept only where a finding can point, so reports quote code without
        # re-reading files and models of functions that never query stay small
        keep_source = bool(self.ops or self.loops or self.awaits)
        source_lines = tuple(lines[span.line - 1 : span.end_line]) if keep_source else ()
        return Function(
            qualname=qualname,
            name=name,
            span=span,
            class_name=class_name,
            decorators=decorators,
            is_async=is_async,
            params=params,
            param_annotations=annotations,
            is_staticmethod=is_staticmethod,
            is_classmethod=is_classmethod,
            db_ops=tuple(self.ops),
            calls=tuple(self.calls),
            loops=tuple(self.loops),
            assigns=tuple(self.assigns),
            attr_accesses=tuple(self.attrs),
            awaits=tuple(self.awaits),
            gathers=tuple(self.gathers),
            returns_reads=frozenset(self.returns),
            exiting_arms=exiting_arms,
            breaking_arms=breaking_arms,
            conditions=conditions,
            once_in_loop=tuple(self.once_in_loop),
            name_loads=tuple(sorted(self.loads.items())),
            source_lines=source_lines,
        )
