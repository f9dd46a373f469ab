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


def machine() -> dict[str, Any]:
    """What the numbers were measured on: CPU, cores, Python and the libraries compared."""
    versions = {}
    for package in ("ranker", "torch", "transformers", "sentence-transformers", "bm25s", "rank-bm25", "faiss-cpu", "numpy"):
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
    from ranker.files import atomic_write_text

    atomic_write_text(folder / "results.json", json.dumps(results, indent=2) + "\n")
    atomic_write_text(folder / "RESULTS.md", markdown)
