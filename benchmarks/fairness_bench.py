"""``ranker serve`` against clients that send the largest request it accepts.

Three heavy clients send, back to back, a ``POST /search`` of 64 queries of 1,000
characters at ``k=100`` (the largest the limits allow); a fourth, light client
sends one ``GET /search`` after another; each names itself with ``X-Client-ID``
(every request opens a new connection). Measured, with and without the reranker:
the light client's latency on an idle service and beside the heavy ones, and the
heavy clients' throughput alone and beside the light one. Goals (issue 36): the
light client's p50 at most 3× and its p99 at most 10× its idle p50, no request
refused or failed, and the heavy clients keep at least 70% of their throughput.

Run: ``python -m benchmarks.run --only fairness`` (about 4 minutes).
"""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.serve_bench import _get, start


def heavy_queries(corpus: Path, n: int = 64, chars: int = 1000) -> list[str]:
    """``n`` queries of ``chars`` characters cut from the articles: the longest the service takes."""
    texts = []
    with open(corpus, encoding="utf-8") as handle:
        for line in handle:
            text = json.loads(line)["text"]
            if len(text) >= chars:
                texts.append(text[:chars].rsplit(" ", 1)[0])
            if len(texts) == n:
                break
    return texts


def _post(url: str, body: dict, client: str) -> int:
    request = urllib.request.Request(url + "search", data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json", "X-Client-ID": client})
    try:
        with urllib.request.urlopen(request, timeout=300) as response:
            response.read()
            return response.status
    except urllib.error.HTTPError as err:
        return err.code
    except OSError:
        return 0


def run(url: str, light: list[str], heavy: list[str], seconds: float, rerank: bool, light_on: bool,
        heavy_clients: int) -> dict[str, Any]:
    """The light client (if ``light_on``) and ``heavy_clients`` heavy ones for ``seconds``."""
    stop_at = time.perf_counter() + seconds
    latencies, statuses, heavy_done = [], [], [0]
    lock = threading.Lock()

    def light_client() -> None:
        n = 0
        while time.perf_counter() < stop_at:
            began = time.perf_counter()
            status, _ = _get(f"{url}search?q={urllib.parse.quote(light[n % len(light)])}&k=10"
                             f"&rerank={str(rerank).lower()}", client="light")
            with lock:
                latencies.append(time.perf_counter() - began)
                statuses.append(status)
            n += 1

    def heavy_client(number: int) -> None:
        while time.perf_counter() < stop_at:
            status = _post(url, {"queries": heavy, "k": 100, "rerank": rerank}, client=f"heavy-{number}")
            with lock:
                statuses.append(status)
                if status == 200 and time.perf_counter() <= stop_at + 60:
                    heavy_done[0] += len(heavy)

    threads = [threading.Thread(target=heavy_client, args=(n,)) for n in range(heavy_clients)]
    if light_on:
        threads.append(threading.Thread(target=light_client))
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    ms = 1000 * np.array(latencies) if latencies else np.array([np.nan])
    return {"light_requests": len(latencies), "light_p50_ms": float(np.percentile(ms, 50)),
            "light_p99_ms": float(np.percentile(ms, 99)), "heavy_queries_per_second": heavy_done[0] / elapsed,
            "refused": sum(s == 429 for s in statuses), "failed": sum(s not in (200, 429) for s in statuses)}


def measure(index: Path, model: Path, corpus: Path, light: list[str], seconds: float = 20.0) -> dict[str, Any]:
    """Each setting against one service per reranker setting; the goals' ratios."""
    heavy = heavy_queries(corpus)
    rows = []
    for rerank in (False, True):
        process, url, _ = start(index, model)
        try:
            for query in light[:5]:
                _get(f"{url}search?q={urllib.parse.quote(query)}")
            idle = run(url, light, heavy, seconds, rerank, light_on=True, heavy_clients=0)
            alone = run(url, light, heavy, 2 * seconds, rerank, light_on=False, heavy_clients=3)
            both = run(url, light, heavy, 2 * seconds, rerank, light_on=True, heavy_clients=3)
        finally:
            process.terminate()
            process.wait(60)
        rows.append({"rerank": rerank, "idle": idle, "heavy_alone": alone, "together": both,
                     "p50_ratio": both["light_p50_ms"] / idle["light_p50_ms"],
                     "p99_ratio": both["light_p99_ms"] / idle["light_p50_ms"],
                     "heavy_share": both["heavy_queries_per_second"] / max(1e-9, alone["heavy_queries_per_second"])})
    from ranker.serve.service import ServiceConfig

    return {"index": str(index), "reranker": str(model), "seconds": seconds, "heavy_request": "64 queries of 1,000 "
            "characters, k=100", "slice_ms": ServiceConfig(index=index).slice_ms, "rows": rows}
