"""Cross-encoder reranking of what a retriever found.

The retriever's top ``depth`` articles for a query are scored by the fine-tuned
cross-encoder (``[CLS] query [SEP] article [SEP]`` → one score, see
:mod:`ranker.models.checkpoints`) and re-sorted. The cross-encoder's score can be mixed with
the first stage's: both are z-normalised over the query's candidates and summed
with weight ``w`` for the cross-encoder and ``1 - w`` for the first stage. The
weight is tuned on the dev split when the model is trained and saved with it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from ranker.rerank import DEFAULT_DEPTH
from ranker.retrieve.base import Results

#: Scores already-read (query, text) pairs elsewhere with the reranker's settings:
#: ``(config, queries, texts, show_progress) -> scores`` (:func:`ranker.models.ray_engine.pair_scorer`).
PairScorer = Callable[["RerankConfig", list[str], list[str], bool], np.ndarray]

WEIGHT_GRID = tuple(round(w, 2) for w in np.linspace(0.0, 1.0, 21))


@dataclass(frozen=True)
class RerankConfig:
    """Which model reranks, how deep, and how its score is mixed with the first stage's.

    ``weight``: the cross-encoder's share of the final score; ``None`` takes the
    weight tuned on dev and saved with the model (1.0, the cross-encoder alone,
    for a model without one). ``max_length``: ``None`` takes the length the
    model was trained with. ``precision``: ``auto`` (bfloat16 where the
    hardware has it, else fp32), ``fp32``, ``bf16``, or ``int8`` (dynamic
    quantisation, CPU only); see :mod:`ranker.models.precision`. ``runtime``: ``auto``
    (OpenVINO on a CPU, PyTorch on a GPU), ``openvino`` or ``torch``; see
    :mod:`ranker.models.runtime`.

    Example:
        >>> RerankConfig(model="models/reranker", depth=30).depth
        30
    """

    model: str
    depth: int = DEFAULT_DEPTH
    weight: float | None = None
    max_length: int | None = None
    batch_size: int = 32
    device: str = "auto"
    precision: str = "auto"
    runtime: str = "auto"

    def __post_init__(self) -> None:
        from ranker.models.precision import validate
        from ranker.models.runtime import resolve_runtime

        validate(self.precision)
        resolve_runtime(self.runtime, self.device, self.precision)  # an impossible combination fails here
        if self.depth < 1 or self.batch_size < 1:
            raise ValueError(f"depth and batch_size must be >= 1 (got {self.depth}, {self.batch_size})")
        if self.weight is not None and not 0.0 <= self.weight <= 1.0:
            raise ValueError(f"the cross-encoder weight must be in [0, 1], not {self.weight}")


def score_pairs(
    net,
    tokenizer,
    queries: list[str],
    texts: list[str],
    max_length: int,
    batch_size: int = 32,
    show_progress: bool = False,
) -> np.ndarray:
    """The cross-encoder's score for each (query, text) pair, in input order.

    Pairs are scored longest first in batches padded only to their own longest
    pair, which on a CPU is most of the speed: a batch of short pairs costs a
    fraction of a batch padded to ``max_length``.

    Example:
        >>> from ranker.models.checkpoints import load_pair_scorer, load_tokenizer
        >>> net, tok = load_pair_scorer(tiny_bert), load_tokenizer(tiny_bert)
        >>> score_pairs(net, tok, ["oil"], ["oil prices fell"], max_length=128).shape  # one score per pair
        (1,)
    """
    from ranker.heads.base import sequence_logits

    if len(queries) != len(texts):
        raise ValueError(f"{len(queries)} queries but {len(texts)} texts")
    return sequence_logits(net, tokenizer, queries, texts, max_length, batch_size, show_progress, desc="rerank")[:, 0]


def zscore(values: np.ndarray) -> np.ndarray:
    """``values`` centred and scaled to unit spread (all zeros when they are all equal).

    Example:
        >>> zscore(np.array([1.0, 3.0])).tolist()
        [-1.0, 1.0]
    """
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:  # a query whose filters left nothing to rerank
        return values
    spread = values.std()
    return (values - values.mean()) / spread if spread > 0 else np.zeros_like(values)


def combine(first: np.ndarray, cross: np.ndarray, weight: float) -> np.ndarray:
    """One query's final scores: ``weight`` z(cross-encoder) + (1 - ``weight``) z(first stage).

    Example:
        >>> combine(np.array([2.0, 1.0]), np.array([0.0, 5.0]), weight=1.0).tolist()
        [-1.0, 1.0]
    """
    if weight >= 1.0:
        return zscore(cross)
    return weight * zscore(cross) + (1.0 - weight) * zscore(first)


class Reranked(NamedTuple):
    """A batch of reranked queries; every array is ``(n_queries, depth)`` in the final order.

    ``before`` is the 1-based rank each article had in the first stage;
    ``rows`` are ``-1`` (and scores ``-inf``) where the first stage found fewer
    than ``depth`` articles.
    """

    results: Results
    cross: np.ndarray
    first: np.ndarray
    before: np.ndarray


def rerank_scores(first: Results, cross_flat: np.ndarray, weight: float) -> Reranked:
    """Reorder ``first`` by cross-encoder scores (one per real candidate, row-major).

    Ties keep the first stage's order, so a cross-encoder that cannot tell two
    articles apart does not reshuffle them.

    Example:
        >>> first = Results(np.array([[7, 8, -1]]), np.array([[2.0, 1.0, -np.inf]]))
        >>> rerank_scores(first, np.array([0.1, 0.9]), weight=1.0).results.rows.tolist()
        [[8, 7, -1]]
    """
    n, depth = first.rows.shape
    rows = np.full((n, depth), -1, dtype=np.int64)
    final = np.full((n, depth), -np.inf, dtype=np.float32)
    cross = np.full((n, depth), np.nan, dtype=np.float32)
    first_scores = np.full((n, depth), np.nan, dtype=np.float32)
    before = np.zeros((n, depth), dtype=np.int64)
    taken = 0
    for q in range(n):
        m = int((first.rows[q] >= 0).sum())
        ce = np.asarray(cross_flat[taken : taken + m], dtype=np.float64)
        taken += m
        mixed = combine(first.scores[q, :m], ce, weight)
        order = sorted(range(m), key=lambda j: (-mixed[j], j))
        rows[q, :m] = first.rows[q, order]
        final[q, :m] = mixed[order]
        cross[q, :m] = ce[order]
        first_scores[q, :m] = first.scores[q, order]
        before[q, :m] = np.array(order) + 1
    if taken != len(cross_flat):
        raise ValueError(f"{len(cross_flat)} cross-encoder scores for {taken} candidates")
    return Reranked(Results(rows, final), cross, first_scores, before)


def candidate_pairs(first: Results, queries: list[str], texts_by_row) -> tuple[list[str], list[str]]:
    """The (query, article text) pairs of every real candidate in ``first``, row-major.

    ``texts_by_row(rows)`` returns the texts of those index rows.
    """
    flat_rows, flat_queries = [], []
    for q, query in enumerate(queries):
        for row in first.rows[q]:
            if row >= 0:
                flat_rows.append(int(row))
                flat_queries.append(query)
    return flat_queries, list(texts_by_row(flat_rows))


def quantized(net):
    """``net`` with its ``Linear`` layers dynamically quantised to int8 (torch's
    ``quantize_dynamic``; CPU only), for inference.

    Example:
        >>> from ranker.models.checkpoints import load_pair_scorer
        >>> fast = quantized(load_pair_scorer(tiny_bert))
        >>> type(fast.bert.encoder.layer[0].attention.self.query).__module__  # int8 weights, quantised on the fly
        'torch.ao.nn.quantized.dynamic.modules.linear'
    """
    import warnings

    import torch

    from ranker.models.loading import device_of

    if device_of(net).type != "cpu":
        raise ValueError("int8 quantisation runs on the CPU only; pass device='cpu' or drop int8")
    with warnings.catch_warnings():
        # torch 2.13 marks its quantised-tensor constructors deprecated in favour of
        # torchao (not a dependency here); they still work, and the warning would
        # print on every query
        warnings.filterwarnings("ignore", message=".*quantize_per_tensor.*", category=UserWarning)
        return torch.ao.quantization.quantize_dynamic(net.eval(), {torch.nn.Linear}, dtype=torch.qint8)


class Reranker:
    """A fine-tuned cross-encoder loaded for reranking.

    Example:
        >>> from ranker.index.folder import Index
        >>> index = Index.open("indexes/news")
        >>> reranker = Reranker(RerankConfig(model="models/demo/model/model"))
        >>> reranked = reranker.rerank(index.retriever("bm25").search(["oil prices"], 5), ["oil prices"], index.docs)
        >>> reranked.results.rows.shape, reranked.cross.shape  # the mixed order, and the cross-encoder's own scores
        ((1, 5), (1, 5))
    """

    def __init__(self, config: RerankConfig | str | Path, score_elsewhere: PairScorer | None = None) -> None:
        """Load the model (a :class:`RerankConfig`, or just the model folder); with
        ``score_elsewhere`` (e.g. :func:`ranker.models.ray_engine.pair_scorer`, a Ray actor pool each
        of whose actors loads the same model) pairs are scored there."""
        if not isinstance(config, RerankConfig):
            config = RerankConfig(model=str(config))
        from ranker.models.checkpoints import read_about
        from ranker.models.loading import resolve_model
        from ranker.models.runtime import resolve_runtime

        about = read_about(resolve_model(config.model))
        tuned = about.get("interpolation", {}).get("weight", 1.0)
        self.config = replace(
            config,
            weight=tuned if config.weight is None else config.weight,
            max_length=config.max_length or about.get("max_length", 256),
        )
        self.about = about
        self.passage_words = about.get("passage_words")
        self.runtime = resolve_runtime(config.runtime, config.device, config.precision)
        if self.runtime == "openvino":
            from ranker.models.exported import load_compiled
            from ranker.models.tokenizer import FastTokenizer

            self.net = load_compiled(config.model, "sequence", config.precision)
            self.tokenizer = FastTokenizer(resolve_model(config.model))
        else:
            from ranker.models.checkpoints import load_pair_scorer, load_tokenizer
            from ranker.models.loading import pick_device

            self.tokenizer = load_tokenizer(config.model)
            self.net = load_pair_scorer(config.model).to(pick_device(config.device))
            if config.precision == "int8":
                self.net = quantized(self.net)
        self.score_elsewhere = score_elsewhere
        self.pairs_per_second = float("nan")

    def rank(self, query: str, texts: list[str], top_k: int | None = None,
             return_documents: bool = False) -> list[dict[str, Any]]:
        """``texts`` ordered by the cross-encoder's score for ``query``, best first, as
        sentence-transformers' ``CrossEncoder.rank`` returns them: ``corpus_id`` (the
        position in ``texts``), ``score``, and ``text`` with ``return_documents``.

        Example:
            >>> hits = Reranker("models/demo/model/model").rank("oil prices", ["The dam broke.", "Oil fell."], top_k=1)
            >>> len(hits), sorted(hits[0])
            (1, ['corpus_id', 'score'])
        """
        scores = self.score([query] * len(texts), list(texts)) if texts else np.zeros(0)
        order = sorted(range(len(texts)), key=lambda i: (-float(scores[i]), i))[:top_k]
        return [{"corpus_id": i, "score": float(scores[i]), **({"text": texts[i]} if return_documents else {})}
                for i in order]

    def score(self, queries: list[str], texts: list[str], show_progress: bool = False) -> np.ndarray:
        """Cross-encoder scores of (query, article text) pairs, each article read as the
        model was trained to read it (its head, or its best window); records the pairs/s."""
        from ranker.retrieve.passages import passages_for

        started = time.perf_counter()
        read = passages_for(queries, texts, self.passage_words)
        if self.score_elsewhere is not None and len(read):
            scores = self.score_elsewhere(self.config, queries, read, show_progress)
        else:
            scores = self.score_read(queries, read, show_progress)
        if len(texts):
            self.pairs_per_second = len(texts) / (time.perf_counter() - started)
        return scores

    def score_read(self, queries: list[str], read: list[str], show_progress: bool = False) -> np.ndarray:
        """Scores of pairs whose articles are already cut to what the model reads."""
        from ranker.models.precision import autocast

        with autocast(self.net, self.config.precision):
            return score_pairs(
                self.net, self.tokenizer, queries, read, self.config.max_length, self.config.batch_size, show_progress
            )

    def rerank(self, first: Results, queries: list[str], docs, show_progress: bool = False) -> Reranked:
        """Rerank the first stage's results for ``queries`` (its top ``config.depth``).

        Args:
            first: the first stage's results, at least ``config.depth`` deep.
            queries: the query texts, one per row of ``first``.
            docs: the index's :class:`~ranker.index.docstore.DocStore` (for the article texts).
        """
        top = Results(first.rows[:, : self.config.depth], first.scores[:, : self.config.depth])
        cross = self.score(*self.pairs(top, queries, docs), show_progress=show_progress)
        return rerank_scores(top, cross, float(self.config.weight))

    def pairs(self, first: Results, queries: list[str], docs) -> tuple[list[str], list[str]]:
        """The (query, article text) pairs of every candidate in ``first``, row-major."""
        return candidate_pairs(first, queries, docs.texts)


def tune_weight(first: Results, cross_flat: np.ndarray, run_of, measure) -> tuple[float, dict[float, float]]:
    """The cross-encoder weight in :data:`WEIGHT_GRID` that scores best.

    ``run_of(results)`` turns reranked results into a run and ``measure(run)``
    into one number (MRR@10 on dev); ties go to the larger weight, the simpler
    system. Returns the weight and the score of every weight tried.
    """
    tried = {w: measure(run_of(rerank_scores(first, cross_flat, w).results)) for w in WEIGHT_GRID}
    best = max(tried, key=lambda w: (tried[w], w))
    return best, tried


def with_tail(reranked: Results, first: Results) -> Results:
    """The reranked top followed by the rest of the first stage's ranking.

    A run reranked to depth 20 but cut at k=100 keeps the first stage's ranks
    21–100 below the reranked ones (scores below the lowest reranked score), so
    recall at depths past the reranker's is the first stage's.

    Example:
        >>> top = Results(np.array([[2, 1]]), np.array([[0.5, -0.5]]))
        >>> first = Results(np.array([[1, 2, 3]]), np.array([[9.0, 8.0, 7.0]]))
        >>> with_tail(top, first).rows.tolist(), with_tail(top, first).scores.tolist()
        ([[2, 1, 3]], [[0.5, -0.5, -1.5]])
    """
    n, k = first.rows.shape
    rows = np.full((n, k), -1, dtype=np.int64)
    scores = np.full((n, k), -np.inf, dtype=np.float32)
    for q in range(n):
        head = reranked.hits(q)
        seen = {row for row, _ in head}
        floor = min((s for _, s in head), default=0.0)
        tail = [row for row, _ in first.hits(q) if row not in seen]
        merged = head + [(row, floor - (j + 1)) for j, row in enumerate(tail)]
        for j, (row, score) in enumerate(merged[:k]):
            rows[q, j], scores[q, j] = row, score
    return Results(rows, scores)
