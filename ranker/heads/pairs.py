"""Text-pair regression: [CLS] text a [SEP] text b [SEP] → one similarity score.

The seed's text-pair case with one output and mean-squared-error loss
(``AutoModelForSequenceClassification`` with ``num_labels=1``: transformers
takes a single float label as regression). The reranker is the same head
trained to rank; here it is trained to predict human similarity judgements
(the Lee news corpus, or any STS-B style file).

With so few judged pairs, evaluation is k-fold cross-validation split by
*document* (:func:`document_folds`): a test pair's documents never appear in
that fold's training pairs, so the score measures documents the model has
not read.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from ranker.data.labelled import ScoredPair
from ranker.heads.base import ExampleTask, new_head, sequence_logits


@dataclass(frozen=True)
class PairsConfig:
    """The backbone, the input length, whether the score is symmetric, and the label scale.

    ``symmetric``: train on both orders of every pair and predict the mean of
    both orders (for similarity, where sim(a, b) = sim(b, a)).

    ``standardize``: the head learns ``(score - label_mean) / label_scale``,
    with the mean and standard deviation of the training scores (filled in by
    :func:`train_pair_regressor` and saved with the model), and predictions are
    mapped back to the users' scale. Why: similarity judgements such as Lee's
    sit in a narrow band (mean 0.33, sd 0.14 on a 0–1 scale), so the raw
    squared error and its gradients are tiny and a fresh head settles on the
    mean score; on unit-variance targets it learns to spread.

    Example:
        >>> PairsConfig(max_length=256).symmetric
        False
    """

    model: str = "all-MiniLM-L6-v2"
    max_length: int = 256
    symmetric: bool = False
    standardize: bool = True
    label_mean: float = 0.0
    label_scale: float = 1.0

    def __post_init__(self) -> None:
        if self.max_length < 16:
            raise ValueError(f"max_length must be >= 16, not {self.max_length}")
        if not self.label_scale > 0:
            raise ValueError(f"label_scale must be > 0, not {self.label_scale}")

    def fitted_to(self, scores: list[float]) -> "PairsConfig":
        """This config with the label mean and scale of ``scores`` (unchanged without ``standardize``).

        Example:
            >>> PairsConfig().fitted_to([0.2, 0.4]).label_mean
            0.3
        """
        if not self.standardize:
            return self
        spread = float(np.std(scores))
        return replace(self, label_mean=round(float(np.mean(scores)), 6), label_scale=spread if spread > 0 else 1.0)


def correlations(gold: list[float] | np.ndarray, predicted: list[float] | np.ndarray) -> dict[str, float]:
    """Pearson and Spearman correlation (scipy's).

    Example:
        >>> correlations([0.1, 0.5, 0.9], [0.2, 0.4, 1.0])["Spearman"]
        1.0
    """
    from scipy.stats import pearsonr, spearmanr

    if len(gold) < 2:
        return {"Pearson": float("nan"), "Spearman": float("nan"), "n": len(gold)}
    return {"Pearson": float(pearsonr(gold, predicted)[0]), "Spearman": float(spearmanr(gold, predicted)[0]),
            "n": len(gold)}


def document_folds(pairs: list[ScoredPair], k: int, seed: int = 13) -> list[tuple[list[int], list[int]]]:
    """``k`` (train, test) index lists in which no document is on both sides.

    The documents are shuffled into ``k`` groups; fold ``i`` tests on the pairs
    whose two documents are both in group ``i`` and trains on the pairs with
    neither document in it. Pairs that cross the line are in neither side of
    that fold — the price of a test set of unseen documents.

    Example:
        >>> pairs = [ScoredPair("", "", 0.5, str(a), str(b)) for a in range(4) for b in range(a + 1, 4)]
        >>> [(len(tr), len(te)) for tr, te in document_folds(pairs, 2, seed=0)]
        [(1, 1), (1, 1)]
    """
    documents = sorted({d for p in pairs for d in (p.a_id, p.b_id)})
    if "" in documents:
        raise ValueError("every pair needs a_id and b_id to be split by document")
    if not 2 <= k <= len(documents):
        raise ValueError(f"k must be between 2 and the number of documents ({len(documents)}), not {k}")
    shuffled = [documents[i] for i in np.random.default_rng(seed).permutation(len(documents))]
    group = {doc: i % k for i, doc in enumerate(shuffled)}
    folds = []
    for fold in range(k):
        inside = [(group[p.a_id] == fold) + (group[p.b_id] == fold) for p in pairs]
        folds.append(([i for i, n in enumerate(inside) if n == 0], [i for i, n in enumerate(inside) if n == 2]))
    return folds


def score_text_pairs(net, tokenizer, pairs: list[tuple[str, str]], config: PairsConfig, batch_size: int = 32,
                     show_progress: bool = False) -> np.ndarray:
    """The regression head's score for each (a, b) on the training labels' scale;
    with ``config.symmetric`` the mean over both orders.

    Example:
        >>> net, tok = new_head(tiny_bert, "sequence", seed=13, num_labels=1)  # untrained here
        >>> config = PairsConfig(model=tiny_bert, symmetric=True, label_mean=0.33, label_scale=0.14)
        >>> pairs = [("oil prices rose", "crude climbed"), ("a dam broke", "oil")]
        >>> forward = score_text_pairs(net, tok, pairs, config)
        >>> backward = score_text_pairs(net, tok, [(b, a) for a, b in pairs], config)
        >>> forward.shape, bool(np.allclose(forward, backward))  # symmetric: either order scores the same
        ((2,), True)
    """
    a, b = [p[0] for p in pairs], [p[1] for p in pairs]
    size = config.max_length
    scores = sequence_logits(net, tokenizer, a, b, size, batch_size, show_progress, desc="score")[:, 0]
    if config.symmetric:
        reverse = sequence_logits(net, tokenizer, b, a, size, batch_size, show_progress, desc="score")[:, 0]
        scores = (scores + reverse) / 2
    return scores * config.label_scale + config.label_mean


class PairsTask(ExampleTask):
    """Text-pair regression as a :class:`ranker.train.loop.Task` (primary: dev Pearson)."""

    primary = "Pearson"

    def __init__(self, examples: list[ScoredPair], net, tokenizer, config: PairsConfig, batch_size: int,
                 dev: list[ScoredPair] | None = None) -> None:
        if config.symmetric:
            examples = examples + [ScoredPair(p.text_b, p.text_a, p.score, p.b_id, p.a_id) for p in examples]
        super().__init__(examples, net, tokenizer, batch_size,
                         length=lambda p: min(len(p.text_a) + len(p.text_b), 8 * config.max_length))
        self.config = config
        self.dev = dev

    def features(self, examples: list[ScoredPair]) -> dict:
        import torch

        inputs = self.tokenizer([p.text_a for p in examples], [p.text_b for p in examples], truncation="longest_first",
                                max_length=self.config.max_length, padding=True, return_tensors="pt")
        scale, mean = self.config.label_scale, self.config.label_mean
        inputs["labels"] = torch.tensor([(p.score - mean) / scale for p in examples], dtype=torch.float32)
        return dict(inputs)

    def evaluate(self) -> dict[str, float]:
        if not self.dev:
            return {}
        predicted = score_text_pairs(self.net, self.tokenizer, [(p.text_a, p.text_b) for p in self.dev], self.config)
        found = correlations([p.score for p in self.dev], predicted)
        return {"Pearson": found["Pearson"], "Spearman": found["Spearman"]}

    def about(self) -> dict[str, Any]:
        return {"task": "pairs", **{k: v for k, v in asdict(self.config).items() if k != "model"},
                "base_model": self.config.model}


def train_pair_regressor(train: list[ScoredPair], out: str | Path, config: PairsConfig, train_config,
                         dev: list[ScoredPair] | None = None, resume: bool = False, stop_after: int | None = None,
                         show_progress: bool = True) -> dict[str, Any]:
    """Fine-tune a pair regressor; the model goes to ``out/model``, the evaluations to ``out/metrics.json``.

    Example:
        >>> from ranker.heads import TASKS
        >>> from ranker.train.loop import TrainConfig
        >>> pairs = [ScoredPair("oil prices rose", "crude climbed", 0.8),
        ...          ScoredPair("oil prices rose", "a dam broke", 0.1)]
        >>> config = PairsConfig(model=tiny_bert, max_length=32)  # all-MiniLM-L6-v2 by default
        >>> metrics = train_pair_regressor(pairs, "runs/lee", config, TrainConfig(epochs=3), show_progress=False)
        >>> net, tok, fitted = TASKS["pairs"].load("runs/lee/model")
        >>> metrics["train"]["steps"], fitted.label_mean, round(fitted.label_scale, 2)  # the scale saved with the model
        (3, 0.45, 0.35)
    """
    from ranker.train.loop import fit

    net, tokenizer = new_head(config.model, "sequence", train_config.seed, train_config.device, num_labels=1)
    task = PairsTask(train, net, tokenizer, config.fitted_to([p.score for p in train]), train_config.batch_size, dev)
    return fit(task, train_config, out, resume=resume, stop_after=stop_after, show_progress=show_progress)


def cross_validate(pairs: list[ScoredPair], out: str | Path, config: PairsConfig, train_config, k: int = 5,
                   show_progress: bool = True) -> dict[str, Any]:
    """Train and test one regressor per document fold; correlations pooled over all folds' test pairs.

    Each fold's model and metrics go to ``out/fold-<i>``; a fold already
    finished (its ``test.json`` written) is not trained again, so an interrupted
    run continues where it stopped.

    Example:
        >>> from ranker.train.loop import TrainConfig
        >>> texts = {"1": "Oil prices fell.", "2": "OPEC cut output.", "3": "Crude climbed.",  # oil
        ...          "4": "A dam broke.", "5": "The spillway failed.", "6": "Engineers inspected the dam."}  # a dam
        >>> def similarity(a, b): return 0.9 if (a <= "3") == (b <= "3") else 0.1  # the same story or not
        >>> pairs = [ScoredPair(texts[a], texts[b], similarity(a, b), a, b) for a in texts for b in texts if a < b]
        >>> config, train = PairsConfig(model=tiny_bert, max_length=32), TrainConfig(epochs=1)
        >>> found = cross_validate(pairs, "runs/heads/pairs", config, train, k=2, show_progress=False)
        >>> # of 15 pairs, each fold trains on 3 and tests on 3: the 9 that cross its line are in neither
        >>> [(f["train_pairs"], f["n"]) for f in found["folds"]], found["pooled"]["n"]
        ([(3, 3), (3, 3)], 6)
        >>> again = cross_validate(pairs, "runs/heads/pairs", config, train, k=2, show_progress=False)
        >>> again == found  # both folds were done: read back, nothing trained
        True
    """
    from ranker.core.files import atomic_write_text
    from ranker.heads import TASKS

    out = Path(out)
    folds = document_folds(pairs, k, train_config.seed)
    gold, predicted, per_fold = [], [], []
    for i, (train_rows, test_rows) in enumerate(folds):
        folder = out / f"fold-{i}"
        done = folder / "test.json"
        if not done.is_file():
            if show_progress:
                print(f"fold {i + 1}/{k}: training on {len(train_rows)} pairs, testing on {len(test_rows)}")
            train_pair_regressor([pairs[r] for r in train_rows], folder, config, train_config,
                                 show_progress=show_progress)
            net, tokenizer, fitted = TASKS["pairs"].load(folder / "model")
            scores = score_text_pairs(net, tokenizer, [(pairs[r].text_a, pairs[r].text_b) for r in test_rows], fitted)
            record = {"rows": test_rows, "predicted": [float(s) for s in scores],
                      **correlations([pairs[r].score for r in test_rows], scores)}
            atomic_write_text(done, json.dumps(record) + "\n")
        record = json.loads(done.read_text())
        gold += [pairs[r].score for r in record["rows"]]
        predicted += record["predicted"]
        per_fold.append({"fold": i, "Pearson": record["Pearson"], "Spearman": record["Spearman"], "n": record["n"],
                         "train_pairs": len(train_rows)})
    return {
        "pooled": correlations(gold, predicted),
        "mean_fold_Pearson": float(np.mean([f["Pearson"] for f in per_fold])),
        "folds": per_fold,
        "config": asdict(config),
    }


def predict_rows(net, tokenizer, config: PairsConfig, pairs: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """``ranker predict pairs``: each pair's score."""
    scores = score_text_pairs(net, tokenizer, pairs, config)
    return [{"text_a": a, "text_b": b, "score": round(float(s), 4)} for (a, b), s in zip(pairs, scores, strict=True)]


def evaluate_examples(net, tokenizer, config: PairsConfig, examples: list[ScoredPair],
                      show_progress: bool = False) -> dict[str, Any]:
    """``ranker eval pairs``: Pearson and Spearman against the gold scores."""
    scores = score_text_pairs(net, tokenizer, [(p.text_a, p.text_b) for p in examples], config,
                              show_progress=show_progress)
    return correlations([p.score for p in examples], scores)


def show_row(row: dict[str, Any]) -> str:
    return f"{row['score']:.4f}"


def summary(metrics: dict[str, Any]) -> str:
    return f"Pearson {metrics['Pearson']:.4f}, Spearman {metrics['Spearman']:.4f} on {metrics['n']} pairs"


def embedding_cosines(pairs: list[tuple[str, str]], config=None) -> np.ndarray:
    """The zero-shot baseline: the cosine of the sentence embedder's vectors of a and b
    (each text embedded once).

    Example:
        >>> from ranker.retrieve.embed import EmbedderConfig
        >>> pairs = [("oil prices rose", "crude climbed"), ("oil prices rose", "oil prices rose")]
        >>> cosines = embedding_cosines(pairs, EmbedderConfig(model=tiny_embedder))  # all-MiniLM-L6-v2 by default
        >>> cosines.shape, round(float(cosines[1]), 4)  # a text is its own nearest
        ((2,), 1.0)
    """
    from ranker.retrieve.embed import Embedder, EmbedderConfig

    texts = sorted({t for pair in pairs for t in pair})
    vectors = Embedder(config or EmbedderConfig()).encode(texts)
    row = {t: i for i, t in enumerate(texts)}
    return np.array([float(vectors[row[a]] @ vectors[row[b]]) for a, b in pairs], dtype=np.float32)


def silver_pairs(texts: list[str], neighbours: int = 5, random_pairs: int = 5, seed: int = 13,
                 config=None) -> list[ScoredPair]:
    """Pairs of unrated texts scored by the sentence embedder's cosine (silver labels).

    Each text is paired with its ``neighbours`` nearest other texts and with
    ``random_pairs`` random ones, so the set spans similar and unrelated pairs
    (random pairs alone would almost all be unrelated). Training on them first
    teaches the cross-encoder what the embedder knows about similarity, on
    documents it is then never tested on; the gold pairs refine it. This is
    Augmented SBERT's idea (Thakur et al., NAACL 2021) turned round: there a
    cross-encoder labels pairs for a bi-encoder.

    Example:
        >>> from ranker.retrieve.embed import EmbedderConfig
        >>> texts = ["oil prices rose", "crude climbed", "a dam broke"]
        >>> pairs = silver_pairs(texts, 1, 1, config=EmbedderConfig(model=tiny_embedder))  # all-MiniLM-L6-v2 by default
        >>> pairs[0].a_id, pairs[0].text_a, all(-1 <= p.score <= 1 for p in pairs)  # scores are cosines
        ('s0', 'oil prices rose', True)
    """
    from ranker.retrieve.embed import Embedder, EmbedderConfig

    vectors = Embedder(config or EmbedderConfig()).encode(texts)
    similarity = vectors @ vectors.T
    np.fill_diagonal(similarity, -np.inf)
    rng = np.random.default_rng(seed)
    chosen: set[tuple[int, int]] = set()
    for i in range(len(texts)):
        near = np.argsort(-similarity[i])[:neighbours].tolist()
        others = [j for j in range(len(texts)) if j != i]
        far = rng.choice(others, size=min(random_pairs, len(others)), replace=False).tolist()
        chosen.update((min(i, j), max(i, j)) for j in near + far)
    return [ScoredPair(texts[i], texts[j], float(similarity[i, j]), f"s{i}", f"s{j}") for i, j in sorted(chosen)]
