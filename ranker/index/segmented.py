"""An index folder with segments beside it: what :class:`~ranker.index.folder.Index` reads.

``ranker index`` writes an index folder whole; ``ranker add`` and ``ranker delete``
then commit to a :class:`~ranker.index.segments.SegmentStore` inside it
(``INDEX/segments/``), whose first segment is the folder's own articles::

    INDEX/
      manifest.json, docs.sqlite, bm25/, dense/   the articles it was built with (segment "base")
      segments/
        store.json, generation-N.json             the live segments and their deletion marks
        seg-N/                                    the articles of one add
        base.del-N.npy, seg-N.del-M.npy           deleted rows

This module gives the opened segments the shapes the rest of ranker reads: a
document store (:class:`SegmentedDocs`) and a dense retriever
(:class:`SegmentedDense`); BM25 is :class:`~ranker.retrieve.bm25_segments.SegmentedBM25`.
Rows count across the segments in order, deleted rows included (they are never
found), so a row is an article for as long as the generation is open.

Example:
    >>> import tempfile, pathlib
    >>> from ranker.data.records import Article
    >>> from ranker.index.folder import Index, build_index
    >>> from ranker.index.update import update_index
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "idx"
    >>> _ = build_index([Article("a", "", "oil prices fell"), Article("b", "", "the dam broke")], out,
    ...                 show_progress=False)
    >>> _ = update_index(out, add=[Article("c", "", "oil output rose")], delete=["b"], show_progress=False)
    >>> index = Index.open(out)
    >>> index.manifest["doc_count"], index.manifest["segments"], index.docs.row_of("b")
    (2, 2, None)
    >>> [index.docs.get([row])[0].doc_id for row, _ in index.bm25().search(["oil"], 5).hits(0)]
    ['a', 'c']
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ranker.data.records import Article
from ranker.index.segments import BASE, LISTED, Generation, SegmentStore, Snapshot
from ranker.retrieve.base import Results

#: The store's folder inside an index folder.
SEGMENTS = "segments"


def store_of(index: str | Path) -> SegmentStore | None:
    """The segment store of the index folder ``index``, or None when nothing was added or deleted since its build."""
    folder = Path(index) / SEGMENTS
    return SegmentStore(folder) if (folder / "store.json").is_file() else None


def open_segments(store: SegmentStore | None, generation: Generation | None,
                  cache: dict | None = None) -> Snapshot | None:
    """``generation`` of an index's ``store``, open for reading; None when it holds the
    folder's build alone (no segment added, none of its articles deleted). ``cache``:
    what a reader of an earlier generation opened (see :class:`~ranker.index.segments.Snapshot`)."""
    if store is None or generation is None:
        return None
    if [s.name for s in generation.segments] == [BASE] and not generation.segments[0].deleted:
        return None
    return store.open(generation, search=False, cache=cache)  # retrievers load as an Index asks for them


def check_settings(store: SegmentStore, manifest: dict[str, Any]) -> None:
    """Refuse segments built with another text analysis, fields or FAISS settings than the
    index they sit in: their postings would be scored against the wrong words.

    Example:
        >>> import json, tempfile
        >>> from ranker.retrieve.analysis import BM25Config
        >>> store = SegmentStore.create(Path(tempfile.mkdtemp()) / "segments", BM25Config(k1=2.0))
        >>> check_settings(store, json.loads(Path("indexes/news/manifest.json").read_text()))
        ... # doctest: +ELLIPSIS, +NORMALIZE_WHITESPACE
        Traceback (most recent call last):
        ranker.core.errors.InputError: .../segments/store.json: segments built with other bm25 and ... settings
            than this index's: they are not its own; rebuild the index with 'ranker index'
    """
    from ranker.core.errors import InputError
    from ranker.retrieve.analysis import BM25Config

    components = manifest["components"]
    built = {"bm25": BM25Config(**components["bm25"]) if "bm25" in components else None,
             "fields": tuple(manifest.get("fields", ["text"])), "dense": "dense" in components}
    found = {"bm25": store.bm25, "fields": store.fields, "dense": store.dense is not None}
    differ = [name for name in built if built[name] != found[name]]
    if differ:
        raise InputError(store.folder / "store.json", None, f"segments built with other {' and '.join(differ)} "
                         "settings than this index's: they are not its own; rebuild the index with 'ranker index'")


def segment_files(snapshot: Snapshot) -> dict[str, str]:
    """Every file the generation adds to the index folder, by path relative to it, with its sha256."""
    from ranker.core.files import read_json

    files = {f"{SEGMENTS}/generation-{snapshot.generation.number:06d}.json": ""}
    for segment in snapshot.generation.segments:
        if segment.deletions:
            files[f"{SEGMENTS}/{segment.deletions}"] = segment.deletions_sha256 or ""
        if segment.name != BASE:
            listed = read_json(snapshot.store.path(segment) / LISTED).get("files", {})
            files.update({f"{SEGMENTS}/{segment.name}/{name}": digest for name, digest in listed.items()})
    return files


def describe(manifest: dict[str, Any], snapshot: Snapshot) -> dict[str, Any]:
    """The index's manifest as its segments make it: the live documents, how many
    segments and deleted articles, and every file read (what the service watches)."""
    generation = snapshot.generation
    return {**manifest, "doc_count": generation.live, "segments": len(generation.segments),
            "deleted": generation.documents - generation.live, "generation": generation.number,
            "history": [*manifest.get("history", []), *generation.history],
            "files": {**manifest["files"], **segment_files(snapshot)}}


class SegmentedDocs:
    """The documents of every segment as one :class:`~ranker.index.docstore.DocStore`:
    row ``r`` of segment ``s`` is row ``offsets[s] + r``."""

    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot
        self.parts = snapshot.docs
        self.fields = self.parts[0].fields
        self.offsets = snapshot.offsets

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def _split(self, rows: Sequence[int]) -> list[tuple[int, int]]:
        """Each global row as (segment, its row there)."""
        at = np.searchsorted(self.offsets, np.asarray(rows, dtype=np.int64), side="right") - 1
        return [(int(s), int(r) - int(self.offsets[s])) for s, r in zip(at, rows, strict=True)]

    def get(self, rows: Sequence[int]) -> list[Article]:
        """The articles at these rows, in the order asked."""
        split = self._split(rows)
        by_segment: dict[int, list[int]] = {}
        for segment, row in split:
            by_segment.setdefault(segment, []).append(row)
        found: dict[tuple[int, int], Article] = {}
        for segment, mine in by_segment.items():
            found.update(((segment, r), a) for r, a in zip(mine, self.parts[segment].get(mine), strict=True))
        return [found[key] for key in split]

    def texts(self, rows: Sequence[int]) -> list[str]:
        """What the index's models read of these documents (see :meth:`DocStore.texts`)."""
        from ranker.data.fields import field_text

        return [field_text(a, self.fields) for a in self.get(rows)]

    def doc_ids(self) -> list[str]:
        """Every row's id, deleted rows' too (they are never found)."""
        return [doc_id for part in self.parts for doc_id in part.doc_ids()]

    def row_of(self, doc_id: str) -> int | None:
        """The live row of the article with this id, or None."""
        return self.snapshot.live_rows([doc_id]).get(doc_id)

    def rows_of(self, doc_ids: Sequence[str]) -> dict[str, int]:
        """The live row of each of ``doc_ids`` the index holds."""
        return self.snapshot.live_rows(doc_ids)

    def facets(self) -> tuple[dict[str, int], str | None, str | None]:
        """Each outlet's number of live documents, and the range of dates (of every row:
        a deleted article's date stays in the range until a merge drops it)."""
        outlets: dict[str, int] = {}
        lows, highs = [], []
        for part in self.parts:
            counts, low, high = part.facets()
            for outlet, n in counts.items():
                outlets[outlet] = outlets.get(outlet, 0) + n
            lows += [low] if low else []
            highs += [high] if high else []
        deleted = [int(o) + int(r) for o, d in zip(self.offsets, self.snapshot.deleted, strict=False)
                   if d is not None for r in np.flatnonzero(d)]
        for article in self.get(deleted):
            outlet = article.metadata.get("outlet")
            if outlet in outlets:
                outlets[outlet] -= 1
        ordered = sorted(((o, n) for o, n in outlets.items() if n > 0), key=lambda item: (-item[1], item[0]))
        return dict(ordered), min(lows, default=None), max(highs, default=None)

    def close(self) -> None:
        self.snapshot.close()


class SegmentedDense:
    """Dense search over every segment: the queries encoded once by the index's own
    retriever (its model and settings), each segment's FAISS index searched for its
    live rows and the tops merged (:func:`~ranker.retrieve.dense_segments.search_segments`)."""

    def __init__(self, base, snapshot: Snapshot) -> None:
        """``base``: the :class:`~ranker.retrieve.dense.DenseRetriever` of the index's own articles."""
        self.base, self.snapshot = base, snapshot
        self.config, self.embedder = base.config, base.embedder
        segments = snapshot.generation.segments
        # the base's index is the one the retriever mapped; the added segments' are small
        self.indexes = [base.faiss_index if s.name == BASE else snapshot._read_faiss(s) for s in segments]

    @property
    def doc_count(self) -> int:
        return self.snapshot.generation.live

    def search(self, queries: list[str], k: int) -> Results:
        """Top-``k`` live rows by cosine similarity."""
        from ranker.retrieve.base import empty_results
        from ranker.retrieve.dense_segments import search_segments

        if not queries:
            return empty_results(0, k)
        return search_segments(self.indexes, self.snapshot.deleted, self.embedder.encode(queries), k, self.config)


def current_generation(index: str | Path) -> int | None:
    """The number of the store's current generation in the index folder ``index`` (None: no store).

    A directory listing, cheap enough for a service to ask twice a second."""
    store = store_of(index)
    if store is None:
        return None
    numbers = store.numbers()
    return numbers[-1] if numbers else None


def segment_problems(index: str | Path) -> list[str]:
    """What is wrong with the segments of the index folder ``index`` (``ranker verify``):
    each added segment against its own list of files, each deletion mark against the
    sha256 its generation lists, the build's row count, and files in the store that
    are none of its own (what a killed writer left — scratch named ``.…``, segments no
    generation names — is removed by the next commit and is not a problem).

    Example:
        >>> segment_problems("indexes/news")  # built whole: no segments
        []
    """
    from ranker.core.errors import InputError
    from ranker.core.files import read_json
    from ranker.core.integrity import problems

    index = Path(index)
    store = store_of(index)
    if store is None:
        return [] if not (index / SEGMENTS).exists() else [f"{SEGMENTS}/store.json: missing"]
    try:
        generation = store.current()
        keep = {"store.json"}
        for number in store.numbers():  # an older one stays while a reader holds it
            keep |= store.generation(number).files()
    except (InputError, KeyError, TypeError) as err:
        return [f"{SEGMENTS}: {getattr(err, 'problem', err)}"]
    found = []
    for segment in generation.segments:
        if segment.deletions:
            try:
                store._deletions(segment)
            except InputError as err:
                found.append(f"{SEGMENTS}/{segment.deletions}: {err.problem}")
        if segment.name == BASE:
            built = read_json(index / "manifest.json").get("doc_count")
            if built != segment.documents:
                found.append(f"{SEGMENTS}/generation-{generation.number:06d}.json: says the build holds "
                             f"{segment.documents} articles, manifest.json {built}")
            continue
        folder = store.path(segment)
        if not (folder / LISTED).is_file():
            found.append(f"{SEGMENTS}/{segment.name}/{LISTED}: missing")
            continue
        listed = read_json(folder / LISTED).get("files", {})
        found += [f"{SEGMENTS}/{segment.name}/{p}" for p in problems(folder, listed, extra=True)
                  if not p.startswith(f"{LISTED}: not in the list")]
    # a writer killed while it cleaned up leaves segments no generation names: the next commit removes them
    ours = ("seg-", f"{BASE}.del-", ".")
    found += [f"{SEGMENTS}/{p.name}: not a file of the index" for p in sorted(store.folder.iterdir())
              if p.name not in keep and not p.name.startswith(ours)]
    return found
