"""Hard-negative mining: ours (``ranker.train.mine``) against sentence-transformers'
``mine_hard_negatives``, same vectors, same settings.

Both sides mine the news training queries with the dense retriever: cosine
similarity over the index's normalised embeddings, exact (FAISS flat) search,
a 5% relative margin against the positive's score, the best 3 survivors as
negatives. The corpus vectors are the index's own: ours searches the index,
and theirs loads the same vectors from its ``cache_folder`` (written under the
file name it looks for), so neither side encodes the corpus. Both encode the
queries with the same loaded model.

What each side's time includes (best of ``repeat`` runs, model and index loaded
beforehand):

* ranker: ``mine_index`` — query encoding, FAISS search ``depth`` deep, the
  window/positive/margin filters and sampling; its output is row numbers.
* mine_hard_negatives: its whole call — hashing the corpus texts for the cache
  key, loading the corpus vectors (.npy), query encoding (its query cache is
  deleted before every run), saving the query vectors, search, filters and
  building the output ``Dataset`` of texts. Building its input ``Dataset`` is
  not timed.

Query encoding is the same model call on both sides and most of either time
on a CPU, so the speeds are also reported without it: ours searching and
mining from query vectors encoded beforehand, theirs loading its own cached
query vectors (``queries_per_second_without_encoding``).

Settings are lined up where the two count differently:

* Window: it retrieves ``range_max + max_positives`` candidates per query and
  takes ``range_max`` of them once positives and margin failures are removed;
  our window counts ranks with the positive in them, so ours gets
  ``range_max + max_positives`` (``max_positives``: the most rows that share a
  query text, as it counts them). With ``range_min`` 0 the candidates are then
  the same; a ``range_min`` above 0 would not line up (it skips the first
  survivors, we skip the first ranks), so it is fixed at 0 here.
* Queries are sampled by query id, so a query with two positives brings both
  and both sides remove the same labelled positives.

Where they can still differ, and why agreement is a fraction (asserted
>= ``min_agreement``) rather than exact:

* Several positives: it measures the margin from the *lowest* positive score,
  we from the highest (5 of the 4,160 news training queries).
* Identical texts: it merges queries with the same text (pooling their
  positives) and corpus entries with the same text (33 query texts and 6
  article texts are duplicated in the news data).
* The margin's boundary: we drop scores ``>= (1 - m) * p``, it drops scores
  ``> p - |p| * m``; the same for positive ``p`` except exactly at the
  threshold. For ``p < 0`` (not seen with MiniLM) ours is laxer.
* Float noise: the query vectors come from differently composed batches, and
  its positive score is a torch dot product where ours is FAISS's; a score
  within ~1e-6 of the threshold or of the 3rd/4th candidate may flip.
* Short groups: with ``output_format="n-tuple"`` it drops a query that gets
  fewer than ``num_negatives`` negatives; ours keeps it short. A short group
  of ours agrees when it has no row for that query.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import tempfile
from collections import Counter
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import timed
from ranker.train.mine import TrainingQuery

THEIRS = "mine_hard_negatives"


def sample_by_query(training: list[TrainingQuery], n: int, seed: int = 0) -> list[TrainingQuery]:
    """Every training query of ``n`` query ids drawn at random, in their order.

    Sampling ids rather than (query, positive) rows keeps a query's positives
    together, so both miners know the same positives.

    Example:
        >>> t = [TrainingQuery("a", "x", d, frozenset({"1", "2"})) for d in "12"]
        >>> t += [TrainingQuery("b", "y", "3", frozenset({"3"}))]
        >>> [q.positive for q in sample_by_query(t, 1, seed=1)]
        ['1', '2']
    """
    qids = list(dict.fromkeys(q.qid for q in training))
    if n < len(qids):
        chosen = set(np.random.default_rng(seed).choice(qids, size=n, replace=False).tolist())
    else:
        chosen = set(qids)
    return [q for q in training if q.qid in chosen]


def max_positives(queries: list[TrainingQuery]) -> int:
    """The most rows sharing one query text: how many extra candidates
    ``mine_hard_negatives`` retrieves to leave room for positives.

    Example:
        >>> max_positives([TrainingQuery("a", "x", "1", frozenset()), TrainingQuery("b", "x", "2", frozenset())])
        2
    """
    return max(Counter(q.text for q in queries).values())


def corpus_cache_file(model_name: str, corpus: list[str]) -> str:
    """The file name ``mine_hard_negatives`` (sentence-transformers 6.2) looks for
    in ``cache_folder`` for the corpus vectors of ``corpus`` (deduplicated, no prompt).

    ``compare`` checks after a first run that it loaded this file rather than
    encoding the corpus itself, so a change of the naming fails loudly.

    Example:
        >>> corpus_cache_file("", ["a"])[:18]
        'corpus_embeddings_'
    """
    key = hashlib.sha256(repr((model_name, None, None, corpus)).encode(), usedforsecurity=False).hexdigest()
    return f"corpus_embeddings_{key}.npy"


def same_negatives(ours: tuple[str, ...], theirs: tuple[str, ...] | None, num_negatives: int) -> bool:
    """Whether one query's negatives agree, as texts in any order.

    ``theirs`` is None where ``mine_hard_negatives`` has no row for the query:
    an n-tuple row needs all ``num_negatives``, so that agrees with a short group of ours.

    Example:
        >>> same_negatives(("a", "b"), ("b", "a"), 2), same_negatives(("a", "b"), ("a", "c"), 2)
        (True, False)
        >>> same_negatives(("a",), None, 2), same_negatives(("a", "b"), None, 2)
        (True, False)
    """
    if len(ours) < num_negatives:
        return theirs is None
    return theirs is not None and set(ours) == set(theirs)


def their_rows(dataset, num_negatives: int) -> dict[tuple[str, str], tuple[str, ...]]:
    """Its n-tuple output as (query text, positive text) -> negative texts."""
    columns = [dataset[f"negative_{i}"] for i in range(1, num_negatives + 1)]
    return {(q, p): tuple(negs) for q, p, *negs in zip(dataset["query"], dataset["positive"], *columns, strict=True)}


def why_different(query: TrainingQuery, text_count: Counter) -> str:
    """The known cause of a disagreement on ``query``, if it has one.

    Example:
        >>> why_different(TrainingQuery("a", "x", "1", frozenset({"1"})), Counter({"x": 2}))
        'query text shared'
    """
    if len(query.positives) > 1:
        return "several positives"
    if text_count[query.text] > 1:
        return "query text shared"
    return "other"


def time_ours(index, queries: list[TrainingQuery], config, repeat: int) -> tuple[list, float, float]:
    """Our groups, the best time of ``mine_index`` and that of search + mining from
    query vectors encoded beforehand."""
    from ranker.retrieve.base import Results
    from ranker.train.mine import mine, mine_index

    (groups, _), seconds = timed(lambda: mine_index(index, queries, config), repeat=repeat)
    retriever, doc_ids = index.retriever("dense"), index.doc_ids()
    vectors = retriever.embedder.encode([q.text for q in queries])

    def encoded():
        scores, rows = retriever.faiss_index.search(vectors, min(config.depth, retriever.doc_count))
        return mine(queries, doc_ids, config, Results(rows.astype(np.int64), np.where(rows >= 0, scores, -np.inf)))

    _, without_encoding = timed(encoded, repeat=repeat)
    return groups, seconds, without_encoding


def time_theirs(retriever, texts: list[str], dataset, repeat: int, **settings) -> tuple[Any, float, float]:
    """Its n-tuple output, the best time of its call with the index's corpus vectors
    in its cache, and that with its query vectors cached too."""
    from sentence_transformers.util import mine_hard_negatives

    model = retriever.embedder.model
    with tempfile.TemporaryDirectory() as cache:
        corpus = list(dict.fromkeys(texts))  # as it deduplicates, first occurrence kept
        first_row: dict[str, int] = {}
        for row, text in enumerate(texts):
            first_row.setdefault(text, row)
        vectors = retriever.faiss_index.reconstruct_n(0, retriever.doc_count)[[first_row[t] for t in corpus]]
        corpus_file = corpus_cache_file(model.model_card_data.base_model or "", corpus)
        np.save(Path(cache) / corpus_file, vectors)

        def run(encode_queries: bool = True):
            if encode_queries:  # its query cache is dropped so that it encodes them, as ours does
                for stale in Path(cache).glob("query_embeddings_*.npy"):
                    stale.unlink()
            # it prints statistics and progress bars however verbose is set
            with redirect_stdout(io.StringIO()), redirect_stderr(io.StringIO()):
                return mine_hard_negatives(dataset, model, corpus=texts, sampling_strategy="top",
                                           output_format="n-tuple", batch_size=retriever.embedder.config.batch_size,
                                           verbose=False, cache_folder=cache, **settings)

        mined, seconds = timed(run, repeat=repeat)
        _, without_encoding = timed(lambda: run(encode_queries=False), repeat=repeat)
        found = sorted(p.name for p in Path(cache).glob("corpus_embeddings_*.npy"))
        assert found == [corpus_file], f"{THEIRS} encoded the corpus instead of loading the index's vectors: {found}"
    return mined, seconds, without_encoding


def agreement(groups: list, rows: dict[tuple[str, str], tuple[str, ...]], texts: list[str], text_of: dict[str, str],
              num_negatives: int) -> dict[str, Any]:
    """The share of our groups whose negatives its output has too, the share in the
    same order, and the known causes of the disagreements."""
    text_count = Counter(g.query.text for g in groups)
    agree, same_order, causes = 0, 0, Counter()
    for group in groups:
        ours = tuple(texts[r] for r in group.negatives)
        theirs = rows.get((group.query.text, text_of[group.query.positive]))
        if same_negatives(ours, theirs, num_negatives):
            agree += 1
            same_order += theirs is None or ours == theirs
        else:
            causes[why_different(group.query, text_count)] += 1
    n = max(len(groups), 1)
    return {"same_negatives": agree / n, "same_order": same_order / n, "disagreements": dict(causes)}


def exact_dense(index_path: Path) -> tuple[Any, Any, list[str]]:
    """The index, its dense retriever (the model and FAISS loaded before any timing) and every
    article's text in row order.

    Raises:
        ValueError: the dense component is not a flat (exact) FAISS index.
    """
    from ranker.index.folder import Index

    # both sides encode the queries with the same sentence-transformers model (fp32), so that
    # their negatives can be compared; what OpenVINO gains is measured in the encode benchmark
    index = Index.open(index_path, "torch", "fp32")
    retriever = index.retriever("dense")
    kind = index.manifest["components"]["dense"].get("index_type")
    if kind != "flat":
        raise ValueError(f"an exact comparison needs a flat FAISS index, not '{kind}'")
    return index, retriever, index.docs.texts(list(range(len(index.docs))))


def compare(index_path: Path, data: Path, n_queries: int, range_max: int = 20, relative_margin: float = 0.05,
            num_negatives: int = 3, use_faiss: bool = True, repeat: int = 3, seed: int = 0,
            min_agreement: float = 0.99) -> dict[str, Any]:
    """Mine ``n_queries`` training query ids both ways; raises AssertionError if
    fewer than ``min_agreement`` of the training queries get the same negatives.

    Args:
        index_path: an index with a dense component over a flat FAISS index.
        data: a BEIR folder with ``queries.jsonl`` and ``qrels/train.tsv``.
        n_queries: how many query ids to sample (one with two positives gives
            two training queries).
        range_max: its ``range_max`` (ours is this plus ``max_positives``).
        relative_margin: the margin both sides keep below the positive's score.
        num_negatives: negatives per training query, the best first.
        use_faiss: its ``use_faiss`` (True: the same FAISS flat search as ours).
        repeat: timed runs per side; the best counts.
        seed: the query sample.
        min_agreement: the least share of training queries that must agree.

    Example:
        >>> # the demo's tiny model scores every article alike: a small margin keeps the groups full
        >>> row = compare(Path("indexes/news"), Path("data/news"), 6, relative_margin=0.001, repeat=1)
        >>> row["queries"], row["same_negatives"], row["short"]
        (6, 1.0, {'ranker': 0, 'mine_hard_negatives': 0})
    """
    from datasets import Dataset

    from ranker.data.qrels import read_qrels
    from ranker.data.readers import read_queries
    from ranker.train.mine import MiningConfig, training_queries

    index, retriever, texts = exact_dense(index_path)
    text_of = dict(zip(index.doc_ids(), texts, strict=True))
    training = training_queries(read_queries(data).records, read_qrels(data / "qrels" / "train.tsv"))
    queries = sample_by_query(training, n_queries, seed)
    extra = max_positives(queries)
    config = MiningConfig(strategy="dense", range_min=0, range_max=range_max + extra, num_negatives=num_negatives,
                          sampling="top", relative_margin=relative_margin)

    groups, ours_s, ours_encoded_s = time_ours(index, queries, config, repeat)
    dataset = Dataset.from_dict({"query": [q.text for q in queries],
                                 "positive": [text_of[q.positive] for q in queries]})
    mined, theirs_s, theirs_encoded_s = time_theirs(
        retriever, texts, dataset, repeat, range_min=0, range_max=range_max, relative_margin=relative_margin,
        num_negatives=num_negatives, use_faiss=use_faiss)

    agreed = agreement(groups, their_rows(mined, num_negatives), texts, text_of, num_negatives)
    n = len(queries)
    assert agreed["same_negatives"] >= min_agreement, \
        f"only {agreed['same_negatives']:.3f} of {n} queries got the same negatives ({agreed['disagreements']})"
    qps = {"ranker": n / ours_s, THEIRS: n / theirs_s}
    # Query encoding is the same model call on both sides and most of the time:
    # without it, what differs (search, filters, output) shows
    encoded = {"ranker": n / ours_encoded_s, THEIRS: n / theirs_encoded_s}
    return {
        "queries": n,
        "query_ids": len({q.qid for q in queries}),
        "documents": len(texts),
        **agreed,
        "short": {"ranker": sum(len(g.negatives) < num_negatives for g in groups), THEIRS: n - len(mined)},
        "seconds": {"ranker": ours_s, THEIRS: theirs_s},
        "queries_per_second": qps,
        "ratio": qps["ranker"] / qps[THEIRS],
        "queries_per_second_without_encoding": encoded,
        "ratio_without_encoding": encoded["ranker"] / encoded[THEIRS],
        "settings": {"retriever": f"dense, {index.manifest['components']['dense']['model']}, FAISS flat inner product",
                     "range_min": 0, "range_max": {"ranker": config.range_max, THEIRS: range_max},
                     "max_positives": extra, "relative_margin": relative_margin, "num_negatives": num_negatives,
                     "sampling": "top", "output_format": "n-tuple", "depth": config.depth, "use_faiss": use_faiss,
                     "batch_size": retriever.embedder.config.batch_size, "repeat": repeat, "seed": seed},
        "includes": {"ranker": f"mine_index: query encoding, FAISS search {config.depth} deep, filters, sampling",
                     THEIRS: "the whole call with the index's corpus vectors from cache_folder: cache key hashing, "
                             "loading them, query encoding and caching, search, filters, output Dataset",
                     "without_encoding": "the same with the query vectors already encoded: ours given them, "
                                         "theirs loading them from its cache_folder"},
    }


def main(argv: list[str] | None = None) -> None:
    """``python -m benchmarks.mine_bench``: one comparison on the news data, printed as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, default=Path("indexes/news"))
    parser.add_argument("--data", type=Path, default=Path("data/news"))
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    print(json.dumps(compare(args.index, args.data, args.queries, repeat=args.repeat), indent=2))


if __name__ == "__main__":
    main()
