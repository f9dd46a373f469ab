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
import hashlib
import io
import json
import re
import shutil
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from ranker.core.errors import InputError
from ranker.core.files import atomic_write_bytes, atomic_write_text, folder_lock, read_json, scratch_sibling
from ranker.core.integrity import check, write_listed
from ranker.data.records import Article
from ranker.index.docstore import DocStore, write_docstore
from ranker.index.holds import hold, release
from ranker.index.merge_policy import TieredPolicy, plan_merges
from ranker.retrieve.analysis import BM25Config
from ranker.retrieve.bm25_segments import Postings, SegmentedBM25
from ranker.retrieve.dense import DenseConfig, build_faiss

FORMAT = "ranker-segments"
FORMAT_VERSION = 1
_GENERATION = re.compile(r"generation-(\d{6})\.json")
#: The segment that is the index folder the store lives in (its documents, bm25/ and
#: dense/ at the top): an index built whole is the first segment of its store.
BASE = "base"
#: The list of a segment's files and their sha256s, checked when it is opened.
LISTED = "files.json"


@dataclass(frozen=True)
class Segment:
    """A live segment as a generation names it: its folder, its rows, and the file of
    its deletion marks (None: none deleted)."""

    name: str
    documents: int
    deletions: str | None = None
    deleted: int = 0
    #: the sha256 of the deletion marks' file, checked when it is read
    deletions_sha256: str | None = None


@dataclass(frozen=True)
class Generation:
    """One commit: its number and its live segments, in row order."""

    number: int
    segments: tuple[Segment, ...]
    #: what each commit did, oldest first (each generation carries the whole list forward)
    history: tuple[dict, ...] = ()

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


@dataclass(frozen=True)
class Change:
    """What a commit did: the generation it made, and how many articles it added new,
    replaced and deleted."""

    generation: Generation
    added: int
    replaced: int
    deleted: int


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
        self.bm25 = BM25Config(**settings["bm25"]) if settings.get("bm25") is not None else None
        self.dense = DenseConfig(**settings["dense"]) if settings.get("dense") else None
        self.fields = tuple(settings.get("fields", ["text"]))

    @classmethod
    def create(cls, folder: str | Path, bm25: BM25Config | None, dense: DenseConfig | None = None,
               fields: Sequence[str] = ("text",), base: int = 0) -> SegmentStore:
        """An empty store at ``folder`` (which must not exist): its settings and generation 0.
        ``base``: the documents of the index folder holding ``folder``, the store's first
        segment (0: a store of its own)."""
        folder = Path(folder)
        if folder.exists() or folder.is_symlink():  # never written over: a user's folder is theirs
            raise InputError(folder, None, "already exists: give a new folder for the index")
        folder.parent.mkdir(parents=True, exist_ok=True)
        dense_settings = None
        if dense is not None:
            dense_settings = {k: v for k, v in asdict(dense).items() if k != "embedder"}
        scratch = scratch_sibling(folder)  # settings and generation 0 appear together, or not at all
        (scratch / "store.json").write_text(json.dumps({
            "format": FORMAT, "format_version": FORMAT_VERSION, "bm25": asdict(bm25) if bm25 else None,
            "dense": dense_settings, "fields": list(fields)}, indent=2))
        cls(scratch)._commit(Generation(0, (Segment(BASE, base),) if base else ()))
        scratch.rename(folder)
        return cls(folder)

    def path(self, segment: Segment) -> Path:
        """The folder holding ``segment``'s files."""
        return self.folder.parent if segment.name == BASE else self.folder / segment.name

    # -- reading -----------------------------------------------------------------------------
    def numbers(self) -> list[int]:
        """The numbers of the generations whose files are here, ascending."""
        return sorted(int(m.group(1)) for p in self.folder.iterdir() if (m := _GENERATION.fullmatch(p.name)))

    def generation(self, number: int) -> Generation:
        """Generation ``number``, as its file says."""
        raw = read_json(self.folder / f"generation-{number:06d}.json")
        return Generation(number, tuple(Segment(**s) for s in raw["segments"]), tuple(raw.get("history", ())))

    def current(self) -> Generation:
        """The highest-numbered generation: the index as of its last commit."""
        numbers = self.numbers()
        if not numbers:
            raise InputError(self.folder, None, "no generation file: not a segmented index, or a damaged one")
        return self.generation(numbers[-1])

    def open(self, generation: Generation | None = None, search: bool = True,
             cache: dict | None = None) -> Snapshot:
        """A reader of ``generation`` (default: the current one), fixed for its life;
        ``cache``: segments already opened by an earlier reader of this store (see :class:`Snapshot`)."""
        return Snapshot(self, generation or self.current(), search, cache)

    # -- writing -----------------------------------------------------------------------------
    def add(self, articles: Sequence[Article], vectors: np.ndarray | None = None,
            replace: bool = False) -> Generation:
        """Commit a new segment holding ``articles`` (see :meth:`change`)."""
        return self.change(articles, vectors, replace=replace).generation

    def delete(self, doc_ids: Sequence[str]) -> Generation:
        """Commit deletion marks for ``doc_ids`` (each must be live in the index)."""
        return self.change(delete=doc_ids).generation

    def change(self, articles: Sequence[Article] = (), vectors: np.ndarray | None = None,
               delete: Sequence[str] = (), replace: bool = False, where: str = "the new articles",
               source: str = "") -> Change:
        """One commit: ``delete`` marked deleted, and ``articles`` (with their ``vectors``,
        normalised, when the store has dense settings) written as a new segment. An id
        the index holds live is an error unless ``replace``, which deletes the old one
        in the same commit; an id to delete must be live, and not also added. The
        generation's history records it, with ``source`` (where the articles came from)."""
        articles, delete = list(articles), list(dict.fromkeys(delete))
        if not articles and not delete:
            raise InputError(where, None, "nothing to add or delete")
        if articles and (vectors is None) != (self.dense is None):
            raise ValueError("vectors are given exactly when the store has dense settings")
        ids = [a.doc_id for a in articles]
        if len(set(ids)) != len(ids):
            raise InputError(where, None, "an id occurs twice among them")
        with folder_lock(self.folder):
            current = self.current()
            held = self._held(current, ids + delete)
            clash = check_ids(ids, delete, held, replace, where)
            number = current.number + 1
            segments = self._marked(current, {held[i] for i in clash + delete}, number)
            if articles:
                name = f"seg-{number:06d}"
                self._write_segment(name, articles, vectors)
                segments += (Segment(name, len(articles)),)
            done = {"utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "added": len(articles) - len(clash),
                    "replaced": len(clash), "deleted": len(delete), "source": source}
            generation = self._commit(Generation(number, segments, (*current.history, done)))
        return Change(generation, done["added"], done["replaced"], done["deleted"])

    def merge(self, max_segments: int = 1, expunge_deletes: bool = False,
              policy: TieredPolicy | None = None) -> Generation:
        """Merge neighbouring segments, smallest pairs first, until at most ``max_segments``
        remain: each merged segment holds the live articles of those it replaces, in
        their order (deleted ones are gone from disk once the generation before is
        superseded), so rows keep their order. ``expunge_deletes`` also rewrites every
        other segment that holds deleted articles, so that a taken-down article's text
        leaves the disk. ``policy``: merge what it plans instead (``max_segments`` is
        then not used). Writers wait for it (the folder is locked)."""
        if max_segments < 1:
            raise ValueError(f"max_segments must be at least 1, not {max_segments}")
        with folder_lock(self.folder):
            current = self.current()
            # the base is the index folder itself: rewriting it is a rebuild (ranker.index.update), not a merge
            fixed = 1 if current.segments and current.segments[0].name == BASE else 0
            if max_segments <= fixed:
                raise ValueError("the store keeps its base segment: merge to at least 2 segments")
            sizes = [s.documents - s.deleted for s in current.segments[fixed:]]
            planned = policy.plan(sizes) if policy is not None else plan_merges(sizes, max_segments - fixed)
            runs = [(first + fixed, last + fixed) for first, last in planned]
            if expunge_deletes:
                merged = {i for first, last in runs for i in range(first, last + 1)}
                runs = sorted(runs + [(i, i) for i, s in enumerate(current.segments)
                                      if s.deleted and i not in merged and i >= fixed])
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
            return self._commit(Generation(number, tuple(segments), current.history))

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
                digest = _save_new(self.folder / name, marks)
                segment = Segment(segment.name, segment.documents, name, int(marks.sum()), digest)
            out.append(segment)
            start += segment.documents
        return tuple(out)

    def _deletions(self, segment: Segment) -> np.ndarray:
        """``segment``'s deletion marks, checked against the sha256 its generation lists."""
        if segment.deletions is None:
            return np.zeros(segment.documents, dtype=bool)
        path = self.folder / segment.deletions
        try:
            raw = path.read_bytes()
            if segment.deletions_sha256 and hashlib.sha256(raw).hexdigest() != segment.deletions_sha256:
                raise ValueError("sha256 differs from its generation's list (changed or truncated)")
            marks = np.load(io.BytesIO(raw), allow_pickle=False)
            if marks.shape != (segment.documents,) or marks.dtype != bool:
                raise ValueError(f"{marks.shape} {marks.dtype} marks for {segment.documents} documents")
        except (OSError, ValueError) as err:
            raise InputError(path, None, f"unreadable deletion marks ({err}): restore the index folder") from None
        return marks

    def _write_segment(self, name: str, articles: Sequence[Article], vectors: np.ndarray | None,
                       merged: bool = False) -> None:
        """The segment's folder, written under a scratch name and renamed: whole or absent.
        Vectors are searched flat, and with HNSW once a merged segment holds 100,000."""
        from ranker.data.fields import field_text

        scratch = scratch_sibling(self.folder / name)  # a killed writer's is removed by the next commit
        write_docstore(scratch / "docs.sqlite", articles)
        if self.bm25 is not None:  # the title counted as often as a whole build counts it
            texts = [field_text(a, self.fields, self.bm25.title_boost) for a in articles]
            Postings.build(texts, self.bm25).save(scratch / "bm25")
        if vectors is not None:
            import faiss

            (scratch / "dense").mkdir()
            # flat for new and small merged segments (IVF-PQ cannot train on a hundred, and is
            # lossy: vectors read back for the next merge must be whole); HNSW once large
            large = merged and len(articles) >= 100_000 and self.dense.index_type != "flat"
            config = replace(self.dense, index_type="hnsw" if large else "flat")
            built = build_faiss(np.ascontiguousarray(vectors, dtype=np.float32), config)
            faiss.write_index(built, str(scratch / "dense" / "faiss.index"))
        write_listed(scratch, LISTED, {"segment": name, "documents": len(articles)})
        scratch.rename(self.folder / name)

    def _commit(self, generation: Generation) -> Generation:
        """Write ``generation``'s file whole, then remove every older generation no reader
        holds, and every file that no generation left names."""
        atomic_write_text(self.folder / f"generation-{generation.number:06d}.json",
                          json.dumps({"number": generation.number, "segments": [asdict(s) for s in generation.segments],
                                      "history": list(generation.history)}, indent=1))
        keep = generation.files() | {"store.json"}
        for number in self.numbers():
            if number < generation.number and not release(self.folder / f"generation-{number:06d}.json"):
                keep |= self.generation(number).files()  # a reader holds it: its files stay until it lets go
        # segments, deletion marks (the base's too), and killed writers' temporaries
        ours = ("seg-", ".seg-", ".generation-", f"{BASE}.del-", f".{BASE}.del-")
        for path in self.folder.iterdir():
            if path.name not in keep and (_GENERATION.fullmatch(path.name) or path.name.startswith(ours)):
                shutil.rmtree(path) if path.is_dir() else path.unlink()
        return generation


def check_ids(added: Sequence[str], deleted: Sequence[str], held: dict[str, int] | set[str], replace: bool,
              where: str) -> list[str]:
    """Refuse a change whose ids do not fit the index, which holds the ids ``held``: an
    added id it holds (unless ``replace``), a deleted id it does not, an id both added
    and deleted. Returns the added ids it replaces.

    Example:
        >>> check_ids(["a", "b"], [], {"a"}, replace=True, where="new.jsonl")
        ['a']
        >>> check_ids(["a"], ["zz"], set(), replace=False, where="new.jsonl")
        Traceback (most recent call last):
        ranker.core.errors.InputError: ids to delete: 1 not in the index (first: 'zz')
    """
    both = sorted(set(added) & set(deleted))
    if both:
        raise InputError(where, None, f"'{both[0]}' is both added and deleted: do one, then the other")
    clash = [i for i in added if i in held]
    if clash and not replace:
        raise InputError(where, None, f"{len(clash)} of its ids already in the index (first: '{clash[0]}'): "
                         "pass --replace to replace those articles")
    missing = [d for d in deleted if d not in held]
    if missing:
        raise InputError("ids to delete", None, f"{len(missing)} not in the index (first: '{missing[0]}')")
    return clash


def _save_new(path: Path, array: np.ndarray) -> str:
    """``array`` at ``path``, whole or not at all (a generation names only whole files); its sha256."""
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    atomic_write_bytes(path, buffer.getvalue())
    return hashlib.sha256(buffer.getvalue()).hexdigest()


class Snapshot:
    """One generation of a store, open for searching; its files stay readable while it
    lives. ``search=False`` opens only its documents and deletion marks (what a writer
    checks ids against): reading a million vectors would make every add cost a second."""

    def __init__(self, store: SegmentStore, generation: Generation, search: bool = True,
                 cache: dict | None = None) -> None:
        self.store, self.generation = store, generation
        #: postings and FAISS indexes opened, by segment: a segment never changes, so a reader of the
        #: next generation takes over what it shares with this one instead of reading it again
        self.cache: dict = {key: value for key, value in (cache or {}).items()
                            if key[1] in {s.name for s in generation.segments}}
        # held first: from here on no commit removes this generation's files
        self._held = hold(store.folder / f"generation-{generation.number:06d}.json")
        for segment in generation.segments:
            if segment.name != BASE:  # the index's own manifest lists the base's files
                folder = store.path(segment)
                check(folder, read_json(folder / LISTED).get("files", {}), "restore the index folder")
        self.deleted = [store._deletions(s) if s.deletions else None for s in generation.segments]
        self.offsets = np.concatenate([[0], np.cumsum([s.documents for s in generation.segments])]).astype(np.int64)
        self.docs = [DocStore(store.path(s) / "docs.sqlite", store.fields) for s in generation.segments]
        if search:  # opened now, so that a commit removing the files later cannot take them away
            _ = self.bm25, self.faiss

    @functools.cached_property
    def bm25(self) -> SegmentedBM25 | None:
        if self.store.bm25 is None:
            return None
        return SegmentedBM25(self.store.bm25, [self._cached("postings", s, Postings.load, "bm25")
                                               for s in self.generation.segments], self.deleted)

    @functools.cached_property
    def faiss(self) -> list | None:
        if self.store.dense is None:
            return None
        return [self._read_faiss(s) for s in self.generation.segments]

    def _read_faiss(self, segment: Segment):
        import faiss

        def read(path: Path):  # memory-mapped, as DenseRetriever.load maps the index
            return faiss.read_index(str(path), faiss.IO_FLAG_MMAP_IFC)

        return self._cached("faiss", segment, read, "dense/faiss.index")

    def _cached(self, kind: str, segment: Segment, load, name: str):
        """``load(path)`` of the segment's file ``name``, once for this reader and the next."""
        key = (kind, segment.name)
        if key not in self.cache:
            self.cache[key] = load(self.store.path(segment) / name)
        return self.cache[key]

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
            for doc_id, row in docs.rows_of(doc_ids).items():  # one query a segment, not one an id
                if deleted is None or not deleted[row]:
                    found[doc_id] = int(offset) + row
        return found

    def live_contents(self, first: int, last: int) -> tuple[list[Article], np.ndarray | None]:
        """The live articles of segments ``first`` to ``last`` (and their vectors), in row order."""
        articles, vectors = [], []
        for at in range(first, last + 1):
            deleted = self.deleted[at]
            rows = [r for r in range(self.generation.segments[at].documents) if deleted is None or not deleted[r]]
            articles += self.docs[at].get(rows)
            if self.store.dense is not None:
                index = self.faiss[at] if "faiss" in self.__dict__ else self._read_faiss(self.generation.segments[at])
                vectors.append(index.reconstruct_n(0, index.ntotal)[rows])
        return articles, (np.concatenate(vectors) if self.store.dense is not None else None)

    def close(self) -> None:
        """Close its documents and let go of its generation (the next commit may remove its files)."""
        for docs in self.docs:
            docs.close()
        self._held.close()
