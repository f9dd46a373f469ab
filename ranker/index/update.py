"""Adding and deleting articles without a rebuild: only new articles are encoded.

An update reads the index's documents and the vectors it was built from (FAISS
gives them back for flat and HNSW indexes; an IVF-PQ index keeps them beside
itself), drops the deleted rows, appends the new articles with their vectors
(encoded here, the one costly step), and writes the whole folder again with the
same settings: the document store, BM25 (whose statistics are corpus-wide, so
bm25s indexes every text again: seconds per 100k articles), FAISS from the
vectors, and the manifest with its file list. The folder is swapped in whole
(:func:`ranker.core.files.atomic_directory`), so a kill at any moment leaves the old
version or the new one; and the result equals a fresh build of the same
articles in the same order (kept articles first, in their order, then the new).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ranker.core.errors import InputError
from ranker.core.files import one_writer
from ranker.data.fields import field_text
from ranker.data.records import Article
from ranker.index.folder import Index, check_articles, write_index
from ranker.retrieve.bm25 import BM25Config
from ranker.retrieve.dense import DenseRetriever
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
    with one_writer(path):
        return _update(path, list(add), list(dict.fromkeys(delete)), replace, source, show_progress,
                       runtime, precision)


def _update(path: Path, add: list[Article], delete: list[str], replace: bool, source: str,
            show_progress: bool, runtime: str, precision: str) -> Update:
    started = time.perf_counter()
    index = Index.open(path, runtime, precision)
    existing = index.docs.get(list(range(index.manifest["doc_count"])))
    held = {a.doc_id for a in existing}
    where = source or "the new articles"
    clash = [a.doc_id for a in add if a.doc_id in held]
    if clash and not replace:
        raise InputError(where, None, f"{len(clash)} of its ids already in the index (first: '{clash[0]}'): "
                         "pass --replace to replace those articles")
    unknown = [d for d in delete if d not in held]
    if unknown:
        raise InputError("ids to delete", None, f"{len(unknown)} not in the index (first: '{unknown[0]}')")
    both = sorted({a.doc_id for a in add} & set(delete))
    if both:
        raise InputError(where, None, f"'{both[0]}' is both added and deleted: do one, then the other")
    gone = set(delete) | set(clash)
    kept = [row for row, a in enumerate(existing) if a.doc_id not in gone]
    articles = [existing[row] for row in kept] + add
    if not articles:
        raise InputError(str(path), None, "the update would leave the index empty; build a new one instead")
    fields = index.manifest.get("fields", ["text"])
    check_articles(articles, fields, where)  # as a build checks them: before any encoding
    components = index.manifest["components"]
    bm25 = BM25Config(**components["bm25"]) if "bm25" in components else None
    dense, vectors, seconds = None, None, {}
    if "dense" in components:
        loaded = index.dense()
        old = loaded.vectors(index.path / "dense")[kept]
        dense = DenseRetriever(loaded.config, loaded.embedder)
        began = time.perf_counter()
        new = np.zeros((0, old.shape[1]), dtype=np.float32)
        if add:
            import shutil

            from ranker.core.files import scratch_sibling

            # named like our other temporaries: removed after, or by the next write if this one is killed
            shards = scratch_sibling(Path(path).resolve())  # beside the folder a symlink points at
            try:
                new = encode_corpus(loaded.embedder, [field_text(a, fields) for a in add], shards,
                                    loaded.config.shard_size, show_progress)
            finally:
                shutil.rmtree(shards, ignore_errors=True)
        vectors = np.concatenate([old, new]).astype(np.float32, copy=False)
        seconds["encode"] = time.perf_counter() - began
    history = [*index.manifest.get("history", []),
               {"utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "added": len(add) - len(clash),
                "replaced": len(clash), "deleted": len(delete), "source": source}]
    about = {"source": index.manifest.get("source", ""), "engine": "local", "history": history, "where": str(path)}
    index.docs.close()
    write_index(Path(path), articles, fields, bm25, dense, vectors, about, show_progress, seconds, started)
    final = Index.open(path)
    return Update(added=len(add) - len(clash), replaced=len(clash), deleted=len(delete),
                  documents=final.manifest["doc_count"], seconds=final.manifest["stage_seconds"])
