"""The segment store (issue 37) at 100,000 and 1,000,000 articles: what an add costs,
how search slows with segments, what a merge costs.

Each size: synthetic news-length articles (:func:`benchmarks.synthetic.synthetic_corpus`)
with random unit vectors of 384 dimensions (encoding is not measured: an add's
articles come with their vectors), written as one segment; then adds of 10, 100
and 1,000 articles (each a new segment, timed whole: documents, postings, flat
FAISS, the commit); BM25 and dense search p50 over the news test titles (dense:
random query vectors) with 4, 10 and 30 segments; a full merge (time, peak memory
of its process) and the search p50 after it; disk used. The store is the library
layer (:mod:`ranker.index.segments`); ``ranker add`` does not use it yet.

Run: ``python -m benchmarks.segments_bench --sizes 100000 1000000`` after ``make demo``
(about 12 minutes; prints JSON and writes ``benchmarks/segments.json``, a size measured again replacing its row).
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.run import test_titles
from benchmarks.synthetic import synthetic_corpus
from ranker.data.readers import read_articles
from ranker.data.records import Article
from ranker.index.segments import SegmentStore
from ranker.retrieve.analysis import BM25Config
from ranker.retrieve.dense import DenseConfig

DIM = 384


def _unit(rng: np.random.Generator, n: int) -> np.ndarray:
    vectors = rng.standard_normal((n, DIM), dtype=np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def _p50(search, queries: list) -> float:
    """Median milliseconds of one query, warm."""
    search(queries[:5])
    took = []
    for query in queries:
        began = time.perf_counter()
        search([query])
        took.append(1000 * (time.perf_counter() - began))
    return float(np.median(took))


def _latencies(store: SegmentStore, titles: list[str], vectors: np.ndarray) -> dict[str, float]:
    """BM25's and dense search's p50 over the store's current generation."""
    snapshot = store.open()
    try:
        return {"bm25_p50_ms": _p50(lambda q: snapshot.bm25.search(q, 10), titles),
                "dense_p50_ms": _p50(lambda q: snapshot.dense_search(np.stack(q), 10), list(vectors))}
    finally:
        snapshot.close()


def _disk(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def measure(size: int, texts: list[str], titles: list[str], tmp: Path) -> dict[str, Any]:
    rng = np.random.default_rng(size)
    corpus = synthetic_corpus(texts, size + 3_000)
    base, extra = corpus[:size], corpus[size:]
    store = SegmentStore.create(tmp / f"store-{size}", BM25Config(), DenseConfig(index_type="flat"))
    began = time.perf_counter()
    store.add(base, _unit(rng, size))
    row: dict[str, Any] = {"documents": size, "first_segment_s": time.perf_counter() - began, "adds": {}}
    used = 0
    for n in (10, 100, 1000):
        batch = [Article(f"a{used + i}", a.title, a.text) for i, a in enumerate(extra[used : used + n])]
        used += n
        began = time.perf_counter()
        store.add(batch, _unit(rng, n))
        row["adds"][n] = time.perf_counter() - began
    queries = _unit(rng, 50)
    row["search"] = {}
    for segments in (4, 10, 30):
        while len(store.current().segments) < segments:
            batch = [Article(f"a{used}", extra[used].title, extra[used].text)]
            used += 1
            store.add(batch, _unit(rng, 1))
        row["search"][segments] = _latencies(store, titles, queries)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    began = time.perf_counter()
    store.merge(1)
    row["merge_s"] = time.perf_counter() - began
    row["peak_rss_mib_after_merge"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    row["peak_rss_mib_before_merge"] = before / 1024
    row["search"][1] = _latencies(store, titles, queries)
    row["disk_mib"] = _disk(store.folder) / 2**20
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/segments.json"))
    args = parser.parse_args()
    texts = [a.text for a in read_articles(Path("data/news")).records]
    titles = test_titles(Path("data/news"), 200)
    # a size measured again replaces its row; the other sizes' rows stay, each with its date
    earlier = json.loads(args.out.read_text()) if args.out.is_file() else {"rows": []}
    rows = {row["documents"]: {"measured_utc": earlier.get("measured_utc"), **row} for row in earlier["rows"]}
    for size in args.sizes:
        with tempfile.TemporaryDirectory() as tmp:
            print(f"segments: {size:,} articles …", flush=True)
            row = measure(size, texts, titles, Path(tmp))
            rows[size] = {"measured_utc": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), **row}
            print(json.dumps(rows[size]), flush=True)
        args.out.write_text(json.dumps({"rows": [rows[n] for n in sorted(rows)]}, indent=2) + "\n")


if __name__ == "__main__":
    main()
