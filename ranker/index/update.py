"""Adding and deleting articles without a rebuild: only new articles are encoded.

An index built whole takes later changes as segments (issue 37,
:mod:`ranker.index.segmented`): an add writes the new articles, their BM25 postings
and their vectors as one small new segment, a delete writes deletion marks, and
either commits a new generation by renaming one small file — nothing already in
the index is written again, so an add costs what its own articles cost. Searches
score BM25 with the statistics of every live segment, and so rank as a fresh
build of the same articles would.

A full merge (:func:`merge_index` with one segment, or expunging the build's own
deleted articles) writes the whole folder again from the live articles and the
vectors it holds (FAISS gives them back for flat and HNSW indexes; an IVF-PQ index
keeps them beside itself) and swaps it in whole
(:func:`ranker.core.files.atomic_directory`): the result equals a fresh build of
the same articles in the same order. An index built before segments (its BM25
keeps no term frequencies) is rewritten so once, on its first update.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ranker.core.errors import InputError
from ranker.core.files import one_writer, remove_stale_siblings
from ranker.data.fields import field_text
from ranker.data.records import Article
from ranker.index.folder import Index, check_articles, write_index
from ranker.index.merge_policy import TieredPolicy
from ranker.index.segmented import SEGMENTS, store_of
from ranker.index.segments import SegmentStore, check_ids
from ranker.retrieve.bm25 import BM25Config
from ranker.retrieve.bm25_segments import Postings
from ranker.retrieve.dense import DenseConfig, DenseRetriever
from ranker.retrieve.embed import encode_corpus


@dataclass(frozen=True)
class Update:
    """What an update did.

    Example:
        >>> Update(added=2, replaced=0, deleted=1, documents=41, seconds={"encode": 0.4}).documents
        41
    """

    added: int
    replaced: int
    deleted: int
    documents: int
    seconds: dict[str, float]


def update_index(
    path: str | Path,
    add: Iterable[Article] = (),
    delete: Iterable[str] = (),
    replace: bool = False,
    source: str = "",
    show_progress: bool = True,
    runtime: str = "auto",
    precision: str = "auto",
) -> Update:
    """Add ``add`` to the index folder ``path`` and delete the ids in ``delete``.

    Args:
        add: new articles; an id the index holds is an error unless ``replace``.
        delete: ids to remove; an id the index does not hold is an error.
        replace: let added articles replace those with the same id (they move
            to the end, as a delete then an add would put them).
        source: where the new articles came from, recorded in the manifest.
        runtime, precision: how the new articles are encoded (:mod:`ranker.models.runtime`).

    Raises:
        InputError: an id clash without ``replace``, an unknown id to delete, an
            id both added and deleted, or an update that would empty the index.

    Example:
        >>> dam = Article("7", "Dam holds", "The Oroville dam held after its spillway was repaired.")
        >>> update_index("indexes/news", add=[dam], show_progress=False).documents
        7
        >>> update_index("indexes/news", delete=["7"], show_progress=False).documents
        6
    """
    path = Path(path)
    if path.is_symlink():  # update what the link points at; the link stays
        path = path.resolve()
    add, delete = list(add), list(dict.fromkeys(delete))
    where = source or "the new articles"
    with one_writer(path, _waiting(path, show_progress)):
        remove_stale_siblings(path)  # what a killed writer left beside the folder
        started = time.perf_counter()
        index = Index.open(path, runtime, precision)
        try:
            clash = _check_change(index, add, delete, replace, where)
            if not _takes_segments(index):
                say = "this index was built before segments: it is written again once, then takes changes as segments"
                if show_progress:
                    print(f"{path}: {say}", file=sys.stderr)
                gone, ids = set(delete) | set(clash), index.docs.doc_ids()
                kept = [row for row in index.live_rows().tolist() if ids[row] not in gone]
                return _rewrite(index, kept, add, (len(add) - len(clash), len(clash), len(delete)), source,
                                show_progress, started)
            vectors, seconds = _encode(index, add, show_progress)
        finally:
            index.docs.close()
        began = time.perf_counter()
        store = store_of(path) or SegmentStore.create(path / SEGMENTS, _bm25_config(index),
                                                      _dense_config(index), index.manifest["fields"],
                                                      base=index.manifest["doc_count"])
        change = store.change(add, vectors, delete, replace, where, source)
        seconds["commit"] = time.perf_counter() - began
    return Update(added=change.added, replaced=change.replaced, deleted=change.deleted,
                  documents=change.generation.live, seconds={k: round(v, 3) for k, v in seconds.items()})


def _waiting(path: Path, show_progress: bool):
    """What a writer says when another holds the index (a merge can take minutes)."""
    def say() -> None:
        print(f"{path}: waiting for another writer of this index (an add, a delete or a merge) to finish …",
              file=sys.stderr, flush=True)

    return say if show_progress else None


def _check_change(index: Index, add: list[Article], delete: list[str], replace: bool, where: str) -> list[str]:
    """Refuse a change before anything is encoded; the ids it replaces."""
    check_articles(add, index.manifest.get("fields", ["text"]), where)  # as a build checks them
    ids = [a.doc_id for a in add]
    clash = check_ids(ids, delete, index.docs.rows_of(ids + delete), replace, where)  # as the commit checks them
    if not add and len(delete) >= index.manifest["doc_count"]:
        raise InputError(str(index.path), None, "the update would leave the index empty; build a new one instead")
    return clash


def _takes_segments(index: Index) -> bool:
    """Whether the index can take a segment: its BM25 keeps term frequencies (built since issue 37)."""
    return "bm25" not in index.manifest["components"] or Postings.beside_bm25s(index.path / "bm25")


def _bm25_config(index: Index) -> BM25Config | None:
    components = index.manifest["components"]
    return BM25Config(**components["bm25"]) if "bm25" in components else None


def _dense_config(index: Index) -> DenseConfig | None:
    """The FAISS settings the index was built with (its model is checked when encoding)."""
    if "dense" not in index.manifest["components"]:
        return None
    stored = index.manifest["components"]["dense"]["config"]
    return DenseConfig(**{k: v for k, v in stored.items() if k != "embedder"})


def _encode(index: Index, add: list[Article], show_progress: bool) -> tuple[np.ndarray | None, dict[str, float]]:
    """The new articles' vectors (None for an index without dense vectors), and the seconds it took."""
    if "dense" not in index.manifest["components"] or not add:
        return None, {}
    import shutil

    from ranker.core.files import scratch_sibling

    began = time.perf_counter()
    loaded = index.dense()
    fields = index.manifest.get("fields", ["text"])
    # named like our other temporaries: removed after, or by the next write if this one is killed
    shards = scratch_sibling(Path(index.path).resolve())  # beside the folder a symlink points at
    try:
        vectors = encode_corpus(loaded.embedder, [field_text(a, fields) for a in add], shards,
                                loaded.config.shard_size, show_progress)
    finally:
        shutil.rmtree(shards, ignore_errors=True)
    return vectors, {"encode": time.perf_counter() - began}


def _live_vectors(index: Index, rows: list[int]) -> np.ndarray:
    """The vectors of ``rows``: the build's from its retriever (an IVF-PQ index keeps them
    beside itself), each segment's from its flat or HNSW index."""
    dense = index.dense()
    base = dense.base if index.segments is not None else dense
    parts = [base.vectors(index.path / "dense")]
    if index.segments is not None:
        parts += [faiss.reconstruct_n(0, faiss.ntotal) for faiss in dense.indexes[1:]]
    return np.concatenate(parts)[rows].astype(np.float32, copy=False)


def _rewrite(index: Index, kept: list[int], add: list[Article], counts: tuple[int, int, int], source: str,
             show_progress: bool, started: float) -> Update:
    """The whole folder written again from the articles at rows ``kept`` (ascending) and
    ``add``, with the vectors it holds and the new ones encoded: a full merge."""
    articles = index.docs.get(kept) + add
    if not articles:
        raise InputError(str(index.path), None, "the update would leave the index empty; build a new one instead")
    fields = index.manifest.get("fields", ["text"])
    dense, vectors, seconds = None, None, {}
    if "dense" in index.manifest["components"]:
        old = _live_vectors(index, kept)
        new, seconds = _encode(index, add, show_progress)
        vectors = old if new is None else np.concatenate([old, new]).astype(np.float32, copy=False)
        loaded = index.dense()
        dense = DenseRetriever(loaded.config, loaded.embedder)
    added, replaced, deleted = counts
    history = [*index.manifest.get("history", []),
               {"utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "added": added,
                "replaced": replaced, "deleted": deleted, "source": source}]
    about = {"source": index.manifest.get("source", ""), "engine": "local", "history": history,
             "where": str(index.path)}
    index.docs.close()
    manifest = write_index(Path(index.path), articles, fields, _bm25_config(index), dense, vectors, about,
                           show_progress, seconds, started)
    return Update(added=added, replaced=replaced, deleted=deleted, documents=manifest["doc_count"],
                  seconds=manifest["stage_seconds"])


def merge_index(path: str | Path, max_segments: int = 1, expunge_deletes: bool = False,
                show_progress: bool = True, policy: TieredPolicy | None = None) -> Update:
    """Merge the index's segments until at most ``max_segments`` remain (deleted
    articles dropped from those merged); ``expunge_deletes`` also rewrites every
    segment holding deleted articles, so their text leaves the disk. Merging into
    one segment, or expunging deletions from the build's own articles, writes the
    whole folder again (a rebuild without encoding). ``policy``: merge only what it
    plans, never the build's own segment (``ranker serve``'s background merges).

    Example:
        >>> merge_index("indexes/news", show_progress=False).documents
        6
    """
    path = Path(path)
    if path.is_symlink():
        path = path.resolve()
    if max_segments < 1:
        raise InputError("--max-segments", None, f"must be at least 1, not {max_segments}")
    with one_writer(path, _waiting(path, show_progress)):
        started = time.perf_counter()
        index = Index.open(path)
        segments = index.segments.generation.segments if index.segments is not None else ()
        try:
            nothing = len(segments) <= max_segments and not (expunge_deletes and any(s.deleted for s in segments))
            if not segments or (policy is None and nothing):
                return Update(0, 0, 0, index.manifest["doc_count"], {})  # nothing to merge
            whole = max_segments == 1 or (expunge_deletes and segments[0].deleted) or not _takes_segments(index)
            if policy is None and whole:
                return _rewrite(index, index.live_rows().tolist(), [], (0, 0, 0), "", show_progress, started)
        finally:
            index.docs.close()
        generation = store_of(path).merge(max(max_segments, 2), expunge_deletes, policy)
    return Update(0, 0, 0, generation.live, {"merge": round(time.perf_counter() - started, 3)})
