"""Fine-tuning the cross-encoder on mined (query, positive, negatives) groups.

Two losses (sentence-transformers calls them ``BinaryCrossEntropyLoss`` and, for
cross-encoders over groups, ``ListNetLoss``/``MultipleNegativesRankingLoss``):

* ``listwise``: softmax cross-entropy over each group's scores with the
  positive as the target (localized contrastive estimation, Gao et al. 2021);
* ``pointwise``: binary cross-entropy per pair, the positives weighted by
  ``pos_weight`` (default: the number of negatives per positive, so both
  classes weigh the same).

Batches hold ``batch_size`` groups of similar length (shuffled, cut into
mega-batches of 50 batches, each sorted by length, as transformers'
``group_by_length`` does), padded only to their own longest pair. The dev
evaluation reranks the first stage's top ``dev_depth`` for a fixed sample of dev
queries — positives are not forced in, as a user would meet it — and reports the
cross-encoder alone and mixed with the first stage at the dev-tuned weight.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ranker.core.files import atomic_write_text
from ranker.core.integrity import write_listed
from ranker.data.records import Qrels
from ranker.heads.base import length_grouped_batches
from ranker.rerank import DEFAULT_DEPTH
from ranker.retrieve.base import Results
from ranker.train.groups import TextGroup, dev_sample, text_groups, train_on_groups

LOSSES = ("listwise", "pointwise")


@dataclass(frozen=True)
class RerankerTrainConfig:
    """The model, its input length and loss, and the dev evaluation.

    Example:
        >>> RerankerTrainConfig(loss="pointwise").max_length
        128
    """

    model: str = "all-MiniLM-L6-v2"
    loss: str = "listwise"
    max_length: int = 128
    pos_weight: float | None = None
    max_negatives: int | None = None
    dev_queries: int = 200
    #: the first stage's results reranked on dev: the depth served by default, so the
    #: mixing weight is tuned where it is used
    dev_depth: int = DEFAULT_DEPTH
    #: Dev queries the final mixing weight is tuned on, once training is over
    #: (None: the evaluation sample's weight stands). The periodic evaluations use
    #: ``dev_queries`` for speed, but a weight chosen on a sample is noisy
    #: (docs/reranker.md measures how much).
    weight_queries: int | None = None
    #: Read the best-matching window of this many words instead of the article's
    #: head (see ranker.retrieve.passages); None reads from the start.
    passage_words: int | None = None

    def __post_init__(self) -> None:
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {', '.join(LOSSES)}, not '{self.loss}'")
        if self.max_length < 16:
            raise ValueError(f"max_length must be >= 16, not {self.max_length}")


@dataclass
class DevSet:
    """A fixed sample of dev queries with the first stage's candidates."""

    qids: list[str]
    queries: list[str]
    first: Results
    doc_ids: list[str]
    qrels: Qrels
    pair_queries: list[str]
    pair_texts: list[str]


def make_dev_set(
    qids: list[str], queries: list[str], first: Results, qrels: Qrels, docs, passage_words: int | None = None
) -> DevSet:
    """Collect the candidate pairs of the dev queries (``first`` already cut to depth)."""
    from ranker.rerank.reranker import candidate_pairs
    from ranker.retrieve.passages import passages_for

    doc_ids = docs.doc_ids()
    pair_queries, pair_texts = candidate_pairs(first, queries, docs.texts)
    pair_texts = passages_for(pair_queries, pair_texts, passage_words)
    return DevSet(qids, queries, first, doc_ids, {q: qrels[q] for q in qids}, pair_queries, pair_texts)


class RerankerTask:
    """The cross-encoder as a :class:`ranker.train.loop.Task`.

    Example:
        >>> from ranker.models.checkpoints import load_pair_scorer, load_tokenizer
        >>> from ranker.train.loop import TrainConfig, fit
        >>> groups = [TextGroup("oil prices", "Oil prices fell after OPEC met.", ("The dam spillway broke.",))]
        >>> net, tokenizer = load_pair_scorer(tiny_bert), load_tokenizer(tiny_bert)  # or "all-MiniLM-L6-v2"
        >>> task = RerankerTask(groups, net, tokenizer, RerankerTrainConfig(model=tiny_bert), 8, dev=None)
        >>> loss, pairs = task.loss([0])  # softmax cross-entropy over the group, the positive the target
        >>> pairs, loss.item() > 0
        (2, True)
        >>> fit(task, TrainConfig(), "models/reranker", show_progress=False)["train"]["steps"]
        1
    """

    primary = "MRR@10"

    def __init__(self, groups: list[TextGroup], net, tokenizer, config: RerankerTrainConfig, batch_size: int,
                 dev: DevSet | None) -> None:
        if not groups:
            raise ValueError("no training groups")
        self.groups = groups
        self.net = net
        self.tokenizer = tokenizer
        self.config = config
        self.batch_size = batch_size
        self.dev = dev
        self.interpolation: dict[str, Any] = {}
        # Characters stand in for tokens when grouping by length: close enough to
        # sort by, and it costs no tokenisation.
        self.lengths = [min(len(g.query) + max(len(t) for t in (g.positive, *g.negatives)), 8 * config.max_length)
                        for g in groups]

    def batches(self, epoch: int, rng: np.random.Generator) -> list[list[int]]:
        return length_grouped_batches(self.lengths, self.batch_size, rng)

    def loss(self, batch: list[int]):
        import torch
        import torch.nn.functional as F

        groups = [self.groups[i] for i in batch]
        pairs = [p for g in groups for p in g.pairs()]
        encoded = self.tokenizer(
            [q for q, _ in pairs], [t for _, t in pairs],
            truncation="longest_first", max_length=self.config.max_length, padding=True, return_tensors="pt",
        ).to(next(self.net.parameters()).device)
        logits = self.net(**encoded).logits[:, 0]
        sizes = [1 + len(g.negatives) for g in groups]
        if self.config.loss == "pointwise":
            labels = torch.cat([torch.tensor([1.0] + [0.0] * (n - 1)) for n in sizes]).to(logits.device)
            negatives = sum(sizes) - len(sizes)
            weight = self.config.pos_weight or max(1.0, negatives / len(sizes))
            return F.binary_cross_entropy_with_logits(logits, labels, pos_weight=torch.tensor(weight)), len(pairs)
        # Groups may be short of negatives (the miner says how many): pad with -inf
        # so a missing negative takes no probability mass.
        width = max(sizes)
        padded = torch.full((len(groups), width), float("-inf"), device=logits.device)
        at = 0
        for i, n in enumerate(sizes):
            padded[i, :n] = logits[at : at + n]
            at += n
        target = torch.zeros(len(groups), dtype=torch.long, device=logits.device)
        return F.cross_entropy(padded, target), len(pairs)

    def evaluate(self) -> dict[str, float]:
        """Rerank the dev sample: MRR@10 and nDCG@10 of the cross-encoder alone, of the
        first stage, and of the mix at the weight that is best on this dev sample."""
        if self.dev is None:
            return {}
        from ranker.rerank.reranker import score_pairs

        cross = score_pairs(self.net, self.tokenizer, self.dev.pair_queries, self.dev.pair_texts,
                            self.config.max_length)
        metrics, self.interpolation = dev_metrics(self.dev, cross)
        return metrics

    def about(self) -> dict[str, Any]:
        return {
            "task": "reranker",
            "loss": self.config.loss,
            "max_length": self.config.max_length,
            "passage_words": self.config.passage_words,
            "base_model": self.config.model,
            "interpolation": self.interpolation,
        }


def dev_metrics(dev: DevSet, cross: np.ndarray) -> tuple[dict[str, float], dict[str, Any]]:
    """What the cross-encoder's scores of the dev pairs achieve: MRR@10 and nDCG@10
    alone, the first stage's MRR@10, and the mix at its best weight; with the
    interpolation record ``ranker.json`` keeps.

    Example:
        >>> from ranker.index.folder import Index
        >>> index = Index.open("indexes/news")
        >>> qids, queries, qrels = dev_sample(Path("data/news"), Path("data/news/qrels/dev.tsv"), 200, 13)
        >>> dev = make_dev_set(qids, queries, index.retriever("bm25").search(queries, 5), qrels, index.docs)
        >>> # an oracle's scores: 1 for the article whose title the query is, 0 for the others
        >>> scores = np.array([float(t.startswith(q)) for q, t in zip(dev.pair_queries, dev.pair_texts, strict=True)])
        >>> metrics, interpolation = dev_metrics(dev, scores)
        >>> metrics["MRR@10"], metrics["mixed_weight"] == interpolation["weight"], interpolation["dev_queries"]
        (1.0, True, 6)
    """
    from ranker.eval.metrics import evaluate
    from ranker.rerank.reranker import rerank_scores, tune_weight
    from ranker.search.searcher import to_run

    def run_of(results):
        return to_run(results, dev.qids, dev.doc_ids)

    def mrr(run):
        return evaluate(run, dev.qrels, ["MRR@10"])["MRR@10"]

    alone = evaluate(run_of(rerank_scores(dev.first, cross, 1.0).results), dev.qrels, ["MRR@10", "nDCG@10"])
    first = evaluate(run_of(dev.first), dev.qrels, ["MRR@10", "nDCG@10"])
    weight, tried = tune_weight(dev.first, cross, run_of, mrr)
    interpolation = {"weight": float(weight), "dev_mrr@10": tried[weight], "dev_queries": len(dev.qids)}
    return {
        "MRR@10": alone["MRR@10"],
        "nDCG@10": alone["nDCG@10"],
        "first_stage_MRR@10": first["MRR@10"],
        "mixed_MRR@10": tried[weight],
        "mixed_weight": float(weight),
    }, interpolation


def fit_reranker(
    groups: list[TextGroup] | list[tuple[str, str, list[str]]],
    out: str | Path,
    config: RerankerTrainConfig = RerankerTrainConfig(),
    train_config=None,
    dev: DevSet | None = None,
    resume: bool = False,
    stop_after: int | None = None,
    show_progress: bool = True,
) -> dict[str, Any]:
    """Fine-tune a cross-encoder on (query, positive text, negative texts) groups held
    in Python; the best model (the last, without ``dev``) goes to ``out/model``, a
    folder ``sentence_transformers.CrossEncoder`` and :class:`ranker.rerank.reranker.Reranker` load.

    Args:
        groups: :class:`~ranker.train.groups.TextGroup` objects or plain
            ``(query, positive, [negatives...])`` tuples.
        out: the output folder (``model/``, ``checkpoint/``, ``metrics.json``).
        config: model, loss and length.
        train_config: a :class:`ranker.train.loop.TrainConfig` (default: its defaults).
        dev: a :class:`DevSet` to keep the best model by, or None.

    Example:
        >>> from ranker.rerank.reranker import Reranker
        >>> from ranker.train.loop import TrainConfig
        >>> groups = [("oil prices", "Oil prices fell after OPEC met.", ["The dam spillway broke."])]
        >>> config = RerankerTrainConfig(model=tiny_bert, max_length=32)  # all-MiniLM-L6-v2 by default
        >>> metrics = fit_reranker(groups, "models/mine", config, TrainConfig(epochs=3), show_progress=False)
        >>> metrics["train"]["steps"], len(Reranker("models/mine/model").rank("oil", ["Oil fell.", "A dam."], top_k=1))
        (3, 1)
    """
    from ranker.train.loop import TrainConfig, fit

    train_config = train_config or TrainConfig()
    groups = [g if isinstance(g, TextGroup) else TextGroup(g[0], g[1], tuple(g[2])) for g in groups]
    task = reranker_task(groups, config, train_config, dev)
    return fit(task, train_config, out, resume=resume, stop_after=stop_after, show_progress=show_progress)


def reranker_task(groups: list[TextGroup], config: RerankerTrainConfig, train_config, dev: DevSet | None):
    """The cross-encoder's :class:`RerankerTask`: the backbone with a fresh one-score head.

    The new head's initial weights come from torch's global generator, seeded first
    with ``train_config.seed`` so that the same settings train the same model.
    """
    import torch

    from ranker.models.checkpoints import load_pair_scorer, load_tokenizer
    from ranker.models.loading import pick_device

    torch.manual_seed(train_config.seed)
    net = load_pair_scorer(config.model).to(pick_device(train_config.device))
    return RerankerTask(groups, net, load_tokenizer(config.model), config, train_config.batch_size, dev)


@dataclass(frozen=True)
class RerankerRecipe:
    """The cross-encoder as a :class:`ranker.train.groups.GroupRecipe`: its dev set
    reranks ``dev_retriever``'s top ``config.dev_depth`` for a fixed sample of dev queries.

    Example:
        >>> RerankerRecipe(RerankerTrainConfig()).dev_retriever
        'hybrid'
    """

    config: RerankerTrainConfig
    dev_retriever: str = "hybrid"

    def dev_set(self, index, dev: tuple[Path, Path], seed: int) -> DevSet:
        qids, texts, qrels = dev_sample(dev[0], dev[1], self.config.dev_queries, seed)
        first = index.retriever(self.dev_retriever).search(texts, self.config.dev_depth)
        return make_dev_set(qids, texts, first, qrels, index.docs, self.config.passage_words)

    def task(self, rows, index, dev_set: DevSet | None, train_config) -> RerankerTask:
        groups = text_groups(rows, index.docs, self.config.max_negatives, self.config.passage_words)
        return reranker_task(groups, self.config, train_config, dev_set)


def train_reranker(
    groups_path: str | Path | list[str | Path],
    index_path: str | Path,
    out: str | Path,
    config: RerankerTrainConfig,
    train_config,
    dev: tuple[Path, Path] | None = None,
    dev_retriever: str = "hybrid",
    resume: bool = False,
    stop_after: int | None = None,
    show_progress: bool = True,
) -> dict[str, Any]:
    """Fine-tune a cross-encoder on mined groups; the best model goes to ``out/model``.

    Args:
        groups_path: ``groups.parquet`` written by ``ranker mine`` (or its folder), or
            several, trained on as one shuffled table.
        index_path: the index the groups were mined from (it holds the texts).
        out: the output folder (``model/``, ``checkpoint/``, ``metrics.json``).
        config: model, loss, length and dev sample.
        train_config: a :class:`ranker.train.loop.TrainConfig`.
        dev: (queries file or BEIR folder, dev qrels file), or ``None`` for no
            evaluation (the last model is kept).
        dev_retriever: the first stage the dev queries are reranked from.

    Example:
        >>> from ranker.train.loop import TrainConfig
        >>> config = RerankerTrainConfig(model=tiny_bert, max_length=32, weight_queries=6)  # or all-MiniLM-L6-v2
        >>> metrics = train_reranker("models/demo/mined", "indexes/news", "models/reranker", config,
        ...                          TrainConfig(max_steps=2, batch_size=2),
        ...                          dev=(Path("data/news"), Path("data/news/qrels/dev.tsv")), show_progress=False)
        >>> metrics["train"]["steps"], sorted(metrics["best"])
        (2, ['MRR@10', 'eval_seconds', 'first_stage_MRR@10', 'mixed_MRR@10', 'mixed_weight', 'nDCG@10', 'step'])
        >>> metrics["weight"]["queries"]  # the final weight, tuned on weight_queries dev queries
        6
    """
    metrics, index = train_on_groups(RerankerRecipe(config, dev_retriever), groups_path, index_path, out, train_config,
                                     dev, resume, stop_after, show_progress)
    if dev is not None and config.weight_queries is not None and "stopped_at" not in metrics:
        metrics["weight"] = tune_final_weight(Path(out) / "model", index, dev, config.weight_queries, train_config.seed,
                                              dev_retriever, config.dev_depth, show_progress)
        atomic_write_text(Path(out) / "metrics.json", json.dumps(metrics, indent=2) + "\n")
    return metrics


def tune_final_weight(model: Path, index, dev: tuple[Path, Path], n: int, seed: int, retriever: str = "hybrid",
                      depth: int = DEFAULT_DEPTH, show_progress: bool = True) -> dict[str, Any]:
    """Tune the trained model's mixing weight on ``n`` dev queries and record it in its ``ranker.json``.

    Returns:
        The weight, the number of queries, and dev MRR@10 of the first stage, the
        cross-encoder alone and the mix.

    Example:
        >>> from ranker.index.folder import Index
        >>> from ranker.models.checkpoints import read_about
        >>> model, dev = Path("models/demo/model/model"), (Path("data/news"), Path("data/news/qrels/dev.tsv"))
        >>> read_about(model)["interpolation"]  # trained without a dev set: no weight yet
        {}
        >>> found = tune_final_weight(model, Index.open("indexes/news"), dev, 595, 13, show_progress=False)
        >>> found["queries"], read_about(model)["interpolation"]["weight"] == found["weight"]  # all six; recorded
        (6, True)
    """
    from ranker.models.checkpoints import read_about
    from ranker.rerank.reranker import RerankConfig, Reranker

    qids, texts, qrels = dev_sample(dev[0], dev[1], n, seed)
    first = index.retriever(retriever).search(texts, depth)
    reranker = Reranker(RerankConfig(model=str(model), depth=depth))
    dev_set = make_dev_set(qids, texts, first, qrels, index.docs, reranker.passage_words)
    cross = reranker.score_read(dev_set.pair_queries, dev_set.pair_texts, show_progress=show_progress)
    metrics, interpolation = dev_metrics(dev_set, cross)
    about = read_about(model)
    about["interpolation"] = interpolation
    write_listed(model, "ranker.json", about)
    found = {"weight": metrics["mixed_weight"], "queries": len(qids),
             "first_stage_MRR@10": metrics["first_stage_MRR@10"], "alone_MRR@10": metrics["MRR@10"],
             "mixed_MRR@10": metrics["mixed_MRR@10"]}
    if show_progress:
        print(f"mixing weight tuned on {len(qids)} dev queries: {found['weight']:g} "
              f"(MRR@10 {found['mixed_MRR@10']:.4f}; first stage {found['first_stage_MRR@10']:.4f}, "
              f"cross-encoder alone {found['alone_MRR@10']:.4f})")
    return found
