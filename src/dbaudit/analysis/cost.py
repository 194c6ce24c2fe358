"""The query-cost model: how many queries a function issues, as a polynomial in loop sizes.

A monomial is the tuple of loop *levels* it multiplies (level 1 is the outermost loop a query
sits in, printed ``N``; level 2 ``M``; then ``K``, ``L``). Calling a helper inside a loop at
depth ``d`` shifts the helper's own levels by ``d``, so a helper looping over its argument
inside the caller's loop gives ``N·M``.

>>> str(Cost.constant(1) + Cost.term((1,)) + Cost.term((1, 2)))
'1 + N + N·M'
>>> str(Cost.constant(4, conditional=True, sequential=True))
'≤ 4 (sequential)'
>>> str(Cost.constant(3, concurrent=3))
'3 (concurrent)'
"""

from __future__ import annotations

from dataclasses import dataclass, field

_SYMBOLS = ("N", "M", "K", "L", "P", "Q")
Monomial = tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Cost:
    terms: tuple[tuple[Monomial, int], ...] = ()  # sorted (monomial, coefficient)
    conditional: bool = False  # some queries run only on some paths: an upper bound
    sequential: bool = False  # two or more awaited one after another
    concurrent: int = 0  # how many of the constant queries run concurrently (gather)
    unknown: bool = field(default=False)  # recursion or unresolvable parts were left out

    @staticmethod
    def constant(
        count: int, *, conditional: bool = False, sequential: bool = False, concurrent: int = 0
    ) -> Cost:
        terms: tuple[tuple[Monomial, int], ...] = (((), count),) if count else ()
        return Cost(terms, conditional, sequential, concurrent)

    @staticmethod
    def term(monomial: Monomial, coefficient: int = 1) -> Cost:
        return Cost(((tuple(sorted(monomial)), coefficient),))

    def __add__(self, other: Cost) -> Cost:
        merged: dict[Monomial, int] = dict(self.terms)
        for monomial, coefficient in other.terms:
            merged[monomial] = merged.get(monomial, 0) + coefficient
        return Cost(
            tuple(sorted((m, c) for m, c in merged.items() if c)),
            self.conditional or other.conditional,
            self.sequential or other.sequential,
            self.concurrent + other.concurrent,
            self.unknown or other.unknown,
        )

    def shifted(self, prefix: Monomial, multiplier: int = 1) -> Cost:
        """This cost inside ``prefix`` loops of a caller (levels renumbered after the prefix)."""
        depth = len(prefix)
        terms = tuple(
            (tuple(sorted(prefix + tuple(level + depth for level in monomial))), c * multiplier)
            for monomial, c in self.terms
        )
        return Cost(
            tuple(sorted(terms)),
            self.conditional,
            self.sequential,
            self.concurrent * multiplier if not prefix else 0,
            self.unknown,
        )

    def with_flags(
        self, *, conditional: bool | None = None, sequential: bool | None = None
    ) -> Cost:
        return Cost(
            self.terms,
            self.conditional if conditional is None else conditional,
            self.sequential if sequential is None else sequential,
            self.concurrent,
            self.unknown,
        )

    @property
    def total_constant(self) -> int:
        return sum(c for m, c in self.terms if not m)

    @property
    def is_constant(self) -> bool:
        return all(not m for m, _ in self.terms)

    @property
    def depth(self) -> int:
        return max((len(m) for m, _ in self.terms), default=0)

    @property
    def queries(self) -> int:
        """Round trips when every loop runs once (for ordering and sums)."""
        return sum(c for _, c in self.terms)

    def __str__(self) -> str:
        if not self.terms:
            return "0"
        parts = []
        for monomial, coefficient in sorted(self.terms, key=lambda t: (len(t[0]), t[0])):
            symbol = "·".join(_SYMBOLS[min(level, len(_SYMBOLS)) - 1] for level in monomial)
            if not monomial:
                parts.append(str(coefficient))
            elif coefficient == 1:
                parts.append(symbol)
            else:
                parts.append(f"{coefficient}·{symbol}")
        text = " + ".join(parts)
        if self.conditional:
            text = f"≤ {text}"
        if self.is_constant and self.concurrent and self.concurrent == self.total_constant:
            text += " (concurrent)"
        elif self.is_constant and self.concurrent >= 2:
            text += f" ({self.concurrent} concurrent)"
        elif self.sequential and self.is_constant and self.total_constant >= 2:
            text += " (sequential)"
        return text


ZERO = Cost()
