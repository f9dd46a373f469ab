"""An index as immutable segments under numbered generations: the store (issue 37).

Today ``ranker add`` writes the whole index again. Here a folder holds segments
that are written once and never changed, and numbered generations that say which
segments are live and which of their rows are deleted — Lucene's layout::

    FOLDER/
      store.json                   the settings every segment is built with
      generation-000007.json       the live segments and their deletion marks; the highest number is the index
      seg-000003/                  a segment: docs.sqlite, bm25/ (raw postings), dense/faiss.index
      seg-000003.del-000007.npy    segment 3's deleted rows as of generation 7

Adding writes a new segment holding only the new articles; deleting writes new
deletion marks; either then commits the next generation by writing its file
whole and renaming it into place (:func:`ranker.core.files.atomic_write_text`),
so a kill at any moment leaves the old generation or the new one. Nothing a
generation names is ever rewritten. A commit removes what neither it nor the
generation before it names (a reader that opened the previous one keeps its
files; what was open stays readable on POSIX even once removed). One writer at a
time: the folder is locked while a commit is made.

Readers (:class:`Snapshot`) score BM25 with every live segment's statistics
(:class:`~ranker.retrieve.bm25_segments.SegmentedBM25`, equal to a fresh build) and
merge each segment's dense top rows (:func:`~ranker.retrieve.dense_segments.search_segments`).

Example:
    >>> import tempfile, pathlib
    >>> from ranker.data.records import Article
    >>> store = SegmentStore.create(pathlib.Path(tempfile.mkdtemp()) / "index", BM25Config())
    >>> _ = store.add([Article("1", "Oil", "Oil prices fell"), Article("2", "Dam", "The dam broke")])
    >>> _ = store.add([Article("3", "Oil", "Oil output rose")])
    >>> store.delete(["2"]).number, store.current().live
    (3, 2)
    >>> snapshot = store.open()
    >>> [snapshot.article(row).doc_id for row, _ in snapshot.bm25.search(["oil"], k=5).hits(0)]
    ['1', '3']
"""

from __future__ import annotations

import functools
import io
import json
import re
import shutil
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ranker.core.errors import InputError
from ranker.core.files import atomic_write_bytes, atomic_write_text, folder_lock, read_json, scratch_sibling
from ranker.data.records import Article
from ranker.index.docstore import DocStore, write_docstore
from ranker.retrieve.analysis import BM25Config
from ranker.retrieve.bm25_segments import Postings, SegmentedBM25
from ranker.retrieve.dense import DenseConfig, build_faiss

FORMAT = "ranker-segments"
FORMAT_VERSION = 1
_GENERATION = re.compile(r"generation-(\d{6})\.json")


@dataclass(frozen=True)
class Segment:
    """A live segment as a generation names it: its folder, its rows, and the file of
    its deletion marks (None: none deleted)."""

    name: str
    documents: int
    deletions: str | None = None
    deleted: int = 0


@dataclass(frozen=True)
class Generation:
    """One commit: its number and its live segments, in row order."""

    number: int
    segments: tuple[Segment, ...]

    @property
    def documents(self) -> int:
        """Rows across its segments, deleted ones included."""
        return sum(s.documents for s in self.segments)

    @property
    def live(self) -> int:
        return sum(s.documents - s.deleted for s in self.segments)

    def files(self) -> set[str]:
        """The names in the folder it needs."""
        return {f"generation-{self.number:06d}.json", *(s.name for s in self.segments),
                *(s.deletions for s in self.segments if s.deletions)}


class SegmentStore:
    """A segmented index folder: :meth:`add`, :meth:`delete`, :meth:`open` a snapshot."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        settings = read_json(self.folder / "store.json")
        if settings.get("format") != FORMAT:
            raise InputError(self.folder / "store.json", None, "not a segmented ranker index")
        if settings.get("format_version", 0) > FORMAT_VERSION:
            raise InputError(self.folder / "store.json", None, f"written by a newer ranker (format version "
                             f"{settings['format_version']}, this one reads {FORMAT_VERSION}): upgrade ranker")
        self.bm25 = BM25Config(**settings["bm25"])
        self.dense = DenseConfig(**settings["dense"]) if settings.get("dense") else None
        self.fields = tuple(settings.get("fields", ["text"]))

    @classmethod
    def create(cls, folder: str | Path, bm25: BM25Config, dense: DenseConfig | None = None,
               fields: Sequence[str] = ("text",)) -> SegmentStore:
        """An empty store at ``folder`` (which must not exist): its settings and generation 0."""
        folder = Path(folder)
        if folder.exists() or folder.is_symlink():  # never written over: a user's folder is theirs
            raise InputError(folder, None, "already exists: give a new folder for the index")
        folder.mkdir(parents=True)
        dense_settings = None
        if dense is not None:
            dense_settings = {k: v for k, v in asdict(dense).items() if k != "embedder"}
        atomic_write_text(folder / "store.json", json.dumps({
            "format": FORMAT, "format_version": FORMAT_VERSION, "bm25": asdict(bm25), "dense": dense_settings,
            "fields": list(fields)}, indent=2))
        store = cls(folder)
        store._commit(Generation(0, ()))
        return store

    # -- reading -----------------------------------------------------------------------------
    def numbers(self) -> list[int]:
        """The numbers of the generations whose files are here, ascending."""
        return sorted(int(m.group(1)) for p in self.folder.iterdir() if (m := _GENERATION.fullmatch(p.name)))

    def generation(self, number: int) -> Generation:
        """Generation ``number``, as its file says."""
        raw = read_json(self.folder / f"generation-{number:06d}.json")
        return Generation(number, tuple(Segment(**s) for s in raw["segments"]))

    def current(self) -> Generation:
        """The highest-numbered generation: the index as of its last commit."""
        numbers = self.numbers()
        if not numbers:
            raise InputError(self.folder, None, "no generation file: not a segmented index, or a damaged one")
        return self.generation(numbers[-1])

    def open(self, generation: Generation | None = None, search: bool = True) -> Snapshot:
        """A reader of ``generation`` (default: the current one), fixed for its life."""
        return Snapshot(self, generation or self.current(), search)

    # -- writing -----------------------------------------------------------------------------
    def add(self, articles: Sequence[Article], vectors: np.ndarray | None = None,
            replace: bool = False) -> Generation:
        """Commit a new segment holding ``articles`` (and their ``vectors``, normalised,
        when the store has dense settings). An id the index holds live is an error
        unless ``replace``, which deletes the old one in the same commit."""
        if not articles:
            raise InputError("the new articles", None, "there are none to add")
        if (vectors is None) != (self.dense is None):
            raise ValueError("vectors are given exactly when the store has dense settings")
        ids = [a.doc_id for a in articles]
        if len(set(ids)) != len(ids):
            raise InputError("the new articles", None, "an id occurs twice among them")
        with folder_lock(self.folder):
            current = self.current()
            held = self._held(current, ids)
            if held and not replace:
                raise InputError("the new articles", None, f"{len(held)} of their ids already in the index (first: "
                                 f"'{next(iter(held))}'): replace them, or delete them first")
            number = current.number + 1
            segments = self._marked(current, set(held.values()), number)
            name = f"seg-{number:06d}"
            self._write_segment(name, articles, vectors)
            return self._commit(Generation(number, (*segments, Segment(name, len(articles)))))

    def delete(self, doc_ids: Sequence[str]) -> Generation:
        """Commit deletion marks for ``doc_ids`` (each must be live in the index)."""
        with folder_lock(self.folder):
            current = self.current()
            held = self._held(current, doc_ids)
            missing = [d for d in doc_ids if d not in held]
            if missing:
                raise InputError("ids to delete", None, f"{len(missing)} not in the index (first: '{missing[0]}')")
            number = current.number + 1
            return self._commit(Generation(number, self._marked(current, set(held.values()), number)))

    def merge(self, max_segments: int = 1, expunge_deletes: bool = False) -> Generation:
        """Merge neighbouring segments, smallest pairs first, until at most ``max_segments``
        remain: each merged segment holds the live articles of those it replaces, in
        their order (deleted ones are gone from disk once the generation before is
        superseded), so rows keep their order. ``expunge_deletes`` also rewrites every
        other segment that holds deleted articles, so that a taken-down article's text
        leaves the disk. Writers wait for it (the folder is locked)."""
        if max_segments < 1:
            raise ValueError(f"max_segments must be at least 1, not {max_segments}")
        with folder_lock(self.folder):
            current = self.current()
            runs = plan_merges([s.documents - s.deleted for s in current.segments], max_segments)
            if expunge_deletes:
                merged = {i for first, last in runs for i in range(first, last + 1)}
                runs = sorted(runs + [(i, i) for i, s in enumerate(current.segments) if s.deleted and i not in merged])
            if not runs:
                return current
            number = current.number + 1
            snapshot = self.open(current, search=False)  # not its postings: the merged ones come from the texts
            try:
                segments: list[Segment] = []
                for run, (first, last) in enumerate(runs):
                    segments += current.segments[runs[run - 1][1] + 1 if run else 0 : first]  # those between runs
                    articles, vectors = snapshot.live_contents(first, last)
                    if articles:  # a run of deleted articles only leaves nothing
                        name = f"seg-{number:06d}-{run}"
                        self._write_segment(name, articles, vectors, merged=True)
                        segments.append(Segment(name, len(articles)))
                segments += current.segments[runs[-1][1] + 1 :]
            finally:
                snapshot.close()
            return self._commit(Generation(number, tuple(segments)))

    def _held(self, generation: Generation, doc_ids: Sequence[str]) -> dict[str, int]:
        """The global row of each of ``doc_ids`` live in ``generation``."""
        snapshot = self.open(generation, search=False)
        try:
            return snapshot.live_rows(doc_ids)
        finally:
            snapshot.close()

    def _marked(self, current: Generation, rows: set[int], number: int) -> tuple[Segment, ...]:
        """``current``'s segments with ``rows`` (global) marked deleted, in new files of generation ``number``."""
        out, start = [], 0
        for segment in current.segments:
            mine = [row - start for row in rows if start <= row < start + segment.documents]
            if mine:
                marks = self._deletions(segment)
                marks[mine] = True
                name = f"{segment.name}.del-{number:06d}.npy"
                _save_new(self.folder / name, marks)
                segment = Segment(segment.name, segment.documents, name, int(marks.sum()))
            out.append(segment)
            start += segment.documents
        return tuple(out)

    def _deletions(self, segment: Segment) -> np.ndarray:
        if segment.deletions is None:
            return np.zeros(segment.documents, dtype=bool)
        return np.load(self.folder / segment.deletions, allow_pickle=False)

    def _write_segment(self, name: str, articles: Sequence[Article], vectors: np.ndarray | None,
                       merged: bool = False) -> None:
        """The segment's folder, written under a scratch name and renamed: whole or absent.
        A new segment's vectors are searched flat (IVF-PQ cannot train on a hundred, and
        HNSW pays off once merged); a merged one's as the store's settings say."""
        from ranker.data.fields import field_text

        scratch = scratch_sibling(self.folder / name)  # a killed writer's is removed by the next commit
        write_docstore(scratch / "docs.sqlite", articles)
        Postings.build([field_text(a, self.fields) for a in articles], self.bm25).save(scratch / "bm25")
        if vectors is not None:
            import faiss

            (scratch / "dense").mkdir()
            config = self.dense if merged else DenseConfig(index_type="flat")
            built = build_faiss(np.ascontiguousarray(vectors, dtype=np.float32), config)
            faiss.write_index(built, str(scratch / "dense" / "faiss.index"))
        scratch.rename(self.folder / name)

    def _commit(self, generation: Generation) -> Generation:
        """Write ``generation``'s file whole, then remove what neither it nor the one before names."""
        atomic_write_text(self.folder / f"generation-{generation.number:06d}.json",
                          json.dumps({"number": generation.number,
                                      "segments": [asdict(s) for s in generation.segments]}, indent=1))
        keep = generation.files() | {"store.json"}
        older = [n for n in self.numbers() if n < generation.number]
        if older:
            keep |= self.generation(older[-1]).files()
        ours = ("seg-", ".seg-", ".generation-")  # segments, deletion marks, and killed writers' temporaries
        for path in self.folder.iterdir():
            if path.name not in keep and (_GENERATION.fullmatch(path.name) or path.name.startswith(ours)):
                shutil.rmtree(path) if path.is_dir() else path.unlink()
        return generation


def plan_merges(sizes: Sequence[int], max_segments: int) -> list[tuple[int, int]]:
    """Which neighbouring segments to merge, as ``(first, last)`` index ranges, so that at
    most ``max_segments`` remain: the neighbours with the fewest live documents between
    them go together first (so small segments fold into each other before into a big one).

    Example:
        >>> plan_merges([1000, 10, 20, 5, 900], max_segments=3)
        [(1, 3)]
        >>> plan_merges([10, 0, 20], max_segments=3)  # an empty segment is always dropped
        [(0, 1)]
    """
    groups = [[i] for i in range(len(sizes))]
    weight = [int(n) for n in sizes]
    while len(groups) > max_segments or (0 in weight and len(groups) > 1):
        if 0 in weight:  # a segment of deleted articles only: fold it into a neighbour
            at = weight.index(0)
            pair = at - 1 if at else 0
        else:
            pair = min(range(len(groups) - 1), key=lambda i: weight[i] + weight[i + 1])
        groups[pair : pair + 2] = [groups[pair] + groups[pair + 1]]
        weight[pair : pair + 2] = [weight[pair] + weight[pair + 1]]
    return [(g[0], g[-1]) for g in groups if len(g) > 1]


def _save_new(path: Path, array: np.ndarray) -> None:
    """``array`` at ``path``, whole or not at all (a generation names only whole files)."""
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    atomic_write_bytes(path, buffer.getvalue())


class Snapshot:
    """One generation of a store, open for searching; its files stay readable while it
    lives. ``search=False`` opens only its documents and deletion marks (what a writer
    checks ids against): reading a million vectors would make every add cost a second."""

    def __init__(self, store: SegmentStore, generation: Generation, search: bool = True) -> None:
        self.store, self.generation = store, generation
        self.deleted = [store._deletions(s) if s.deletions else None for s in generation.segments]
        self.offsets = np.concatenate([[0], np.cumsum([s.documents for s in generation.segments])]).astype(np.int64)
        self.docs = [DocStore(store.folder / s.name / "docs.sqlite", store.fields) for s in generation.segments]
        if search:  # opened now, so that a commit removing the files later cannot take them away
            _ = self.bm25, self.faiss

    @functools.cached_property
    def bm25(self) -> SegmentedBM25:
        folder, segments = self.store.folder, self.generation.segments
        return SegmentedBM25(self.store.bm25, [Postings.load(folder / s.name / "bm25") for s in segments],
                             self.deleted)

    @functools.cached_property
    def faiss(self) -> list | None:
        if self.store.dense is None:
            return None
        import faiss

        return [faiss.read_index(str(self.store.folder / s.name / "dense" / "faiss.index"))
                for s in self.generation.segments]

    def dense_search(self, vectors: np.ndarray, k: int):
        """The top ``k`` live rows for each query vector (normalised), across the segments."""
        from ranker.retrieve.dense_segments import search_segments

        if self.faiss is None:
            raise ValueError("this index has no dense vectors")
        return search_segments(self.faiss, self.deleted, vectors, k, self.store.dense)

    def article(self, row: int) -> Article:
        """The article at global ``row``."""
        at = int(np.searchsorted(self.offsets, row, side="right")) - 1
        return self.docs[at].get([row - int(self.offsets[at])])[0]

    def live_rows(self, doc_ids: Sequence[str]) -> dict[str, int]:
        """The global row of each of ``doc_ids`` that is live here."""
        found = {}
        for docs, deleted, offset in zip(self.docs, self.deleted, self.offsets, strict=False):
            for doc_id in doc_ids:
                row = docs.row_of(doc_id)
                if row is not None and (deleted is None or not deleted[row]):
                    found[doc_id] = int(offset) + row
        return found

    def live_contents(self, first: int, last: int) -> tuple[list[Article], np.ndarray | None]:
        """The live articles of segments ``first`` to ``last`` (and their vectors), in row order."""
        articles, vectors = [], []
        for at in range(first, last + 1):
            deleted = self.deleted[at]
            rows = [r for r in range(self.generation.segments[at].documents) if deleted is None or not deleted[r]]
            articles += self.docs[at].get(rows)
            if self.faiss is not None:
                vectors.append(self.faiss[at].reconstruct_n(0, self.faiss[at].ntotal)[rows])
        return articles, (np.concatenate(vectors) if self.faiss is not None else None)

    def close(self) -> None:
        for docs in self.docs:
            docs.close()
