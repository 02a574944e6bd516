"""The ranges a term's numeric constants may take, declared next to its signature.

A term annotates a constant as, say, ``delta: Positive = 1.0`` (``Annotated[float, Range(gt=0)]``);
the registry reads the range with the signature, and the checking pass refuses a constant
outside it at its line and column when the loss is compiled, where torch would refuse it only
at the first call, or compute NaN without a word.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated


@dataclass(frozen=True, slots=True)
class Range:
    """The numbers a constant may take: ``ge``/``gt`` below, ``le``/``lt`` above (``None``: unbounded).

    Example:
        >>> unit = Range(ge=0, le=1)
        >>> unit.admits(0.5), unit.admits(1.5), str(unit)
        (True, False, 'between 0 and 1')
        >>> str(Range(gt=0))
        'greater than 0'
    """

    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None

    def admits(self, value: float) -> bool:
        """Whether ``value`` lies in the range."""
        return (
            (self.ge is None or value >= self.ge)
            and (self.gt is None or value > self.gt)
            and (self.le is None or value <= self.le)
            and (self.lt is None or value < self.lt)
        )

    def __str__(self) -> str:
        if self.ge is not None and self.le is not None:
            return f"between {self.ge:g} and {self.le:g}"
        parts = [
            f"{word} {bound:g}"
            for word, bound in (
                ("at least", self.ge),
                ("greater than", self.gt),
                ("at most", self.le),
                ("less than", self.lt),
            )
            if bound is not None
        ]
        return " and ".join(parts)


Positive = Annotated[float, Range(gt=0)]
NonNegative = Annotated[float, Range(ge=0)]
Fraction = Annotated[float, Range(ge=0, le=1)]
Count = Annotated[int, Range(ge=1)]
Index = Annotated[int, Range(ge=0)]


@dataclass(frozen=True, slots=True)
class SizesMark:
    """Marks an ``int | Sequence[int]`` parameter as sizes (a shape: repeats allowed, -1 for one inferred size).

    Without it such a parameter holds dimensions, which the checker refuses to see named twice.
    """


# A shape or sizes, given one by one or as a list: ``reshape(x, -1, 3)``, ``reshape(x, [4, 3])``.
Sizes = Annotated[int | Sequence[int], SizesMark()]
