"""Every retriever and the reranked system on queries people write (data/realistic/),
by style, and the settings chosen on them.

The hand-written set's queries come in three styles (a few keywords, a natural
question, a paraphrase that avoids the article's words) with graded judgments
(0, 1 partly relevant, 2 answers it). This job scores, on a title-and-text index
and on the benchmark's body-only index:

- BM25 with the title counted 1, 2 or 3 times (``--title-boost``),
- dense retrieval,
- hybrid score fusion over a grid of BM25/dense weights,
- the cross-encoder reranking hybrid's top results (its default depth), over a grid of mixing weights,

and reports nDCG@10 (graded) and MRR@10 counting only the articles that answer
the query (grade 2; ``ranker evaluate`` would count a partly relevant one too,
and then nearly every system scores 1) by style, with the setting that did best
on all the queries. It writes OUT/realistic.json and OUT/realistic.md.

Run (after ``make demo``; the title-and-text index takes about 4 minutes):
``ranker index data/news --out indexes/news-tt`` then
``python -m pipelines.realistic --out runs/realistic-eval``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np

from ranker.core.display import format_table
from ranker.core.exits import run_reporting_errors
from ranker.core.files import atomic_write_text
from ranker.core.outputs import check_output, folder_of
from ranker.data.qrels import judged_queries, read_qrels
from ranker.data.readers import read_articles, read_queries
from ranker.eval.metrics import evaluate_per_query
from ranker.index.folder import Index, build_index
from ranker.rerank.reranker import RerankConfig, Reranker, rerank_scores, with_tail
from ranker.retrieve.bm25 import BM25Config
from ranker.retrieve.hybrid import HybridConfig
from ranker.search.searcher import to_run

#: nDCG@10 over the grades; MRR@10 of the first article that answers the query (grade 2).
METRICS = ("nDCG@10", "MRR@10 (grade 2)")
STYLES = ("keywords", "question", "paraphrase")
BOOSTS = (1, 2, 3)
FUSION = tuple(round(w, 1) for w in np.arange(0.3, 1.0, 0.1))  # BM25's share; dense gets the rest
MIXING = tuple(round(w, 1) for w in np.arange(0.0, 1.01, 0.1))


def by_style(per_query: dict[str, dict[str, float]], styles: dict[str, str]) -> dict[str, dict[str, float]]:
    """Mean of each metric over all queries and over each style's.

    Example:
        >>> by_style({"a": {"MRR@10": 1.0}, "b": {"MRR@10": 0.5}}, {"a": "question", "b": "keywords"})["all"]
        {'MRR@10': 0.75}
    """
    groups = {"all": list(per_query)} | {s: [q for q in per_query if styles[q] == s] for s in STYLES}
    return {name: {m: float(np.mean([per_query[q][m] for q in qids])) for m in next(iter(per_query.values()))}
            for name, qids in groups.items() if qids}


def score(run: dict, qrels: dict, styles: dict[str, str]) -> dict[str, dict[str, float]]:
    return by_style(evaluate_per_query(run, qrels, list(METRICS)), styles)


def evaluate_index(index: Index, queries, qrels, styles, reranker: Reranker | None) -> dict[str, dict]:
    """Every system on one index: BM25, dense, hybrid over the fusion grid, reranked over the mixing grid."""
    texts, qids, ids = [q.text for q in queries], [q.qid for q in queries], index.doc_ids()
    systems: dict[str, dict] = {}
    for name in ("bm25", "dense"):
        systems[name] = score(to_run(index.retriever(name).search(texts, 100), qids, ids), qrels, styles)
    fused = {}
    for w in FUSION:
        hybrid = index.retriever("hybrid", hybrid=HybridConfig(weights=(w, round(1 - w, 1))))
        fused[w] = hybrid.search(texts, 100)
        systems[f"hybrid {w:g}/{1 - w:.1g}"] = score(to_run(fused[w], qids, ids), qrels, styles)
    if reranker is not None:
        best = max(FUSION, key=lambda w: systems[f"hybrid {w:g}/{1 - w:.1g}"]["all"]["nDCG@10"])
        first = fused[best]
        top = first.__class__(first.rows[:, : reranker.config.depth], first.scores[:, : reranker.config.depth])
        cross = reranker.score(*reranker.pairs(top, texts, index.docs))
        for w in MIXING:
            mixed = rerank_scores(top, cross, w).results
            systems[f"reranked (hybrid {best:g}) w {w:g}"] = score(to_run(mixed, qids, ids), qrels, styles)
    return systems


def evaluate_defaults(index: Index, queries, qrels, styles, reranker: Reranker | None) -> dict[str, dict]:
    """Every system at its default settings only, nothing chosen on these queries: BM25,
    dense, hybrid (the index's default fusion), and the reranker over hybrid's top results (its depth) alone
    and mixed at the weight tuned on dev when it was trained. For a held-out set."""
    texts, qids, ids = [q.text for q in queries], [q.qid for q in queries], index.doc_ids()
    systems = {name: score(to_run(index.retriever(name).search(texts, 100), qids, ids), qrels, styles)
               for name in ("bm25", "dense", "hybrid")}
    if reranker is not None:
        first = index.retriever("hybrid").search(texts, 100)
        top = first.__class__(first.rows[:, : reranker.config.depth], first.scores[:, : reranker.config.depth])
        cross = reranker.score(*reranker.pairs(top, texts, index.docs), show_progress=False)
        weight = float(reranker.config.weight)
        for name, w in (("cross-encoder alone", 1.0), (f"reranked (w {weight:g}, its dev-tuned weight)", weight)):
            systems[name] = score(to_run(with_tail(rerank_scores(top, cross, w).results, first), qids, ids), qrels,
                                  styles)
    return systems


def boosted_bm25(data: Path, queries, qrels, styles) -> dict[str, dict]:
    """BM25 over titles and text with the title counted 1, 2 or 3 times (BM25-only indexes: seconds each)."""
    articles = read_articles(data).records
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for boost in BOOSTS:
            folder = Path(tmp) / f"b{boost}"
            build_index(articles, folder, BM25Config(title_boost=boost), None, show_progress=False,
                        fields=("title", "text"))
            index = Index.open(folder)
            found = index.bm25().search([q.text for q in queries], 100)
            out[f"bm25 title x{boost}"] = score(to_run(found, [q.qid for q in queries], index.doc_ids()), qrels, styles)
    return out


def table(systems: dict[str, dict]) -> str:
    headers = ["system", *(f"{style} {m.split(' (')[0]}" for style in ("all", *STYLES) for m in METRICS)]
    rows = [[name, *(f"{s.get(style, {}).get(m, float('nan')):.3f}" for style in ("all", *STYLES) for m in METRICS)]
            for name, s in systems.items()]
    return format_table(headers, rows)


def run(args: argparse.Namespace) -> int:
    out = check_output(args.out, folder_of("a realistic-queries folder", r"realistic\.(json|md)"),
                       [("--set", args.set), ("--index", args.index), ("--body-index", args.body_index)])
    queries_path, qrels_path = args.set / "queries.jsonl", args.set / "qrels.txt"
    queries, qrels = judged_queries(read_queries(queries_path).records, read_qrels(qrels_path))
    styles = {q.qid: q.metadata["style"] for q in queries}
    results = {"queries": len(queries), "by_style": {s: sum(v == s for v in styles.values()) for s in STYLES},
               "indexes": {}}
    if args.defaults_only:
        return run_defaults(args, out, queries, qrels, styles, results)
    reranker = Reranker(RerankConfig(model=str(args.reranker), precision="fp32")) if args.reranker else None
    for label, folder in (("title and text", args.index), ("body only", args.body_index)):
        index = Index.open(folder)
        print(f"{label}: {folder} (fields {', '.join(index.manifest.get('fields', ['text']))})")
        results["indexes"][label] = evaluate_index(index, queries, qrels, styles, reranker)
        print(table(results["indexes"][label]) + "\n")
    results["indexes"]["title and text"].update(boosted_bm25(args.data, queries, qrels, styles))
    best = {}
    for label, systems in results["indexes"].items():
        for family in ("bm25 title x", "hybrid ", "reranked "):
            found = {k: v for k, v in systems.items() if k.startswith(family)}
            if found:
                name = max(found, key=lambda k: (found[k]["all"]["nDCG@10"], found[k]["all"]["MRR@10 (grade 2)"]))
                best[f"{label}: {family.strip()}"] = {"setting": name, **found[name]["all"]}
    results["best"] = best
    print("best on all queries:\n" + "\n".join(f"  {k}: {v}" for k, v in best.items()))
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "realistic.json", json.dumps(results, indent=2) + "\n")
    atomic_write_text(out / "realistic.md", "\n\n".join(f"## {label}\n\n```\n{table(s)}\n```"
                                                        for label, s in results["indexes"].items()) + "\n")
    print(f"-> {out / 'realistic.json'}, {out / 'realistic.md'}")
    return 0


def run_defaults(args: argparse.Namespace, out: Path, queries, qrels, styles, results: dict) -> int:
    """``--defaults-only``: each index's systems at their default settings (see :func:`evaluate_defaults`)."""
    reranker = Reranker(RerankConfig(model=str(args.reranker))) if args.reranker else None
    results["settings"] = "defaults only: nothing chosen on these queries"
    results["reranker"] = str(args.reranker) if args.reranker else None
    for label, folder in (("title and text", args.index), ("body only", args.body_index)):
        index = Index.open(folder)
        results["indexes"][label] = evaluate_defaults(index, queries, qrels, styles, reranker)
        print(f"{label}: {folder}\n" + table(results["indexes"][label]) + "\n")
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "realistic.json", json.dumps(results, indent=2) + "\n")
    atomic_write_text(out / "realistic.md", "\n\n".join(f"## {label}\n\n```\n{table(s)}\n```"
                                                        for label, s in results["indexes"].items()) + "\n")
    print(f"-> {out / 'realistic.json'}, {out / 'realistic.md'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--set", type=Path, default=Path("data/realistic"), help="queries.jsonl and qrels.txt")
    parser.add_argument("--data", type=Path, default=Path("data/news"))
    parser.add_argument("--index", type=Path, default=Path("indexes/news-tt"), help="a title-and-text index")
    parser.add_argument("--body-index", type=Path, default=Path("indexes/news"), help="the benchmark's body-only index")
    parser.add_argument("--reranker", type=Path, default=Path("models/demo/model/model"))
    parser.add_argument("--out", type=Path, default=Path("runs/realistic-eval"))
    parser.add_argument("--defaults-only", action="store_true",
                        help="score each system at its default settings only, choosing nothing on the queries: for "
                        "the held-out set (--set data/realistic-test)")
    args = parser.parse_args(argv)
    return run_reporting_errors(lambda: run(args))


if __name__ == "__main__":
    raise SystemExit(main())
