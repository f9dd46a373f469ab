"""Stage settings from a TOML file, overridden by command-line flags.

Each stage's settings are a frozen dataclass (e.g.
:class:`~ranker.retrieve.bm25.BM25Config`) that validates itself; a TOML file
holds one table per stage (``[bm25]``), with the same field names in kebab or
snake case.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any, TypeVar

import tomllib

from ranker.core.errors import InputError

T = TypeVar("T")


def load_toml(path: str | Path) -> dict[str, Any]:
    """The whole TOML file, parsed.

    Raises:
        InputError: the file is missing, a folder, unreadable or not valid TOML.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "ranker.toml"
        >>> _ = p.write_text("[bm25]\\nk1 = 1.2\\n")
        >>> load_toml(p)
        {'bm25': {'k1': 1.2}}
    """
    path = Path(path)
    if path.is_dir():
        raise InputError(path, None, "is a folder; --config takes a TOML file")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(path, None, "no such config file") from None
    except OSError as err:
        raise InputError(path, None, f"cannot read it ({err.strerror})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise InputError(path, None, f"invalid TOML ({err})") from None


def load_section(path: str | Path | None, section: str) -> dict[str, Any]:
    """The ``[section]`` table of a TOML file (empty when no file is given).

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "ranker.toml"
        >>> _ = p.write_text("[bm25]\\nk1 = 1.2\\n")
        >>> load_section(p, "bm25")
        {'k1': 1.2}
    """
    if path is None:
        return {}
    table: Any = load_toml(path)
    for part in section.split("."):  # "dense.embedder": the [dense.embedder] table
        table = table.get(part, {}) if isinstance(table, dict) else None
        if not isinstance(table, dict):
            raise InputError(path, section, "expected a table")
    return {key.replace("-", "_"): value for key, value in table.items()}


def _type_problem(value: Any, hint: Any) -> str | None:
    """Why ``value`` does not fit the type hint ``hint``, or None. Only the shapes our
    configs use: numbers, text, true/false, optional, tuples and lists, literals,
    nested dataclasses (as tables)."""
    import types
    import typing

    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        problems = [_type_problem(value, option) for option in options if option is not type(None)]
        return None if any(p is None for p in problems) else problems[0]
    if origin is typing.Literal:
        allowed = typing.get_args(hint)
        return None if value in allowed else f"expected one of {list(allowed)}"
    if origin in (tuple, list):
        if not isinstance(value, (tuple, list)):
            return "expected a list"
        inner = [a for a in typing.get_args(hint) if a is not Ellipsis]
        for item in value:
            problem = _type_problem(item, inner[0]) if inner else None
            if problem:
                return f"in the list: {problem}"
        return None
    if hint is bool:
        return None if isinstance(value, bool) else "expected true or false"
    if hint is int:
        return None if isinstance(value, int) and not isinstance(value, bool) else "expected a whole number"
    if hint is float:
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        return None if number and math.isfinite(value) else "expected a finite number"
    if hint is str:
        return None if isinstance(value, str) else "expected text (in quotes)"
    if dataclasses.is_dataclass(hint):
        return None if isinstance(value, (dict, hint)) else "expected a table"
    return None


def _check_types(cls: type, values: dict[str, Any], where: str, section: str) -> None:
    import typing

    try:
        hints = typing.get_type_hints(cls)
    except Exception:  # an annotation this Python cannot resolve: leave the checks to the dataclass
        return
    for key, value in values.items():
        problem = _type_problem(value, hints.get(key, Any)) if key in hints else None
        if problem:
            shown = value if not isinstance(value, str) else f"'{value}'"
            raise InputError(where, f"[{section}] {key}", f"{problem}, got {shown}")


def resolve_config(cls: type[T], section: str, preset: Any = None, path: str | Path | None = None,
                   flags: dict[str, Any] | None = None) -> T:
    """Build ``cls`` from a preset, then the TOML file's ``[section]``, then the flags
    that were given (not None): each later source overrides the earlier, so a file
    refines a named recipe and a flag refines both. Every command and pipeline
    builds its settings here, so the order is the same everywhere.

    Args:
        cls: the frozen settings dataclass.
        section: the TOML table (``[bm25]``, ``[train]``, …).
        preset: a ``cls`` instance or a dict of its fields (a named recipe), or None.
        path: the ``--config`` file, or None.
        flags: the command line's values by field name; None means "not given".

    Raises:
        InputError: an unknown key or a value of the wrong type (naming the file and
            key, or the command line), or a value the dataclass rejects.

    Example:
        >>> from ranker.retrieve.bm25 import BM25Config
        >>> resolve_config(BM25Config, "bm25", preset={"k1": 1.2, "b": 0.5}, flags={"k1": 0.9, "b": None}).b
        0.5
    """
    values: dict[str, Any] = {}
    if preset is not None:
        values.update(preset if isinstance(preset, dict)
                      else {f.name: getattr(preset, f.name) for f in dataclasses.fields(preset)})
    known = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    for where, given in ((str(path) if path else None, load_section(path, section)),
                         ("command line", {k: v for k, v in (flags or {}).items() if v is not None})):
        if where is None:
            continue
        unknown = sorted(set(given) - known)
        if unknown:
            raise InputError(where, section, f"unknown settings {unknown}; known: {sorted(known)}")
        _check_types(cls, given, where, section)
        values.update(given)
    try:
        return cls(**values)
    except (TypeError, ValueError) as err:
        raise InputError(str(path) if path else "command line", section, str(err)) from None
