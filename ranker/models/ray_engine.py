"""Scale-out on Ray: the two jobs whose cost is a model's forward passes — encoding
a corpus and scoring (query, article) pairs — spread over an actor pool.

Ray Data streams the work through ``map_batches`` with a callable class, so
each actor loads its model once and then takes work items until none are left;
GPUs are requested per actor when asked for. Everything else stays on the
driver: reading and validating the corpus (ids must be unique across it), BM25
(bm25s needs the whole corpus's document frequencies; it indexes about 100k
documents a second on one core, so it is not what a cluster is for), building
FAISS from the gathered vectors, and writing the index folder. The result is the
index folder the single-process path writes, shard files included, so an
interrupted Ray build resumes like any other.

The work items are exactly the single-process path's units — the corpus's
length-sorted shards, and length-sorted runs of pairs a whole number of
batches long — so each actor pads and batches as one process would, and the
vectors and scores come out the same.

Ray is the optional extra ``ranker[ray]``, imported only here and only when a
job asks for it. ``RAY_ADDRESS`` (or ``address``) points at a cluster; without
one, a local Ray starts on this machine's CPUs.
"""

from __future__ import annotations

import io
import os
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Iterator

import numpy as np

from ranker.core.errors import InputError

if TYPE_CHECKING:
    from ranker.rerank.reranker import PairScorer, RerankConfig
    from ranker.retrieve.embed import Embedder, EmbedderConfig, ShardEncoder

@dataclass(frozen=True)
class RayConfig:
    """Where the Ray cluster is and how the actor pool is shaped.

    Example:
        >>> RayConfig(workers=4, gpus_per_worker=1).gpus_per_worker
        1.0
    """

    #: A cluster (``ray://host:10001`` or ``host:6379``); None: ``RAY_ADDRESS``, else a local Ray.
    address: str | None = None
    #: Actors, each holding one copy of the model.
    workers: int = 2
    #: CPU threads per actor (torch uses this many).
    cpus_per_worker: float = 1.0
    gpus_per_worker: float = 0.0
    #: Pairs per work item when scoring (a multiple of the scoring batch size).
    pairs_per_item: int = 512

    def __post_init__(self) -> None:
        object.__setattr__(self, "cpus_per_worker", float(self.cpus_per_worker))
        object.__setattr__(self, "gpus_per_worker", float(self.gpus_per_worker))
        if self.workers < 1 or self.cpus_per_worker <= 0 or self.gpus_per_worker < 0 or self.pairs_per_item < 1:
            raise ValueError("workers, cpus_per_worker and pairs_per_item must be positive, gpus_per_worker >= 0: "
                             f"{self}")


def connect(config: RayConfig, show_progress: bool = True) -> None:
    """Join the cluster (or start a local Ray) once per process.

    Raises:
        InputError: Ray is not installed (``pip install 'ranker[ray]'``) or the cluster cannot be reached.

    Example (Ray starts, which takes seconds: shown, not run)::

        connect(RayConfig(workers=2))
    """
    try:
        import ray
    except ImportError:
        raise InputError("--engine ray", None, "Ray is not installed: pip install 'ranker[ray]'") from None
    import logging

    from ray.data import DataContext

    if not ray.is_initialized():
        address = config.address or os.environ.get("RAY_ADDRESS")
        try:
            ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING,
                     configure_logging=True)
        except (ConnectionError, RuntimeError, ValueError) as err:
            raise InputError(address or "local Ray", None, f"cannot start or reach Ray ({err})") from None
    context = DataContext.get_current()
    context.enable_progress_bars = show_progress
    context.print_on_execution_start = False


def _threads(cpus: float, config) -> None:
    """An actor's model (``config``: its embedder or reranker settings) uses the actor's
    share of the cores, on whichever runtime it runs."""
    from ranker.models.runtime import limit_threads, resolve_runtime

    limit_threads(max(1, int(cpus)))
    if resolve_runtime(config.runtime, config.device, config.precision) == "torch":
        import torch  # only then: an OpenVINO actor need not pay for importing it

        torch.set_num_threads(max(1, int(cpus)))


class ShardEncoder:
    """A Ray actor: one embedder, encoding whole shards of texts. Each answer carries
    the actor's model fingerprint, so a node that loaded another model is caught."""

    def __init__(self, embedder: dict[str, Any], cpus: float) -> None:
        from ranker.retrieve.embed import Embedder, EmbedderConfig

        config = EmbedderConfig(**embedder)
        _threads(cpus, config)
        self.embedder = Embedder(config)
        self.fingerprint = np.asarray(self.embedder.fingerprint(), dtype=np.float32).tobytes()

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        from ranker.retrieve.embed import npy_bytes

        vectors = [npy_bytes(self.embedder.encode(list(texts))) for texts in batch["texts"]]
        return {"shard": batch["shard"], "vectors": np.array(vectors, dtype=object),
                "fingerprint": np.array([self.fingerprint] * len(vectors), dtype=object)}


class PairScorer:
    """A Ray actor: one cross-encoder, scoring runs of (query, passage) pairs."""

    def __init__(self, rerank: dict[str, Any], cpus: float) -> None:
        from ranker.rerank.reranker import RerankConfig, Reranker

        config = RerankConfig(**rerank)
        _threads(cpus, config)
        self.reranker = Reranker(config)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        scores = [self.reranker.score_read(list(q), list(t)).astype(np.float32).tobytes()
                  for q, t in zip(batch["queries"], batch["texts"], strict=True)]
        return {"item": batch["item"], "scores": np.array(scores, dtype=object)}


def _portable(config: Any) -> dict[str, Any]:
    """A config as keyword arguments for an actor, a local model folder made absolute
    (a worker may start in another directory; on a cluster the path must exist on every node)."""
    from pathlib import Path

    fields = asdict(config)
    if Path(fields["model"]).exists():
        fields["model"] = str(Path(fields["model"]).resolve())
    return fields


def _pool(config: RayConfig) -> dict[str, Any]:
    """``map_batches`` options: one work item per call, a fixed pool of actors."""
    from ray.data import ActorPoolStrategy

    return {"batch_size": 1, "compute": ActorPoolStrategy(size=config.workers), "num_cpus": config.cpus_per_worker,
            "num_gpus": config.gpus_per_worker or None}


@contextmanager
def _named_failures(what: str) -> Iterator[None]:
    """A Ray task or actor failure as one InputError line (the first line of its cause)."""
    from ray.exceptions import RayError

    try:
        yield
    except RayError as err:
        cause = str(err).strip().splitlines()
        raise InputError("--engine ray", None,
                         f"{what} failed on a Ray worker: {cause[-1] if cause else type(err).__name__}") from None


def encode_shards(config: RayConfig, embedder: EmbedderConfig, shards: list[tuple[int, list[str]]],
                  fingerprint: list[float], show_progress: bool = True) -> Iterator[tuple[int, np.ndarray]]:
    """(shard number, vectors) for each shard, in the order the actors finish them.

    Args:
        embedder: the embedder settings every actor loads.
        shards: (number, texts) work items.
        fingerprint: the driver's model fingerprint: an actor whose model gives another
            vector for the probe text (another model under the same path) is refused.

    Raises:
        InputError: Ray is missing or unreachable, an actor failed, or loaded another model.

    Example (on a Ray actor pool: shown, not run)::

        dict(encode_shards(RayConfig(), EmbedderConfig(), [(0, ["oil"])], fingerprint))[0].shape  # (1, 384)
    """
    from ranker.retrieve.embed import same_model

    connect(config, show_progress)
    import ray.data

    # one block per work item, so that every actor gets work
    items = ray.data.from_items([{"shard": n, "texts": texts} for n, texts in shards], override_num_blocks=len(shards))
    done = items.map_batches(ShardEncoder,
                             fn_constructor_kwargs={"embedder": _portable(embedder), "cpus": config.cpus_per_worker},
                             **_pool(config))
    sizes = {n: len(texts) for n, texts in shards}
    with _named_failures("encoding"):
        for row in done.iter_rows():
            number = int(row["shard"])
            if not same_model(np.frombuffer(row["fingerprint"], dtype=np.float32).tolist(), fingerprint):
                raise InputError(embedder.model, None, "a Ray worker loaded a different model under this name: "
                                 "give every node the same model folder")
            vectors = np.load(io.BytesIO(row["vectors"]), allow_pickle=False)
            if vectors.shape[0] != sizes[number]:
                raise InputError("--engine ray", None,
                                 f"shard {number}: {vectors.shape[0]} vectors for {sizes[number]} texts")
            yield number, vectors


def score_pairs(config: RayConfig, rerank: RerankConfig, queries: list[str], texts: list[str], batch_size: int,
                show_progress: bool = True) -> np.ndarray:
    """The cross-encoder's scores of already-read pairs, in input order, from the actor pool.

    Pairs are sorted as :func:`ranker.heads.base.sequence_logits` sorts them and cut
    into runs a whole number of batches long, so every actor batches them as one
    process would.

    Args:
        rerank: the reranker settings every actor loads.

    Raises:
        InputError: Ray is missing or unreachable, or an actor failed.

    Example (on a Ray actor pool: shown, not run)::

        score_pairs(RayConfig(), RerankConfig(model="models/demo/model/model"), ["oil"], ["oil prices fell"], 32)
    """
    connect(config, show_progress)
    import ray.data

    size = [len(q) + len(t) for q, t in zip(queries, texts, strict=True)]
    order = sorted(range(len(queries)), key=lambda i: -size[i])
    step = max(batch_size, config.pairs_per_item // batch_size * batch_size)
    runs = [order[s : s + step] for s in range(0, len(order), step)]
    items = ray.data.from_items([{"item": n, "queries": [queries[i] for i in run], "texts": [texts[i] for i in run]}
                                 for n, run in enumerate(runs)], override_num_blocks=len(runs))
    done = items.map_batches(PairScorer,
                             fn_constructor_kwargs={"rerank": _portable(rerank), "cpus": config.cpus_per_worker},
                             **_pool(config))
    out = np.full(len(queries), np.nan, dtype=np.float32)
    with _named_failures("scoring"):
        for row in done.iter_rows():
            out[runs[int(row["item"])]] = np.frombuffer(row["scores"], dtype=np.float32)
    if np.isnan(out).any():
        raise InputError("--engine ray", None, f"{int(np.isnan(out).sum())} pairs came back without a score")
    return out


def shard_encoder(config: RayConfig, embedder: Embedder) -> ShardEncoder:
    """What :func:`ranker.retrieve.embed.encode_corpus` calls to encode its missing
    shards on this actor pool (every actor checked against ``embedder``'s fingerprint).

    Example:
        >>> from ranker.retrieve.embed import Embedder, EmbedderConfig
        >>> encode_missing = shard_encoder(RayConfig(), Embedder(EmbedderConfig(model=tiny_embedder)))
        >>> callable(encode_missing)  # Ray starts when encode_corpus(..., encode_missing=encode_missing) first calls it
        True
    """
    fingerprint = embedder.fingerprint()
    return lambda missing: encode_shards(config, embedder.config, missing, fingerprint, show_progress=False)


def pair_scorer(config: RayConfig) -> PairScorer:
    """What a :class:`ranker.rerank.reranker.Reranker` calls to score its pairs on this actor pool.

    Example:
        >>> from ranker.rerank.reranker import RerankConfig, Reranker
        >>> reranker = Reranker(RerankConfig(model="models/demo/model/model"), score_elsewhere=pair_scorer(RayConfig()))
        >>> reranker.config.depth  # Ray starts when the reranker first scores
        10
    """
    return lambda rerank, queries, texts, show_progress: score_pairs(config, rerank, queries, texts, rerank.batch_size,
                                                                     show_progress)
