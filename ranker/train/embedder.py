"""Fine-tuning the dense retriever's bi-encoder on mined (query, positive, negatives) groups.

all-MiniLM-L6-v2 was trained to embed web text in general; a few hundred steps
on our own training queries teach it what a news title asks for, which lifts
dense retrieval and with it the hybrid first stage the cross-encoder reranks.

The loss is sentence-transformers' ``MultipleNegativesRankingLoss`` written over
our loop (:func:`ranker.train.loop.fit`, for its pickle-free checkpoints and exact
resumption): each query's positive against every other article in the batch
(the other queries' positives and every query's mined hard negatives), softmax
cross-entropy over cosine similarities times ``scale``. Batches are packed so
that no query meets its own article as a negative (the benchmark has a title
and a subtitle query per article, and one query's hard negative may be
another's positive); sentence-transformers' ``NoDuplicatesBatchSampler`` guards
the same way.

The model is a transformers ``AutoModel`` with mean pooling and L2
normalisation, the base's own pooling; the saved folder carries the base's
sentence-transformers module files, so ``SentenceTransformer(folder)`` and
``ranker index --model folder`` load it and give our vectors.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ranker.core.errors import InputError
from ranker.core.files import read_json
from ranker.train.groups import TextGroup, dev_sample, text_groups, train_on_groups

#: The sentence-transformers files that make a transformers folder a SentenceTransformer.
ST_FILES = ("modules.json", "sentence_bert_config.json", "config_sentence_transformers.json")
ST_FOLDERS = ("1_Pooling", "2_Normalize")


@dataclass(frozen=True)
class EmbedderTrainConfig:
    """The base model, the length articles are read at, the negatives, and the dev evaluation.

    Example:
        >>> EmbedderTrainConfig(hard_negatives=0).scale
        20.0
    """

    model: str = "all-MiniLM-L6-v2"
    #: Tokens of each article while training: 128 costs half of 256 per step and
    #: the model still encodes 256-token articles well at index time.
    max_length: int = 128
    #: Mined negatives per query added to the batch's articles (0: in-batch only).
    hard_negatives: int = 1
    #: Cosine similarities are multiplied by this before the softmax
    #: (sentence-transformers' default for MultipleNegativesRankingLoss).
    scale: float = 20.0
    dev_queries: int = 200
    #: Tokens of each article when the dev evaluation encodes the corpus: the
    #: index's default, so dev measures what a search would get.
    dev_doc_length: int = 256

    def __post_init__(self) -> None:
        if self.max_length < 8 or self.dev_doc_length < 8:
            raise ValueError(f"max_length and dev_doc_length must be >= 8 (got {self.max_length}, "
                             f"{self.dev_doc_length})")
        if self.hard_negatives < 0:
            raise ValueError(f"hard_negatives must be >= 0, not {self.hard_negatives}")


def distinct_batches(keys: list[tuple[str, str, tuple[str, ...]]], batch_size: int,
                     rng: np.random.Generator) -> list[list[int]]:
    """Indices shuffled and cut into batches without false in-batch negatives.

    ``keys[i]`` is group i's (query text, positive id, negative ids). A group
    joins a batch only if its query is not already there, its positive is not
    among the batch's articles, and none of its articles is a positive there:
    so no query meets its own article as a negative. Groups that do not fit
    wait for the next pass; every index is used exactly once.

    Example:
        >>> keys = [("q1", "a", ()), ("q2", "a", ()), ("q3", "b", ("a",)), ("q4", "c", ())]
        >>> b = distinct_batches(keys, 2, np.random.default_rng(0))
        >>> sorted(i for x in b for i in x), any({0, 1} <= set(x) or {0, 2} <= set(x) for x in b)
        ([0, 1, 2, 3], False)
    """
    pending = rng.permutation(len(keys)).tolist()
    batches: list[list[int]] = []
    while pending:
        later: list[int] = []
        batch: list[int] = []
        queries: set[str] = set()
        positives: set[str] = set()
        articles: set[str] = set()
        for i in pending:
            query, positive, negatives = keys[i]
            docs = {positive, *negatives}
            if query in queries or positive in articles or docs & positives:
                later.append(i)
                continue
            batch.append(i)
            queries.add(query)
            positives.add(positive)
            articles |= docs
            if len(batch) == batch_size:
                batches.append(batch)
                batch, queries, positives, articles = [], set(), set(), set()
        if batch:
            batches.append(batch)
        pending = later
    return batches


def mean_pooled(net, tokenizer, texts: list[str], max_length: int):
    """L2-normalised mean of the last hidden states over each text's tokens (a torch tensor).

    Example:
        >>> from transformers import AutoModel
        >>> from ranker.models.checkpoints import load_tokenizer
        >>> net, tok = AutoModel.from_pretrained(tiny_bert), load_tokenizer(tiny_bert)  # or all-MiniLM-L6-v2
        >>> vectors = mean_pooled(net, tok, ["oil prices fell", "the dam broke"], 128)
        >>> vectors.shape, vectors.norm(dim=-1).tolist()  # all-MiniLM-L6-v2's are 384 wide; each of length 1
        (torch.Size([2, 32]), [1.0, 1.0])
    """
    import torch.nn.functional as F

    from ranker.models.loading import device_of

    encoded = tokenizer(texts, truncation=True, max_length=max_length, padding=True, return_tensors="pt")
    encoded = encoded.to(device_of(net))
    hidden = net(**encoded).last_hidden_state
    mask = encoded["attention_mask"].unsqueeze(-1).to(hidden.dtype)
    pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
    return F.normalize(pooled.float(), dim=-1)


def encode(net, tokenizer, texts: list[str], max_length: int, batch_size: int = 32,
           precision: str = "fp32") -> np.ndarray:
    """Vectors for ``texts`` in input order, encoded longest first so batches pad little."""
    import torch

    from ranker.models.precision import autocast

    order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
    out = np.zeros((len(texts), net.config.hidden_size), dtype=np.float32)
    was_training = net.training
    net.eval()
    with torch.no_grad(), autocast(net, precision):
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            out[rows] = mean_pooled(net, tokenizer, [texts[i] for i in rows], max_length).cpu().numpy()
    net.train(was_training)
    return out


@dataclass
class DenseDevSet:
    """A fixed sample of dev queries, the corpus they are searched in, and their judgements."""

    qids: list[str]
    queries: list[str]
    doc_ids: list[str]
    doc_texts: list[str]
    qrels: dict


class EmbedderTask:
    """The bi-encoder as a :class:`ranker.train.loop.Task`.

    Example:
        >>> from sentence_transformers import SentenceTransformer
        >>> from transformers import AutoModel
        >>> from ranker.models.checkpoints import load_tokenizer
        >>> from ranker.train.loop import TrainConfig, fit
        >>> groups = [TextGroup("oil prices", "Oil prices fell.", ("A dam broke.",)),
        ...           TextGroup("dam", "A dam broke.", ("Oil prices fell.",))]
        >>> keys = [("oil prices", "1", ("2",)), ("dam", "2", ("1",))]  # (query, positive id, negative ids)
        >>> net, tokenizer = AutoModel.from_pretrained(tiny_bert), load_tokenizer(tiny_bert)  # or all-MiniLM-L6-v2
        >>> task = EmbedderTask(groups, keys, net, tokenizer, EmbedderTrainConfig(model=tiny_bert), 32, dev=None)
        >>> sorted(task.batches(0, np.random.default_rng(0)))  # one's positive is the other's negative: apart
        [[0], [1]]
        >>> metrics = fit(task, TrainConfig(), "models/embedder", show_progress=False)
        >>> SentenceTransformer("models/embedder/model", device="cpu").encode(["oil"]).shape  # a SentenceTransformer
        (1, 32)
    """

    primary = "MRR@10"

    def __init__(self, groups: list[TextGroup], keys: list[tuple[str, str, tuple[str, ...]]], net, tokenizer,
                 config: EmbedderTrainConfig, batch_size: int, dev: DenseDevSet | None,
                 precision: str = "fp32") -> None:
        """``keys[i]``: group i's (query text, positive id, negative ids), for :func:`distinct_batches`."""
        if not groups or len(keys) != len(groups):
            raise ValueError(f"{len(groups)} training groups but {len(keys)} keys")
        self.groups = groups
        self.keys = keys
        self.net = net
        self.tokenizer = tokenizer
        self.config = config
        self.batch_size = batch_size
        self.dev = dev
        self.precision = precision

    def batches(self, epoch: int, rng: np.random.Generator) -> list[list[int]]:
        """The epoch's batches: shuffled, with no false in-batch negatives."""
        return distinct_batches(self.keys, self.batch_size, rng)

    def loss(self, batch: list[int]):
        """Each query's softmax cross-entropy over every article in the batch, its positive the target."""
        import torch
        import torch.nn.functional as F

        groups = [self.groups[i] for i in batch]
        # Articles: every positive (in batch order, so query i's target is i), then the hard negatives.
        articles = [g.positive for g in groups] + [n for g in groups for n in g.negatives]
        queries = mean_pooled(self.net, self.tokenizer, [g.query for g in groups], self.config.max_length)
        docs = mean_pooled(self.net, self.tokenizer, articles, self.config.max_length)
        logits = self.config.scale * queries @ docs.T
        target = torch.arange(len(groups), device=logits.device)
        return F.cross_entropy(logits, target), len(groups)

    def evaluate(self) -> dict[str, float]:
        """Dense retrieval over the whole corpus for the dev sample: MRR@10, nDCG@10, R@100."""
        if self.dev is None:
            return {}
        from ranker.eval.metrics import evaluate

        dev = self.dev
        docs = encode(self.net, self.tokenizer, dev.doc_texts, self.config.dev_doc_length, precision=self.precision)
        queries = encode(self.net, self.tokenizer, dev.queries, self.config.max_length, precision=self.precision)
        scores = queries @ docs.T
        top = np.argsort(-scores, axis=1, kind="stable")[:, :100]  # ties: lower row first
        run = {q: {dev.doc_ids[j]: float(scores[i, j]) for j in top[i]} for i, q in enumerate(dev.qids)}
        return evaluate(run, dev.qrels, ["MRR@10", "nDCG@10", "R@100"])

    def about(self) -> dict[str, Any]:
        """What ``ranker.json`` records of this model."""
        return {
            "task": "embedder",
            "base_model": self.config.model,
            "max_length": self.config.max_length,
            "hard_negatives": self.config.hard_negatives,
            "scale": self.config.scale,
            "pooling": "mean",
        }

    def extra_files(self, folder: Path) -> None:
        """The base's sentence-transformers module files, so the folder loads as a SentenceTransformer."""
        write_st_files(self.config.model, folder, self.net.config.hidden_size)


def write_st_files(base: str, folder: Path, dimension: int) -> None:
    """Copy the base model's sentence-transformers files into ``folder`` (mean
    pooling and normalisation written fresh for a plain transformers base).

    Raises:
        InputError: the base pools otherwise than by the mean, which our loss assumes.
    """
    from ranker.models.loading import resolve_model

    source = Path(resolve_model(base))
    if not (source / "modules.json").is_file():
        modules = [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
            {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
        ]
        (folder / "modules.json").write_text(json.dumps(modules, indent=2) + "\n", encoding="utf-8")
        (folder / "1_Pooling").mkdir()
        pooling = {"word_embedding_dimension": dimension, "pooling_mode_mean_tokens": True}
        (folder / "1_Pooling" / "config.json").write_text(json.dumps(pooling, indent=2) + "\n", encoding="utf-8")
        (folder / "2_Normalize").mkdir()
        return
    check_mean_pooled(source)
    for name in ST_FILES:
        if (source / name).is_file():
            shutil.copyfile(source / name, folder / name)
    for name in ST_FOLDERS:
        if (source / name).is_dir():
            shutil.copytree(source / name, folder / name)


def check_mean_pooled(source: Path) -> None:
    """Refuse a SentenceTransformer base whose modules are not transformer, mean pooling, normalise.

    Example:
        >>> import json, shutil
        >>> check_mean_pooled(Path(tiny_embedder))  # transformer, mean pooling, normalise: as all-MiniLM-L6-v2
        >>> base = Path(shutil.copytree(tiny_embedder, "tmp/cls-pooled"))
        >>> _ = (base / "1_Pooling" / "config.json").write_text(json.dumps({"pooling_mode": "cls"}))
        >>> check_mean_pooled(base)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ranker.core.errors.InputError: tmp/cls-pooled: modules [...] with pooling cls: ... mean pooling + normalise ...
    """
    modules = read_json(source / "modules.json", list)
    kinds = [m.get("type", "").rsplit(".", 1)[-1] if isinstance(m, dict) else "?" for m in modules]
    pooling = source / "1_Pooling" / "config.json"
    config = read_json(pooling, dict) if pooling.is_file() else {}
    mean = config.get("pooling_mode") == "mean" or config.get("pooling_mode_mean_tokens") is True
    if kinds != ["Transformer", "Pooling", "Normalize"] or not mean:
        raise InputError(source, None, f"modules {kinds} with pooling {config.get('pooling_mode', config)}: "
                         "'ranker train embedder' fine-tunes transformer + mean pooling + normalise models only")


def dense_dev_set(index, data: Path, qrels_path: Path, n: int, seed: int) -> DenseDevSet:
    """A fixed sample of ``n`` judged dev queries and the index's whole corpus.

    Example:
        >>> from ranker.index.folder import Index
        >>> dev = dense_dev_set(Index.open("indexes/news"), Path("data/news"), Path("data/news/qrels/dev.tsv"), 200, 13)
        >>> len(dev.queries), len(dev.doc_texts)  # all six judged queries, searched among all six articles
        (6, 6)
    """
    qids, texts, qrels = dev_sample(data, qrels_path, n, seed)
    doc_ids = index.doc_ids()
    return DenseDevSet(qids, texts, doc_ids, index.docs.texts(list(range(len(doc_ids)))), qrels)


def train_embedder(
    groups_path: str | Path | list[str | Path],
    index_path: str | Path,
    out: str | Path,
    config: EmbedderTrainConfig,
    train_config,
    dev: tuple[Path, Path] | None = None,
    resume: bool = False,
    stop_after: int | None = None,
    show_progress: bool = True,
) -> dict[str, Any]:
    """Fine-tune the bi-encoder on mined groups; the best model goes to ``out/model``.

    Args:
        groups_path: ``groups.parquet`` written by ``ranker mine`` (or its folder), or
            several, trained on as one shuffled table.
        index_path: the index the groups were mined from (it holds the texts).
        out: the output folder (``model/``, ``checkpoint/``, ``metrics.json``).
        config: base model, lengths, negatives and dev sample.
        train_config: a :class:`ranker.train.loop.TrainConfig` (``batch_size`` is queries per step).
        dev: (queries file or BEIR folder, dev qrels file), or ``None`` for no
            evaluation (the last model is kept).

    Example:
        >>> from ranker.train.loop import TrainConfig
        >>> config = EmbedderTrainConfig(model=tiny_embedder, max_length=32, dev_doc_length=32)  # or all-MiniLM-L6-v2
        >>> metrics = train_embedder("models/demo/mined", "indexes/news", "models/embedder", config,
        ...                          TrainConfig(batch_size=2, max_steps=2),
        ...                          dev=(Path("data/news"), Path("data/news/qrels/dev.tsv")), show_progress=False)
        >>> metrics["train"]["steps"], sorted(metrics["best"])
        (2, ['MRR@10', 'R@100', 'eval_seconds', 'nDCG@10', 'step'])
    """
    metrics, _ = train_on_groups(EmbedderRecipe(config), groups_path, index_path, out, train_config, dev, resume,
                                 stop_after, show_progress)
    return metrics


@dataclass(frozen=True)
class EmbedderRecipe:
    """The bi-encoder as a :class:`ranker.train.groups.GroupRecipe`: its dev set is
    dense retrieval over the index's whole corpus for a fixed sample of dev queries.

    Example:
        >>> EmbedderRecipe(EmbedderTrainConfig()).config.hard_negatives
        1
    """

    config: EmbedderTrainConfig

    def dev_set(self, index, dev: tuple[Path, Path], seed: int) -> DenseDevSet:
        return dense_dev_set(index, dev[0], dev[1], self.config.dev_queries, seed)

    def task(self, rows, index, dev_set: DenseDevSet | None, train_config) -> EmbedderTask:
        from ranker.models.checkpoints import check_model_folder, load_tokenizer
        from ranker.models.loading import offline, pick_device, quiet_transformers, resolve_model

        config = self.config
        groups = text_groups(rows, index.docs, config.hard_negatives)
        offline()
        from transformers import AutoModel

        path = resolve_model(config.model)
        check_model_folder(path)
        if (Path(path) / "modules.json").is_file():
            check_mean_pooled(Path(path))  # before training, not at the first save
        quiet_transformers()
        net = AutoModel.from_pretrained(path).to(pick_device(train_config.device))
        keys = [(row.query, row.positive, tuple(row.negatives[: config.hard_negatives])) for row in rows]
        return EmbedderTask(groups, keys, net, load_tokenizer(config.model), config, train_config.batch_size, dev_set,
                            train_config.precision)
