"""Input checks shared by every layer: each names the value and says what it must be."""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from .errors import BiGRError, InputError


def interval(lo: float, hi: float, open_below: bool = False) -> str:
    """"in [0, 1]", "in (0, 1]", or ">= 0" when there is no upper bound."""
    if hi == math.inf:
        return f"{'>' if open_below else '>='} {lo:g}"
    return f"in {'(' if open_below else '['}{lo:g}, {hi:g}]"


def whole_number(name: str, value, lo: int, hi: float = math.inf, error: type[BiGRError] = InputError) -> int:
    """`value` as an int in [lo, hi]. A bool is refused: True is not a count."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not lo <= value <= hi:
        raise error(f"{name} must be a whole number {interval(lo, hi)}, got {value!r}")
    return int(value)


def real_number(name: str, value, lo: float, hi: float = math.inf, open_below: bool = False,
                error: type[BiGRError] = InputError) -> float:
    """`value` as a finite float in [lo, hi] (or (lo, hi] with `open_below`)."""
    numeric = not isinstance(value, bool) and isinstance(value, (int, float, np.number)) and math.isfinite(value)
    if not numeric or not (lo < value if open_below else lo <= value) or not value <= hi:
        raise error(f"{name} must be a number {interval(lo, hi, open_below)}, got {value!r}")
    return float(value)


def one_of(name: str, value, choices: Sequence, error: type[BiGRError] = InputError):
    if value not in choices:
        raise error(f"{name} must be one of {tuple(choices)}, got {value!r}")
    return value
