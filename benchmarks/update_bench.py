"""Adding articles to an index against rebuilding it: what each stage costs.

A synthetic corpus of ``n`` documents (benchmarks.synthetic) is indexed with BM25
and dense vectors, then ``n_add`` new documents are added with
:func:`ranker.index.update.update_index`, and each stage is timed (the index records
them in ``stage_seconds``): encoding, the document store, BM25, FAISS. The
update encodes the new documents and commits them as a segment (their documents,
BM25 postings and a flat FAISS index: issue 37).

Encoding 100k news-length documents takes this 2-core machine over an hour, so
the base index's vectors are blends of the news index's real vectors
(benchmarks.dense_bench.blended_vectors: FAISS's cost does not depend on what
the vectors mean), and the full rebuild's encoding time is the rate measured on
the added documents times ``n``: every other stage of the rebuild is measured at
full size. The update itself is measured whole, its encoding included.

Run: ``python -m benchmarks.update_bench [--docs 100000] [--add 1000]`` (after ``make demo``).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from benchmarks.dense_bench import blended_vectors
from benchmarks.synthetic import synthetic_corpus
from ranker.data.readers import read_articles
from ranker.data.records import Article
from ranker.index.folder import Index, write_index
from ranker.index.update import update_index
from ranker.retrieve.bm25 import BM25Config
from ranker.retrieve.dense import DenseConfig, DenseRetriever


def measure(data: Path, index: Path, n_docs: int, n_add: int) -> dict:
    """Stage times of a full build of ``n_docs`` (encoding extrapolated) and of adding ``n_add``."""
    texts = [a.text for a in read_articles(data).records]
    corpus = synthetic_corpus(texts, n_docs, seed=0)
    added = [Article(f"new{i}", "", a.text) for i, a in enumerate(synthetic_corpus(texts, n_add, seed=7))]
    news = Index.open(index).dense()
    vectors = blended_vectors(news.vectors(Path(index) / "dense"), n_docs)
    config = DenseConfig(embedder=news.config.embedder)  # auto: the FAISS type a build of this size gets
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "idx"
        started = time.perf_counter()
        built = write_index(folder, corpus, ("text",), BM25Config(), DenseRetriever(config, news.embedder), vectors,
                            {"source": "synthetic"}, False, {}, started)
        done = update_index(folder, add=added, show_progress=False)
    rate = n_add / done.seconds["encode"]
    build = {stage: built["stage_seconds"][stage] for stage in ("docstore", "bm25", "faiss")}
    build["encode (extrapolated)"] = n_docs / rate
    update = {stage: done.seconds[stage] for stage in ("encode", "commit")}
    return {
        "docs": n_docs, "added": n_add, "faiss_type": config.resolved_type(n_docs + n_add),
        "encode_docs_per_second": rate, "rebuild_seconds": build, "update_seconds": update,
        "rebuild_total": sum(build.values()), "update_total": sum(update.values()),
    }


def markdown(row: dict) -> list[str]:
    """The RESULTS.md section for one measurement."""
    share = row["update_total"] / row["rebuild_total"]
    lines = [f"## Adding {row['added']:,} articles to a {row['docs']:,}-article index (FAISS {row['faiss_type']})", "",
             "| stage | full rebuild, s | update, s |", "|---|---|---|"]
    for stage in ("encode", "docstore", "bm25", "faiss", "commit"):
        rebuilt = row["rebuild_seconds"].get(stage, row["rebuild_seconds"].get(f"{stage} (extrapolated)"))
        mark = " (extrapolated)" if stage == "encode" else ""
        shown = f"{rebuilt:,.1f}{mark}" if rebuilt is not None else "–"
        updated = row["update_seconds"].get(stage)
        lines.append(f"| {stage} | {shown} | {f'{updated:,.1f}' if updated is not None else '–'} |")
    lines += [f"| **total** | **{row['rebuild_total']:,.1f}** | **{row['update_total']:,.1f}** "
              f"({share:.1%} of a rebuild) |",
              "", f"Encoding at {row['encode_docs_per_second']:.1f} docs/s (measured on the added articles). "
              "Goal: an update of 1% costs at most 10% of a rebuild.", ""]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("data/news"))
    parser.add_argument("--index", type=Path, default=Path("indexes/news"))
    parser.add_argument("--docs", type=int, default=100_000)
    parser.add_argument("--add", type=int, default=1_000)
    args = parser.parse_args(argv)
    row = measure(args.data, args.index, args.docs, args.add)
    print(json.dumps(row, indent=2))
    print("\n".join(markdown(row)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
