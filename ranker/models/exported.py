"""Models exported to OpenVINO once, cached, and compiled for the CPU.

The export is made from a model folder on first use (PyTorch and transformers are
imported for that once, never again) and kept:

- beside a model we trained, in ``MODEL/openvino/KIND/``, listed with its sha256s
  in the model's ``ranker.json`` so that loading and ``ranker verify`` check it;
- for any other model (the packaged all-MiniLM-L6-v2, a folder of your own, or
  one of ours that we may not write), in the user cache:
  ``$RANKER_CACHE`` or ``~/.cache/ranker``, under ``openvino/KIND-DIGEST``, where
  DIGEST is over the model's files, so that other weights are another export.

Each export folder lists its own files in ``export.json`` with the digest of the
model it was made from and the OpenVINO version: an export whose files changed is
refused, one made from other weights or another OpenVINO is made again. The
weights are stored in fp32 (OpenVINO's default would round them to fp16), so the
f32 runtime scores as PyTorch does; bf16 is chosen when compiling.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import sys
import warnings
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from ranker.core.errors import InputError
from ranker.core.files import cache_root
from ranker.core.integrity import REMADE, file_hashes, model_remedy, read_listed, write_listed
from ranker.models.runtime import import_openvino, openvino_precision, thread_limit

#: What an export computes: a head's outputs (see :data:`ranker.models.checkpoints.HEAD_CLASSES`)
#: or a SentenceTransformer's normalised sentence embedding.
KINDS = ("sequence", "token", "span", "embedder")
EXPORT_LIST = "export.json"
FORMAT = "ranker-openvino-export"
#: the model's own list, when we trained it
MODEL_LIST = "ranker.json"
BESIDE = REMADE.rstrip("/")


def _source_files(folder: Path, about: dict[str, Any]) -> dict[str, str]:
    """The model's own files (not its exports) with their sha256s: from its checked
    ``ranker.json`` when it has one, else hashed now."""
    listed = about.get("files") or file_hashes(folder, MODEL_LIST)
    return {name: digest for name, digest in listed.items() if not name.startswith(BESIDE + "/")}


def source_digest(files: dict[str, str]) -> str:
    """One sha256 over a model's files and their sha256s.

    Example:
        >>> source_digest({"model.safetensors": "0" * 64})[:12]
        '032f270314fe'
    """
    return hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()


def _writable(folder: Path) -> bool:
    return os.access(folder, os.W_OK | os.X_OK)


def export_folder(model: str | Path, kind: str) -> tuple[Path, dict[str, str], dict[str, Any]]:
    """Where ``model``'s ``kind`` export lives (or will), the model's files with their
    sha256s, and its ``ranker.json`` (``{}`` when it has none); the model's files are
    checked first.

    Example:
        >>> export_folder("models/demo/model/model", "sequence")[0]
        PosixPath('models/demo/model/model/openvino/sequence')
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, not '{kind}'")
    folder = Path(model)
    about = read_listed(folder, MODEL_LIST, model_remedy)
    beside = folder / BESIDE / kind
    if about and (beside.is_dir() or _writable(folder)):
        return beside, _source_files(folder, about), about
    files = _source_files(folder, about) if about else _stat_cached_hashes(folder)
    return cache_root() / BESIDE / f"{kind}-{source_digest(files)[:20]}", files, about


def _stat_cached_hashes(folder: Path) -> dict[str, str]:
    """The sha256 of every file of a model folder we did not write, hashed once per
    (size, modification time) and remembered in the cache, so that a query's cold
    start does not hash 90 MB of weights each time."""
    stats = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and BESIDE not in path.relative_to(folder).parts[:1]:
            st = path.stat()
            stats[path.relative_to(folder).as_posix()] = [st.st_size, st.st_mtime_ns]
    key = hashlib.sha256(json.dumps([str(folder.resolve()), stats], sort_keys=True).encode()).hexdigest()[:20]
    memo = cache_root() / BESIDE / "hashes" / f"{key}.json"
    try:
        known = json.loads(memo.read_text(encoding="utf-8"))
        if isinstance(known, dict) and set(known) == set(stats) and all(isinstance(v, str) for v in known.values()):
            return known
    except (OSError, ValueError):
        pass
    hashes = file_hashes(folder, "")
    hashes = {name: digest for name, digest in hashes.items() if name in stats}
    try:
        from ranker.core.files import atomic_write_text

        memo.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(memo, json.dumps(hashes, sort_keys=True))
    except OSError:
        pass  # a read-only cache: hash again next time
    return hashes


def export_problem(folder: Path, digest: str) -> str | None:
    """Why the export in ``folder`` cannot be used as it is: missing, made from other
    weights or another OpenVINO (so it is made again), or None when it is current.
    Files changed after it was made raise instead: that is not ours to paper over.

    Raises:
        InputError: a file of the export changed since it was made.
    """
    about = read_listed(folder, EXPORT_LIST,
                        f"the export changed after it was made: delete {folder} and it is made again")
    if not about:
        return "missing"
    if about.get("source") != digest:
        return "made from other weights"
    if about.get("openvino") != import_openvino().__version__:
        return f"made by OpenVINO {about.get('openvino')}"
    return None


def ensure_export(model: str | Path, kind: str, show_progress: bool = True) -> Path:
    """The ``model.xml`` of ``model``'s current ``kind`` export, made first when there
    is none (or it is stale). Concurrent callers take turns; the second finds the
    first's export.

    Raises:
        InputError: the model folder or its export changed after they were made, or
            the export cannot be written where it belongs.

    Example:
        >>> ensure_export("models/demo/model/model", "sequence")
        PosixPath('models/demo/model/model/openvino/sequence/model.xml')
    """
    from ranker.core.files import atomic_directory, one_writer

    where, files, about = export_folder(model, kind)
    digest = source_digest(files)
    if export_problem(where, digest) is None:
        return where / "model.xml"
    beside = where.parent.parent == Path(model)
    try:
        with one_writer(Path(model) if beside else where):
            if export_problem(where, digest) is None:  # made by another process while we waited
                return where / "model.xml"
            if show_progress:
                print(f"exporting {model} to OpenVINO (once; kept in {where}) ...", file=sys.stderr, flush=True)
            with atomic_directory(where) as tmp:
                convert(Path(model), kind, tmp / "model.xml")
                write_listed(tmp, EXPORT_LIST, {"format": FORMAT, "kind": kind, "source": digest,
                                                "openvino": import_openvino().__version__})
            if beside:
                _list_beside(Path(model), about, kind)
    except OSError as err:
        raise InputError(where, None, f"cannot write the OpenVINO export here ({err.strerror or err}): make the "
                         "folder writable, set RANKER_CACHE to a writable folder, or pass --runtime torch") from None
    return where / "model.xml"


def _list_beside(model: Path, about: dict[str, Any], kind: str) -> None:
    """Add the export's files to the model's ``ranker.json`` (and drop a replaced
    export's), keeping the sha256s it already checked for every other file."""
    prefix = f"{BESIDE}/{kind}/"
    listed = {name: digest for name, digest in about["files"].items() if not name.startswith(prefix)}
    listed.update({prefix + name: digest for name, digest in file_hashes(model / BESIDE / kind, "").items()})
    write_listed(model, MODEL_LIST, about, files=listed)


def _sentence_embedding(folder: Path):
    """A SentenceTransformer as one module from token ids to its sentence embedding
    (its own pooling and any later modules, normalisation included), for tracing."""
    import torch
    from sentence_transformers import SentenceTransformer

    class SentenceEmbedding(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = SentenceTransformer(str(folder), device="cpu")

        def forward(self, input_ids, attention_mask, token_type_ids=None):
            features = {"input_ids": input_ids, "attention_mask": attention_mask}
            if token_type_ids is not None:
                features["token_type_ids"] = token_type_ids
            return self.model(features)["sentence_embedding"]

    return SentenceEmbedding()


def convert(model: Path, kind: str, xml: Path) -> None:
    """Convert ``model`` (a transformers or SentenceTransformer folder) to OpenVINO IR at ``xml``.

    ``openvino.convert_model`` traces the PyTorch module in ``eval()`` mode from an
    example batch; batch size and length stay dynamic.
    """
    from transformers.utils import logging

    verbosity = logging.get_verbosity()
    logging.set_verbosity_error()  # transformers' notes on a config's unused fields are not the user's business here
    try:
        _convert(model, kind, xml)
    finally:
        logging.set_verbosity(verbosity)


def _convert(model: Path, kind: str, xml: Path) -> None:
    openvino = import_openvino()
    import torch

    from ranker.models.checkpoints import load_head, load_tokenizer

    tokenizer = load_tokenizer(str(model))
    texts, pairs = ["oil prices fell", "a dam broke"], ["Oil prices fell after the meeting.", "The dam held."]
    if kind == "embedder":
        net = _sentence_embedding(model)
        example = tokenizer(texts, truncation=True, max_length=32, padding=True, return_tensors="pt")
    else:
        net = load_head(str(model), kind)
        example = tokenizer(texts, pairs if kind != "token" else None, truncation=True, max_length=32,
                            padding=True, return_tensors="pt")
    net.eval()
    inputs = {k: v for k, v in example.items() if k in ("input_ids", "attention_mask", "token_type_ids")}
    with torch.inference_mode(), warnings.catch_warnings():
        # tracing warns of every Python branch on a shape; the traced graph keeps
        # batch size and length dynamic, and the tests compare its scores with PyTorch's
        warnings.simplefilter("ignore")
        converted = openvino.convert_model(net, example_input=inputs)
    openvino.save_model(converted, str(xml), compress_to_fp16=False)


@functools.lru_cache(maxsize=1)
def _core():
    """One OpenVINO ``Core`` for the process, as OpenVINO advises: a ``Core`` loads
    its device plugins, which every model compiled here can share."""
    return import_openvino().Core()


class CompiledModel:
    """An exported model compiled for the CPU at one precision; called with a NumPy
    batch, returns its outputs as NumPy arrays (the first, or all by name).

    It is compiled for throughput: OpenVINO runs one stream per core or so (2 here),
    each a batch on its own threads, so :meth:`run_many` keeps every stream busy. On
    2 cores, a query's 20 pairs scored as two batches of 10 side by side took 20%
    less time than one batch of 20 on both cores (tests/test_runtime.py checks the
    scores are the same either way; docs/runtime.md).

    ``config`` carries what the heads' code reads from a transformers model
    (``num_labels``, ``id2label``), from the model's ``config.json``.

    Example:
        >>> from ranker.models.tokenizer import FastTokenizer
        >>> net = load_compiled("models/demo/model/model", "sequence", "auto")
        >>> net(FastTokenizer("models/demo/model/model")(["oil"], ["Oil fell."])).shape  # one score per pair
        (1, 1)
    """

    runtime = "openvino"

    def __init__(self, xml: Path, precision: str, config: dict[str, Any]) -> None:
        self.precision = openvino_precision(precision)
        openvino = import_openvino()
        settings: dict[str, Any] = {"INFERENCE_PRECISION_HINT": self.precision, "PERFORMANCE_HINT": "THROUGHPUT"}
        if thread_limit() is not None:  # a Ray actor's share of the machine
            settings["INFERENCE_NUM_THREADS"] = thread_limit()
        self._compiled = _core().compile_model(str(xml), "CPU", settings)
        self.streams = max(1, int(self._compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS")))
        self._queue = openvino.AsyncInferQueue(self._compiled, self.streams)
        self._inputs = {port.get_any_name() for port in self._compiled.inputs}
        # a traced module that returns a bare tensor leaves its output unnamed
        self.output_names = [port.get_any_name() if port.get_names() else f"output{i}"
                             for i, port in enumerate(self._compiled.outputs)]
        id2label = {int(k): v for k, v in (config.get("id2label") or {}).items()}
        self.config = SimpleNamespace(num_labels=config.get("num_labels", len(id2label) or 1), id2label=id2label)

    def __call__(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        return self.outputs(batch)[self.output_names[0]]

    def outputs(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Every output by name (a span head has two: start and end logits)."""
        return self.run_many([(None, batch)])[0][1]

    def run_many(self, batches: Iterable[tuple[Any, dict[str, np.ndarray]]]) -> list[tuple[Any, dict[str, np.ndarray]]]:
        """Each ``(key, batch)``'s outputs by name, the batches run side by side on the
        streams (a batch is made only when a stream is free for it); in input order."""
        done: dict[int, dict[str, np.ndarray]] = {}
        names = self.output_names

        # the callback must not hold ``self``: the queue (which ``self`` holds) keeps it, and a
        # cycle through OpenVINO's C++ objects is one Python's collector cannot see (a model
        # reloaded with every index update stayed in memory, 130 MiB each time)
        def keep(request, number: int) -> None:
            done[number] = {name: np.array(request.get_output_tensor(i).data, dtype=np.float32)
                            for i, name in enumerate(names)}

        self._queue.set_callback(keep)
        keys = []
        for number, (key, batch) in enumerate(batches):
            keys.append(key)
            self._queue.start_async({k: v for k, v in batch.items() if k in self._inputs}, number)
        self._queue.wait_all()
        return [(key, done[number]) for number, key in enumerate(keys)]

    def run_in_order(self, order: list[int], batch_size: int,
                     make: Callable[[list[int]], dict[str, np.ndarray]]) -> Iterator[tuple[list[int], np.ndarray]]:
        """The first output of the inputs in ``order`` (longest first, so each batch pads
        little), cut into batches that give every stream work (:meth:`split`);
        ``make(chunk)`` builds a chunk's batch when a stream is free for it. Yields each
        chunk of input positions with its rows.
        """
        step = self.split(len(order), batch_size)
        chunks = [order[start : start + step] for start in range(0, len(order), step)]
        for chunk, outputs in self.run_many((chunk, make(chunk)) for chunk in chunks):
            yield chunk, outputs[self.output_names[0]]

    def split(self, n: int, batch_size: int) -> int:
        """The batch size (at most ``batch_size``) that cuts ``n`` inputs into a multiple
        of the streams' number of even batches, so that no stream idles at the end: 80
        pairs on 2 streams are 4 batches of 20, where batches of 32 would leave one
        stream alone with the last 16 (a third of the time, for 4 queries of a server's batch).

        Example:
            >>> [CompiledModel.split(SimpleNamespace(streams=2), n, 32) for n in (20, 80, 320, 1, 0)]
            [10, 20, 32, 1, 1]
        """
        batches = max(1, -(-n // batch_size))  # nothing to run (n = 0) is one empty batch, not a division by zero
        batches = -(-batches // self.streams) * self.streams
        return max(1, -(-n // batches))


def load_compiled(model: str | Path, kind: str, precision: str = "auto", show_progress: bool = True) -> CompiledModel:
    """``model``'s ``kind`` export (made on first use), compiled at ``precision``.

    Example:
        >>> load_compiled(tiny_embedder, "embedder").runtime
        'openvino'
    """
    from ranker.core.files import read_json
    from ranker.models.loading import resolve_model

    folder = Path(resolve_model(str(model)))
    if not (folder / "config.json").is_file():
        raise InputError(folder, None, "not a transformers model folder (no config.json)")
    xml = ensure_export(folder, kind, show_progress)
    return CompiledModel(xml, precision, read_json(folder / "config.json", dict))
