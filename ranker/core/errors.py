"""The one error type users see for bad input.

Every reader raises :class:`InputError` naming the file, the place in it (a line,
a row or a field) and what is wrong, so the CLI can print one line and exit 2
instead of a traceback.
"""

from __future__ import annotations

from pathlib import Path


class InputError(ValueError):
    """Bad input that the user must fix: names the file, the place and the problem.

    Example:
        >>> str(InputError("corpus.jsonl", "line 3", "invalid JSON"))
        'corpus.jsonl: line 3: invalid JSON'
    """

    def __init__(self, path: str | Path, where: str | None, problem: str) -> None:
        self.path = str(path)
        self.where = where
        self.problem = problem
        place = f"{self.path}: {where}" if where else self.path
        super().__init__(f"{place}: {problem}")


class FetchError(RuntimeError):
    """A packaged data set could not be downloaded, or its file does not match the pin."""


def finite_number(raw: str, path: str | Path, where: str | None, name: str = "score") -> float:
    """``raw`` as a float, or an :class:`InputError` if it is not a finite number.

    Example:
        >>> finite_number("0.5", "pairs.tsv", "line 2")
        0.5
        >>> finite_number("nan", "run.trec", "line 3")
        Traceback (most recent call last):
        ...
        ranker.core.errors.InputError: run.trec: line 3: score 'nan' is not a finite number
    """
    import math

    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise InputError(path, where, f"{name} '{raw}' is not a finite number")
    return value
