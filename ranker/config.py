"""Stage settings from a TOML file, overridden by command-line flags.

Each stage's settings are a frozen dataclass (e.g.
:class:`~ranker.retrieve.bm25.BM25Config`) that validates itself; a TOML file
holds one table per stage (``[bm25]``), with the same field names in kebab or
snake case.
"""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path
from typing import Any, TypeVar

from ranker.errors import InputError

T = TypeVar("T")


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
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(path, None, "no such config file") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise InputError(path, None, f"invalid TOML ({err})") from None
    table = data.get(section, {})
    if not isinstance(table, dict):
        raise InputError(path, section, "expected a table")
    return {key.replace("-", "_"): value for key, value in table.items()}


def make_config(cls: type[T], path: str | Path | None, section: str, overrides: dict[str, Any]) -> T:
    """Build ``cls`` from the file's ``[section]``, then flags that were given (not None).

    Raises:
        InputError: an unknown key or a value the dataclass rejects, naming the file.

    Example:
        >>> from ranker.retrieve.bm25 import BM25Config
        >>> make_config(BM25Config, None, "bm25", {"k1": 0.9, "b": None}).k1
        0.9
    """
    values = load_section(path, section)
    values.update({k: v for k, v in overrides.items() if v is not None})
    known = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(values) - known)
    where = str(path) if path else "command line"
    if unknown:
        raise InputError(where, section, f"unknown settings {unknown}; known: {sorted(known)}")
    try:
        return cls(**values)
    except (TypeError, ValueError) as err:
        raise InputError(where, section, str(err)) from None
