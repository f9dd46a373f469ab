"""Segmented indexes (issue 37) at 100,000 and 1,000,000 articles, through the commands
users run: what ``ranker add`` costs, how soon a running ``ranker serve`` answers
with the new articles, how search slows with segments, what ``ranker merge`` costs.

Each size: synthetic news-length articles (:func:`benchmarks.synthetic.synthetic_corpus`)
built whole as one index with BM25 and HNSW vectors — blends of the news index's
real vectors (:func:`benchmarks.dense_bench.blended_vectors`), since encoding a
million articles takes this machine days and FAISS's cost does not depend on what
the vectors mean. Then, with ``ranker serve`` running on it: adds of 10, 100 and
1,000 new articles through :func:`ranker.index.update.update_index` (encoded with
the real model: encoding is shown apart from the commit), each followed by polling
the service until a search finds a word only they hold; BM25 and hybrid p50 over
the news test titles with the index as built (one segment), then with 4, 10 and 30
segments; ``ranker merge --max-segments 2`` and (``--full-merge``) ``ranker merge``,
each timed with its process's peak memory; disk used.

Run: ``python -m benchmarks.segments_bench --sizes 100000 1000000`` after ``make demo``
(prints JSON and writes ``benchmarks/segments.json``, a size measured again replacing its row).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.dense_bench import blended_vectors
from benchmarks.run import test_titles
from benchmarks.serve_bench import _get, start
from benchmarks.synthetic import synthetic_corpus
from ranker.data.readers import read_articles
from ranker.data.records import Article
from ranker.index.folder import Index, write_index
from ranker.index.segmented import store_of
from ranker.index.update import update_index
from ranker.retrieve.analysis import BM25Config
from ranker.retrieve.dense import DenseConfig, DenseRetriever


def _p50(search, queries: list[str]) -> float:
    """Median milliseconds of one query, warm."""
    search(queries[:5])
    took = []
    for query in queries:
        began = time.perf_counter()
        search([query])
        took.append(1000 * (time.perf_counter() - began))
    return float(np.median(took))


def _latencies(folder: Path, titles: list[str]) -> dict[str, float]:
    """BM25's and hybrid's p50 (k = 10) over the index as it stands."""
    index = Index.open(folder)
    bm25, hybrid = index.retriever("bm25"), index.retriever("hybrid")
    return {"bm25_p50_ms": _p50(lambda q: bm25.search(q, 10), titles),
            "hybrid_p50_ms": _p50(lambda q: hybrid.search(q, 10), titles)}


def _disk(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def _segments(folder: Path) -> int:
    store = store_of(folder)
    return len(store.current().segments) if store is not None else 1


# VmHWM, not ru_maxrss: ru_maxrss survives exec, so a child would report this process's peak
_MERGE = ("import sys; from ranker.cli import main; code = main(sys.argv[1:]); "
          "print(next(line.split()[1] for line in open('/proc/self/status') if line.startswith('VmHWM:'))); "
          "sys.exit(code)")


def _merge(folder: Path, *flags: str) -> dict[str, float]:
    """``ranker merge`` in its own process: seconds, and that process's peak memory."""
    began = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", _MERGE, "merge", str(folder), "--quiet", *flags],
                          capture_output=True, text=True, check=True)
    return {"seconds": time.perf_counter() - began, "peak_mib": int(done.stdout.split()[-1]) / 1024,
            "segments_after": _segments(folder)}


def _served_after(url: str, word: str, limit: float = 60.0) -> float:
    """Seconds until the service's BM25 search finds ``word``."""
    began = time.perf_counter()
    while time.perf_counter() - began < limit:
        status, body = _get(f"{url}search?q={urllib.parse.quote(word)}&k=1&retriever=bm25", client="bench")
        if status == 200 and json.loads(body)["hits"]:
            return time.perf_counter() - began
        time.sleep(0.02)
    return float("inf")


def measure(size: int, texts: list[str], titles: list[str], tmp: Path, news_index: Path,
            full_merge: bool = True) -> dict[str, Any]:
    corpus = synthetic_corpus(texts, size + 3_000)
    base, extra = corpus[:size], corpus[size:]
    news = Index.open(news_index).dense()
    config = DenseConfig(embedder=news.config.embedder, index_type="hnsw")
    folder = tmp / "index"
    began = time.perf_counter()
    write_index(folder, base, ("text",), BM25Config(), DenseRetriever(config, news.embedder),
                blended_vectors(news.vectors(news_index / "dense"), size), {"source": "synthetic"}, False, {}, began)
    row: dict[str, Any] = {"documents": size, "faiss": "hnsw", "build_s": time.perf_counter() - began,
                           "adds": {}, "search": {"1": _latencies(folder, titles)}}
    process, url, row["serve_ready_s"] = start(folder, None)
    used = 0
    try:
        for n in (10, 100, 1000):
            word = f"zq{n}markerx"  # a word only this add's articles hold
            batch = [Article(f"a{used + i}", a.title, f"{a.text} {word}") for i, a in enumerate(extra[used:used + n])]
            used += n
            began = time.perf_counter()
            done = update_index(folder, add=batch, show_progress=False)
            took = time.perf_counter() - began
            row["adds"][n] = {"encode_s": done.seconds["encode"], "commit_s": done.seconds["commit"],
                              "beyond_encoding_s": took - done.seconds["encode"],
                              "served_after_s": _served_after(url, word)}
    finally:
        process.terminate()
        process.wait(60)
    for segments in (4, 10, 30):
        while _segments(folder) < segments:
            update_index(folder, add=[Article(f"a{used}", extra[used].title, extra[used].text)], show_progress=False)
            used += 1
        row["search"][str(segments)] = _latencies(folder, titles)
    row["disk_mib_30_segments"] = _disk(folder) / 2**20
    row["merge_to_2"] = _merge(folder, "--max-segments", "2")
    row["search"]["2 (merged)"] = _latencies(folder, titles)
    if full_merge:
        row["merge_to_1"] = _merge(folder)
        row["search"]["1 (merged)"] = _latencies(folder, titles)
    row["disk_mib"] = _disk(folder) / 2**20
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/segments.json"))
    parser.add_argument("--index", type=Path, default=Path("indexes/news"), help="whose model and vectors to use")
    parser.add_argument("--full-merge-up-to", type=int, default=100_000,
                        help="merge into one segment (a rewrite of the whole index, HNSW included) up to this size")
    args = parser.parse_args()
    texts = [a.text for a in read_articles(Path("data/news")).records]
    titles = test_titles(Path("data/news"), 200)
    # a size measured again replaces its row; the other sizes' rows stay, each with its date
    earlier = json.loads(args.out.read_text()) if args.out.is_file() else {"rows": []}
    rows = {row["documents"]: {"measured_utc": earlier.get("measured_utc"), **row} for row in earlier["rows"]}
    for size in args.sizes:
        with tempfile.TemporaryDirectory() as tmp:
            print(f"segments: {size:,} articles …", flush=True)
            row = measure(size, texts, titles, Path(tmp), args.index, size <= args.full_merge_up_to)
            rows[size] = {"measured_utc": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), **row}
            print(json.dumps(rows[size]), flush=True)
        args.out.write_text(json.dumps({"rows": [rows[n] for n in sorted(rows)]}, indent=2) + "\n")
    if args.out.parent == Path("benchmarks") and (args.out.parent / "results.json").is_file():
        from benchmarks import run

        run.main(["--render"])  # RESULTS.md's section and goals from these rows


if __name__ == "__main__":
    main()
