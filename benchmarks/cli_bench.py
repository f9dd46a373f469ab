"""The query CLI: ``ranker --help``, cold start to the first reranked result, and warm latency."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np


def _command_seconds(args: list[str], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "ranker", *args], check=True, capture_output=True)
        best = min(best, time.perf_counter() - started)
    return best


def help_seconds(repeat: int = 3) -> float:
    """Process start to ``ranker --help`` printed (best of ``repeat``)."""
    return _command_seconds(["--help"], repeat)


def cold_start_seconds(index: Path, model: Path, query: str, repeat: int = 1) -> float:
    """Process start to the first reranked result of ``ranker query`` (loading the index and the model included)."""
    return _command_seconds(["query", str(index), query, "--reranker", str(model), "--json"], repeat)


def warm_latency(index: Path, model: Path, queries: list[str], depth: int, precision: str = "fp32") -> dict[str, Any]:
    """Per-query latency of retrieve (hybrid) then rerank (``depth`` articles), with everything loaded.

    The first query is run once before timing, so its one-off costs (thread
    pools, lazy imports) are not counted.
    """
    from ranker.index import Index
    from ranker.rerank import Reranker, RerankConfig
    from ranker.search import search_hits

    opened = Index.open(index)
    retriever = opened.retriever("hybrid")
    reranker = Reranker(RerankConfig(model=str(model), depth=depth, precision=precision))
    search_hits(opened, retriever, queries[0], k=10, reranker=reranker)
    times = []
    for query in queries:
        started = time.perf_counter()
        search_hits(opened, retriever, query, k=10, reranker=reranker)
        times.append(time.perf_counter() - started)
    ms = 1000 * np.array(times)
    return {"depth": depth, "precision": precision, "queries": len(queries), "p50_ms": float(np.percentile(ms, 50)),
            "p95_ms": float(np.percentile(ms, 95)), "mean_ms": float(ms.mean())}
