"""Command-line value types, checked while the arguments are parsed.

argparse calls these before any command runs, so a bad ``-k`` or weight is one
line and exit 2 before a file is read or a model loaded, not an error (or a wrong
answer) after 13 seconds of loading.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line (argparse prints the usage too).

    Example:
        >>> OneLineParser(prog="ranker").prog
        'ranker'
    """

    def error(self, message: str) -> None:  # type: ignore[override]
        message = " ".join(message.split())
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def count(minimum: int = 0, maximum: int | None = None) -> Callable[[str], int]:
    """An integer of at least ``minimum`` (and at most ``maximum``).

    Example:
        >>> count(1)("5")
        5
        >>> count(1)("0")
        Traceback (most recent call last):
        ...
        argparse.ArgumentTypeError: must be a whole number of at least 1, got '0'
    """

    def parse(raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            value = None
        if value is None or value < minimum or (maximum is not None and value > maximum):
            wanted = f"from {minimum} to {maximum}" if maximum is not None else f"of at least {minimum}"
            raise argparse.ArgumentTypeError(f"must be a whole number {wanted}, got '{raw}'")
        return value

    parse.__name__ = "count"
    return parse


def named_count(names: tuple[str, ...]) -> Callable[[str], tuple[str, int]]:
    """``NAME=N``: one of ``names`` and a whole number of at least 0.

    Example:
        >>> named_count(("ict", "lead"))("ict=3")
        ('ict', 3)
        >>> named_count(("ict", "lead"))("poem=1")
        Traceback (most recent call last):
        ...
        argparse.ArgumentTypeError: must be NAME=N with NAME one of ict, lead, got 'poem=1'
    """

    def parse(raw: str) -> tuple[str, int]:
        name, _, value = raw.partition("=")
        if name not in names or not value.isdigit():
            raise argparse.ArgumentTypeError(f"must be NAME=N with NAME one of {', '.join(names)}, got '{raw}'")
        return name, int(value)

    parse.__name__ = "named count"
    return parse


def number(low: float | None = None, high: float | None = None, open_low: bool = False,
           open_high: bool = False) -> Callable[[str], float]:
    """A finite number in ``[low, high]`` (either end open or absent).

    Example:
        >>> number(0, 1)("0.25")
        0.25
        >>> number(0, 1, open_low=True, open_high=True)("1")
        Traceback (most recent call last):
        ...
        argparse.ArgumentTypeError: must be a number in (0, 1), got '1'
    """
    left = "(" if open_low else "["
    right = ")" if open_high else "]"
    if low is not None and high is not None:
        wanted = f"a number in {left}{low:g}, {high:g}{right}"
    elif low is not None:
        wanted = f"a number {'above' if open_low else 'of at least'} {low:g}"
    else:
        wanted = "a finite number"

    def parse(raw: str) -> float:
        try:
            value = float(raw)
        except ValueError:
            value = math.nan
        ok = math.isfinite(value)
        if ok and low is not None:
            ok = value > low if open_low else value >= low
        if ok and high is not None:
            ok = value < high if open_high else value <= high
        if not ok:
            raise argparse.ArgumentTypeError(f"must be {wanted}, got '{raw}'")
        return value

    parse.__name__ = "number"
    return parse


def weights(raw: str) -> tuple[float, float]:
    """Two non-negative finite weights, ``BM25,DENSE``, not both zero.

    Example:
        >>> weights("0.7,0.3")
        (0.7, 0.3)
        >>> weights("nan,nan")
        Traceback (most recent call last):
        ...
        argparse.ArgumentTypeError: expected two non-negative numbers like 0.7,0.3 (BM25, dense), got 'nan,nan'
    """
    try:
        values = tuple(float(part) for part in raw.split(","))
    except ValueError:
        values = ()
    if len(values) != 2 or not all(math.isfinite(v) and v >= 0 for v in values) or sum(values) == 0:
        raise argparse.ArgumentTypeError(f"expected two non-negative numbers like 0.7,0.3 (BM25, dense), got '{raw}'")
    return values  # type: ignore[return-value]


def word(raw: str) -> str:
    """One word of printable characters (a run tag: TREC columns are split on whitespace).

    Example:
        >>> word("bm25")
        'bm25'
        >>> word("my tag")
        Traceback (most recent call last):
        ...
        argparse.ArgumentTypeError: must be one word of printable characters, got 'my tag'
    """
    if not raw or not raw.isprintable() or any(c.isspace() for c in raw):
        raise argparse.ArgumentTypeError(f"must be one word of printable characters, got {raw!r}")
    return raw
