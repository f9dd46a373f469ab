"""Timing, the machine's description, and where results go."""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Callable
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


def timed(fn: Callable[[], T], repeat: int = 1) -> tuple[T, float]:
    """``fn()``'s result and its best wall time over ``repeat`` runs, in seconds.

    The best of several runs is the least disturbed by other work on a shared
    machine; every side of a comparison gets the same ``repeat``.

    Example:
        >>> value, seconds = timed(lambda: sum(range(10)), repeat=2)
        >>> value, seconds >= 0
        (45, True)
    """
    best, result = float("inf"), None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - started)
    return result, best  # type: ignore[return-value]


def timed_together(fns: dict[str, Callable[[], Any]], repeat: int = 5) -> tuple[dict[str, Any], dict[str, float]]:
    """Each function's result and best wall time, the functions taking turns within each of
    ``repeat`` rounds.

    Taking turns spreads a change in the machine's load (another job starting or
    ending) over every side alike, where timing one side fully before the other
    would put it on one side only.

    Example:
        >>> results, seconds = timed_together({"a": lambda: 1, "b": lambda: 2}, repeat=2)
        >>> results, sorted(seconds)
        ({'a': 1, 'b': 2}, ['a', 'b'])
    """
    best = dict.fromkeys(fns, float("inf"))
    results: dict[str, Any] = {}
    for _ in range(repeat):
        for name, fn in fns.items():
            started = time.perf_counter()
            results[name] = fn()
            best[name] = min(best[name], time.perf_counter() - started)
    return results, best


def machine() -> dict[str, Any]:
    """What the numbers were measured on: CPU, cores, Python and the libraries compared."""
    versions = {}
    for package in ("ranker", "torch", "transformers", "sentence-transformers", "openvino", "bm25s", "rank-bm25",
                    "faiss-cpu", "numpy"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
            "versions": versions, "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}


def write_results(folder: Path, results: dict[str, Any], markdown: str) -> None:
    """``results.json`` and ``RESULTS.md`` in ``folder``, each written atomically."""
    from ranker.core.files import atomic_write_text

    atomic_write_text(folder / "results.json", json.dumps(results, indent=2) + "\n")
    atomic_write_text(folder / "RESULTS.md", markdown)
