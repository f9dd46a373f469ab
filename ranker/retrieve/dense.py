"""Dense retrieval: sentence-transformers embeddings in a FAISS index.

Vectors are L2-normalised, so inner product is cosine similarity. The index
folder holds ``faiss.index`` (rows aligned with the index's document rows) and
``config.json`` with the model, its fingerprint, dimension, metric and index type;
querying with another model than the one that built the index is refused.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ranker.core.errors import InputError
from ranker.retrieve.base import Results, empty_results
from ranker.retrieve.embed import Embedder, EmbedderConfig, ShardEncoder, encode_corpus, same_model

INDEX_TYPES = ("auto", "flat", "hnsw", "ivfpq")
#: ``auto`` builds HNSW while its vectors take less than this many bytes: HNSW32 holds
#: each vector whole plus 64 links at its lowest level (about 1.8 KiB at 384
#: dimensions), so this is 5M vectors of 384 dimensions, about 9 GB in all
HNSW_UP_TO_BYTES = 5_000_000 * 384 * 4


@dataclass(frozen=True)
class DenseConfig:
    """The embedder and the FAISS index built over its vectors.

    ``auto`` follows the FAISS wiki's guidelines ("Guidelines to choose an
    index") and our measurements (docs/scale.md): exact ``flat`` search while brute
    force is cheap (under 100k vectors), ``hnsw`` (HNSW32, fast and accurate while
    memory allows: at 1M vectors recall@10 0.989 at 95x flat's queries/s, where
    IVF-PQ reached 0.692) while its vectors take under 7.7 GB (5M at 384
    dimensions, 9 GB with the graph), and ``ivfpq`` (IVF with about 4·sqrt(N)
    lists, PQ codes: a tenth of the memory, lower recall) beyond.

    Example:
        >>> DenseConfig(index_type="hnsw").resolved_type(5000)
        'hnsw'
        >>> [DenseConfig().resolved_type(n) for n in (5000, 2_000_000, 6_000_000)]
        ['flat', 'hnsw', 'ivfpq']
        >>> DenseConfig().resolved_type(2_000_000, dim=1024)
        'ivfpq'
    """

    embedder: EmbedderConfig = EmbedderConfig()
    index_type: str = "auto"
    hnsw_m: int = 32
    ef_construction: int = 200
    ef_search: int = 128
    ivf_lists: int = 0  # 0: about 4 * sqrt(N)
    pq_bytes: int = 0  # 0: dimension / 4 sub-quantizers of 8 bits
    nprobe: int = 32
    shard_size: int = 512

    def __post_init__(self) -> None:
        if self.index_type not in INDEX_TYPES:
            raise ValueError(f"index_type must be one of {', '.join(INDEX_TYPES)}, not '{self.index_type}'")

    def resolved_type(self, n_vectors: int, dim: int = 384) -> str:
        """The index type for ``n_vectors`` of ``dim`` dimensions (``index_type``, or what ``auto`` picks)."""
        if self.index_type != "auto":
            return self.index_type
        return "flat" if n_vectors < 100_000 else "hnsw" if n_vectors * dim * 4 < HNSW_UP_TO_BYTES else "ivfpq"


def build_faiss(vectors: np.ndarray, config: DenseConfig):
    """A FAISS inner-product index over ``vectors`` of the configured type.

    Example:
        >>> import numpy as np
        >>> build_faiss(np.eye(4, dtype=np.float32), DenseConfig(index_type="flat")).ntotal
        4
    """
    import faiss

    n, dim = vectors.shape
    kind = config.resolved_type(n, dim)
    if kind == "flat":
        index = faiss.IndexFlatIP(dim)
    elif kind == "hnsw":
        index = faiss.IndexHNSWFlat(dim, config.hnsw_m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = config.ef_construction
    else:
        lists = config.ivf_lists or max(1, min(int(4 * math.sqrt(n)), n // 39))
        codes = config.pq_bytes or max(1, dim // 4)
        if dim % codes:
            raise ValueError(f"pq_bytes {codes} must divide the dimension {dim}")
        index = faiss.index_factory(dim, f"IVF{lists},PQ{codes}", faiss.METRIC_INNER_PRODUCT)
        # FAISS needs about 40-256 training points per list (and 256 per PQ centroid):
        # train on a fixed random sample of that size, then add every vector
        sample = min(n, max(256 * lists, 256 * 40))
        rows = np.sort(np.random.default_rng(0).choice(n, size=sample, replace=False)) if sample < n else slice(None)
        index.train(np.ascontiguousarray(vectors[rows]))
    index.add(vectors)
    _set_search_params(index, config)
    return index


def index_kind(index) -> str:
    """``flat``, ``hnsw`` or ``ivfpq``: what a FAISS index is, read from the index itself
    (so an index keeps its kind whatever ``auto`` would pick today).

    Example:
        >>> index_kind(build_faiss(np.eye(4, dtype=np.float32), DenseConfig(index_type="flat")))
        'flat'
    """
    import faiss

    if isinstance(index, faiss.IndexHNSW):
        return "hnsw"
    if isinstance(index, faiss.IndexIVF):
        return "ivfpq"
    return "flat"


def _set_search_params(index, config: DenseConfig) -> None:
    import faiss

    if isinstance(index, faiss.IndexHNSW):
        index.hnsw.efSearch = config.ef_search
    ivf = faiss.try_extract_index_ivf(index)
    if ivf is not None:
        ivf.nprobe = config.nprobe


def on_gpu_if_present(index):
    """A GPU copy of a flat ``index`` when this FAISS build sees a GPU (faiss-gpu,
    the ``[gpu]`` extra), else the index itself. HNSW has no GPU version in FAISS,
    so it stays on the CPU.

    Example:
        >>> import faiss
        >>> flat = faiss.IndexFlatIP(4)
        >>> on_gpu_if_present(flat) is flat  # on a machine without a GPU
        True
    """
    import faiss

    if not hasattr(faiss, "StandardGpuResources") or faiss.get_num_gpus() == 0:
        return index
    if isinstance(index, faiss.IndexHNSW):
        return index
    return faiss.index_cpu_to_all_gpus(index)


class DenseRetriever:
    """Cosine-similarity search over article embeddings.

    Example:
        >>> from ranker.retrieve.embed import EmbedderConfig
        >>> r = DenseRetriever(DenseConfig(embedder=EmbedderConfig(model=tiny_embedder)))  # default: all-MiniLM-L6-v2
        >>> r.index(["oil prices fell", "the dam broke"], tmp / "shards", show_progress=False)
        >>> r.search(["oil prices"], k=2).rows.shape
        (1, 2)
    """

    def __init__(self, config: DenseConfig = DenseConfig(), embedder: Embedder | None = None) -> None:
        self.config = config
        self._embedder = embedder
        self._faiss = None  # the CPU index: what is saved
        self._searcher = None  # what searches: the same index, or its GPU copy
        self.fingerprint: list[float] | None = None

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = Embedder(self.config.embedder)
        return self._embedder

    def index(self, texts: list[str], shards: str | Path, show_progress: bool = True,
              encode_missing: ShardEncoder | None = None) -> None:
        """Encode the documents' texts (resumable through ``shards``; elsewhere with
        ``encode_missing``, see :func:`ranker.retrieve.embed.encode_corpus`) and build FAISS."""
        vectors = encode_corpus(self.embedder, list(texts), shards, self.config.shard_size, show_progress,
                                encode_missing)
        self.index_vectors(vectors)

    def index_vectors(self, vectors: np.ndarray) -> None:
        """Build the FAISS index from vectors already encoded by this retriever's model."""
        self._faiss = build_faiss(vectors, self.config)
        self._searcher = on_gpu_if_present(self._faiss)
        self.fingerprint = self.embedder.fingerprint()

    @property
    def doc_count(self) -> int:
        return 0 if self._faiss is None else int(self._faiss.ntotal)

    @property
    def faiss_index(self):
        """The underlying FAISS index (rows aligned with the index's documents)."""
        return self._faiss

    def search(self, queries: list[str], k: int) -> Results:
        """Top-k by cosine similarity; every query finds up to k documents."""
        if self._faiss is None:
            raise RuntimeError("DenseRetriever: call index() or load() first")
        results = empty_results(len(queries), k)
        depth = min(k, self.doc_count)
        if not queries or depth == 0:
            return results
        scores, rows = self._searcher.search(self.embedder.encode(queries), depth)
        rows = rows.astype(np.int64)
        scores = np.where(rows >= 0, scores, -np.inf).astype(np.float32)
        results.rows[:, :depth] = rows
        results.scores[:, :depth] = scores
        return results

    def save(self, folder: str | Path, vectors: np.ndarray | None = None) -> None:
        """Write ``faiss.index`` and ``config.json`` (model, fingerprint, type, count);
        for a lossy index (IVF-PQ keeps codes, not vectors) also ``vectors.npy``, the
        vectors it was built from, so that an update can rebuild it without encoding
        the corpus again (``vectors`` must then be given)."""
        import faiss

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        faiss.write_index(self._faiss, str(folder / "faiss.index"))
        if index_kind(self._faiss) == "ivfpq":
            if vectors is None:
                raise ValueError("an IVF-PQ index is saved with the vectors it was built from")
            np.save(folder / "vectors.npy", np.ascontiguousarray(vectors, dtype=np.float32), allow_pickle=False)
        about = {
            "config": asdict(self.config),
            "model": self.config.embedder.model,
            "fingerprint": self.fingerprint,
            "dimension": int(self._faiss.d),
            "normalised": True,
            "metric": "inner_product",
            "index_type": index_kind(self._faiss),
            "doc_count": self.doc_count,
        }
        (folder / "config.json").write_text(json.dumps(about, indent=2))

    def vectors(self, folder: str | Path) -> np.ndarray:
        """The vectors this index was built from, row by row: read back from FAISS
        where it stores them whole (flat, HNSW), else from ``folder/vectors.npy``.

        Example:
            >>> r = DenseRetriever(DenseConfig(index_type="flat"))
            >>> r._faiss = build_faiss(np.eye(3, dtype=np.float32), r.config)  # what index_vectors sets, with no model
            >>> r.vectors("unused").tolist()[1]
            [0.0, 1.0, 0.0]
        """
        if index_kind(self._faiss) == "ivfpq":
            try:
                return np.load(Path(folder) / "vectors.npy", allow_pickle=False)
            except (OSError, ValueError) as err:
                raise InputError(Path(folder) / "vectors.npy", None, f"unreadable ({err}): rebuild the index") from None
        return self._faiss.reconstruct_n(0, self.doc_count)

    @classmethod
    def load(cls, folder: str | Path, embedder: Embedder | None = None) -> DenseRetriever:
        """Load a saved dense index; with ``embedder`` given, check it is the
        model that built the index (by fingerprint and dimension)."""
        import faiss

        folder = Path(folder)
        try:
            about = json.loads((folder / "config.json").read_text())
            stored = about["config"]
            config = DenseConfig(**{**stored, "embedder": EmbedderConfig(**stored["embedder"])})
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise InputError(folder / "config.json", None, f"not a ranker dense config ({err})") from None
        retriever = cls(config, embedder)
        retriever.fingerprint = about["fingerprint"]
        if embedder is not None:
            retriever.check_model(embedder, folder)
        try:
            # the vectors of a flat or HNSW index memory-mapped (FAISS's IO_FLAG_MMAP_IFC):
            # opening reads the graph, not 1.5 GB of vectors per million articles
            retriever._faiss = faiss.read_index(str(folder / "faiss.index"), faiss.IO_FLAG_MMAP_IFC)
        except RuntimeError as err:  # FAISS raises RuntimeError for a file it cannot parse
            raise InputError(folder / "faiss.index", None,
                             f"not a readable FAISS index ({str(err).splitlines()[0]})") from None
        _set_search_params(retriever._faiss, config)
        retriever._searcher = on_gpu_if_present(retriever._faiss)
        return retriever

    def check_model(self, embedder: Embedder, where: str | Path) -> None:
        """Refuse a query-time model other than the one that built the index."""
        if not same_model(self.fingerprint or [], embedder.fingerprint()):
            raise InputError(
                where,
                "model",
                f"this index was built with model '{self.config.embedder.model}' "
                f"({len(self.fingerprint or [])} dimensions); the query model '{embedder.config.model}' "
                f"({embedder.dimension} dimensions) gives different vectors: query with the same model or rebuild "
                "the index",
            )
