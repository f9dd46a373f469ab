"""Index folders: the documents, one folder per retriever, and a manifest.

Layout::

    INDEX/
      manifest.json   what built it: ranker version, doc count, each component's
                      settings, and the sha256 of every file
      docs.sqlite     the articles (id, title, text, metadata) by row number
      bm25/           bm25s arrays (.npy) and JSON, no pickle
      dense/          faiss.index (rows aligned with docs.sqlite) and config.json

The folder is built beside its final place and renamed into it, so a crash
leaves the previous index intact.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
import time
from collections.abc import Iterable, Iterator, Sequence, Sized
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ranker import __version__
from ranker.core.errors import InputError
from ranker.core.files import atomic_directory, one_writer
from ranker.core.integrity import check, seal_problem, write_listed
from ranker.core.outputs import INDEX, check_output
from ranker.data.fields import default_fields, field_text, parse_fields
from ranker.data.readers import ArticleStream
from ranker.data.records import Article, bad_id
from ranker.index.docstore import DocStore, write_docstore
from ranker.index.holds import IndexChanged
from ranker.index.segmented import (
    SegmentedDense,
    SegmentedDocs,
    check_settings,
    current_generation,
    describe,
    open_segments,
    store_of,
)
from ranker.retrieve.bm25 import BM25Config, BM25Retriever
from ranker.retrieve.bm25_build import ChunkedBM25Builder
from ranker.retrieve.dense import DenseConfig, DenseRetriever
from ranker.retrieve.embed import Embedder, EmbedderConfig, encode_corpus, texts_sha256
from ranker.retrieve.hybrid import HybridConfig, HybridRetriever

if TYPE_CHECKING:
    from ranker.index.segments import Snapshot
    from ranker.models.ray_engine import RayConfig

RETRIEVERS = ("bm25", "dense", "hybrid")

FORMAT = "ranker-index"
FORMAT_VERSION = 1


def build_index(
    articles: Iterable[Article],
    out: str | Path,
    bm25: BM25Config | None = BM25Config(),
    dense: DenseConfig | None = None,
    source: str = "",
    show_progress: bool = True,
    shards: str | Path | None = None,
    ray: RayConfig | None = None,
    fields: str | Sequence[str] | None = None,
) -> dict[str, Any]:
    """Index ``articles`` into the folder ``out`` and return its manifest.

    Args:
        articles: the corpus; ids must be unique (the readers guarantee it). A list,
            or an :class:`~ranker.data.readers.ArticleStream` (:func:`~ranker.data.readers.stream_articles`)
            for a corpus too big to hold: it is read once for BM25 and the document
            store, in bounded memory, plus once more to choose ``fields`` when they are
            not given and once to encode when ``dense`` is set. Any other iterable is
            read into a list first.
        out: the index folder; an existing one is replaced only once the new one
            is complete.
        bm25: tokenizer and scoring settings, or None for no BM25 component.
        dense: embedder and FAISS settings, or None for no dense component.
        source: where the corpus came from, recorded in the manifest.
        show_progress: show progress bars.
        shards: where embeddings are written while encoding, so that an
            interrupted build resumes (default: a hidden sibling of ``out``,
            removed once the index is in place).
        ray: a :class:`ranker.models.ray_engine.RayConfig` to encode on a Ray actor pool;
            None encodes in this process. The folder is the same either way.
        fields: what is searched: ``title``, ``text`` or both (see
            :mod:`ranker.data.fields`); None: both when the corpus has titles.

    Example:
        >>> m = build_index([Article("a", "T", "oil prices")], tmp / "idx", show_progress=False)
        >>> m["doc_count"], m["fields"]
        (1, ['title', 'text'])
    """
    if bm25 is None and dense is None:
        raise ValueError("build_index needs at least one of bm25 and dense")
    where = source or "articles"
    if not isinstance(articles, ArticleStream):
        articles = list(articles)
        if not articles:
            raise InputError(source or "corpus", None, "the corpus is empty: nothing to index")
    fields = parse_fields(fields) if fields is not None else default_fields(articles)
    # a stream's reader has checked its ids as it read them
    check_articles(articles, fields, where, ids=not isinstance(articles, ArticleStream))
    out = check_output(out, INDEX)  # the library keeps a user's files as safe as the CLI does
    scratch = not shards  # the hidden default is ours: what a failed build left in it is stale
    shards = Path(shards) if shards else out.with_name(f".{out.name}.shards")
    started = time.perf_counter()
    dense_retriever, vectors, encode_seconds, texts_digest = None, None, 0.0, None
    if dense is not None:
        dense_retriever = DenseRetriever(dense)
        encode_missing = None
        if ray is not None:
            from ranker.models.ray_engine import shard_encoder

            encode_missing = shard_encoder(ray, dense_retriever.embedder)
        texts = [field_text(a, fields) for a in articles]
        if not texts:
            raise InputError(source or "corpus", None, "the corpus is empty: nothing to index")
        texts_digest = texts_sha256(texts)
        vectors = encode_corpus(dense_retriever.embedder, texts, shards, dense.shard_size, show_progress,
                                encode_missing, scratch)
        encode_seconds = time.perf_counter() - started
    engine = "local" if ray is None else f"ray ({ray.workers} workers)"
    about = {"source": str(source), "engine": engine, "where": where,
             # a stream is read again to store it: what is stored must be what was encoded
             **({"texts_sha256": texts_digest} if texts_digest else {})}
    with one_writer(out):  # after an update in flight, not in the middle of it
        manifest = write_index(out, articles, fields, bm25, dense_retriever, vectors, about, show_progress,
                               {"encode": encode_seconds}, started)
    if shards.exists():
        shutil.rmtree(shards)
    return manifest


def check_articles(articles: Iterable[Article], fields: Sequence[str], where: str, ids: bool = True) -> None:
    """What the readers guarantee for files, for articles handed over from Python:
    ids unique and one word, and something to read in the chosen fields. Checked
    before any encoding, by a build and by an update alike. ``ids=False`` checks the
    fields alone (of a stream, whose reader checks ids as it reads).

    Example:
        >>> check_articles([Article("a", "", "oil"), Article("a", "", "gas")], ("text",), "mine")
        Traceback (most recent call last):
        ...
        ranker.core.errors.InputError: mine: article 2: duplicate id 'a'
    """
    seen: set[str] = set()
    for number, article in enumerate(articles if ids else (), start=1):
        problem = bad_id(article.doc_id) if article.doc_id else "an empty id"
        if problem is None and article.doc_id in seen:
            problem = f"duplicate id '{article.doc_id}'"
        if problem:
            raise InputError(where, f"article {number}", problem)
        seen.add(article.doc_id)
    if tuple(fields) == ("title",) and not any(a.title.strip() for a in articles):
        raise InputError(where, None, "no article has a title: index the text too (--fields title,text or text)")


def write_index(
    out: Path,
    articles: Iterable[Article],
    fields: Sequence[str],
    bm25: BM25Config | None,
    dense: DenseRetriever | None,
    vectors: np.ndarray | None,
    about: dict[str, Any],
    show_progress: bool,
    seconds: dict[str, float],
    started: float,
) -> dict[str, Any]:
    """Write an index folder (atomically) from articles and their dense vectors,
    already encoded: what a build and an update (:mod:`ranker.index.update`) share.

    ``about`` holds ``source`` and ``engine``, and for an update its ``history``;
    ``seconds`` the time spent encoding; the time of each stage written here is
    added to it, and the whole lands in the manifest.
    """
    components: dict[str, Any] = {}
    seconds = dict(seconds)
    where = about.get("where") or about.get("source") or "corpus"
    with atomic_directory(out) as tmp, contextlib.ExitStack() as cleanup:
        builder = ChunkedBM25Builder(bm25, scratch=tmp) if bm25 is not None else None
        if builder is not None:
            cleanup.callback(builder.close)  # its spill file's space, whatever happens
        count = _store_and_analyse(tmp, articles, fields, builder, about, where, show_progress, seconds)
        if builder is not None:
            components["bm25"] = _save_bm25(tmp, builder, bm25, where, show_progress, seconds)
        if dense is not None:
            components["dense"] = _save_dense(tmp, dense, vectors, about, seconds)
        manifest = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "ranker_version": __version__,
            "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "source": about.get("source", ""),
            "doc_count": count,
            "fields": list(fields),
            "components": components,
            "build_seconds": round(time.perf_counter() - started, 3),
            "stage_seconds": {stage: round(value, 3) for stage, value in seconds.items()},
            **({"history": about["history"]} if "history" in about else {}),
        }
        # the sha256 of every file and a checksum over these settings, checked on open
        manifest = write_listed(tmp, "manifest.json", manifest)
    return manifest


def _store_and_analyse(tmp: Path, articles: Iterable[Article], fields: Sequence[str], builder, about: dict[str, Any],
                       where: str, show_progress: bool, seconds: dict[str, float]) -> int:
    """One pass over the corpus: the document store written, and each text handed to
    the BM25 builder as it goes by; the number of articles."""
    from tqdm import tqdm

    began = time.perf_counter()
    read = hashlib.sha256()

    def feed(articles: Iterable[Article]) -> Iterator[Article]:
        for article in articles:
            yield article
            if builder is not None:
                builder.push(field_text(article, fields, builder.config.title_boost))
            if "texts_sha256" in about:
                read.update(field_text(article, fields).encode("utf-8") + b"\0")

    total = len(articles) if isinstance(articles, Sized) else None
    reading = tqdm(articles, total=total, desc="store and analyse", unit="doc", disable=not show_progress)
    count = write_docstore(tmp / "docs.sqlite", feed(reading))
    if not count:
        raise InputError(where, None, "the corpus is empty: nothing to index")
    if "texts_sha256" in about and read.hexdigest() != about["texts_sha256"]:
        raise InputError(where, None, "the corpus changed while it was being indexed (its texts differ from those "
                         "encoded): index it again once it is written")
    seconds["docstore"] = time.perf_counter() - began - (builder.seconds if builder is not None else 0.0)
    return count


def _save_bm25(tmp: Path, builder, bm25: BM25Config, where: str, show_progress: bool,
               seconds: dict[str, float]) -> dict[str, Any]:
    """The BM25 index finished from what the builder was fed, saved; its manifest entry."""
    try:
        retriever = BM25Retriever(bm25, builder.finish(show_progress, postings=True))
    except ValueError as err:  # a corpus with nothing to index: the user's to fix
        raise InputError(where, None, str(err)) from None
    saving = time.perf_counter()
    retriever.save(tmp / "bm25")
    # term frequencies and lengths beside the scores: what new segments are scored with (issue 37)
    np.save(tmp / "bm25" / "tf.npy", builder.tf, allow_pickle=False)
    np.save(tmp / "bm25" / "lengths.npy", builder.lengths, allow_pickle=False)
    seconds["bm25"] = builder.seconds + time.perf_counter() - saving
    return asdict(bm25)


def _save_dense(tmp: Path, dense: DenseRetriever, vectors: np.ndarray | None, about: dict[str, Any],
                seconds: dict[str, float]) -> dict[str, Any]:
    """The FAISS index built from ``vectors`` and saved; its manifest entry."""
    began = time.perf_counter()
    dense.index_vectors(vectors)
    dense.save(tmp / "dense", vectors)
    entry = json.loads((tmp / "dense" / "config.json").read_text())
    seconds["faiss"] = time.perf_counter() - began
    entry["encode_and_build_seconds"] = round(seconds.get("encode", 0.0) + seconds["faiss"], 3)
    entry["engine"] = about.get("engine", "local")
    return entry


def check_index_folder(path: str | Path) -> None:
    """Refuse a path that is not an index folder, before anything is read from it.

    Example:
        >>> check_index_folder("indexes/news")
        >>> check_index_folder("data/news")
        Traceback (most recent call last):
        ranker.core.errors.InputError: data/news: not an index folder (no manifest.json); build one with 'ranker index'
    """
    if not (Path(path) / "manifest.json").is_file():
        raise InputError(path, None, "not an index folder (no manifest.json); build one with 'ranker index'")



@dataclass
class Index:
    """An opened index folder: its manifest, documents and retrievers.

    Example:
        >>> import tempfile, pathlib
        >>> out = pathlib.Path(tempfile.mkdtemp()) / "idx"
        >>> _ = build_index([Article("a", "T", "oil prices")], out, show_progress=False)
        >>> Index.open(out).manifest["doc_count"]
        1
    """

    path: Path
    manifest: dict[str, Any]
    docs: DocStore
    #: how the dense retriever's query encoder runs (:mod:`ranker.models.runtime`); the
    #: index was encoded however it was built, this is a choice of each reader
    runtime: str = "auto"
    precision: str = "auto"
    #: the articles added and deleted since the build (issue 37), None when there are none
    segments: Snapshot | None = None
    #: the store's generation number when opened (None: no store), and the build's file list
    generation: int | None = None
    built: dict[str, str] = field(default_factory=dict, repr=False)
    #: what the next version of this folder may take over (``Index.open(reuse=...)``): the
    #: build's dense retrievers, by model, and the segments' opened files
    shared: dict[Any, Any] = field(default_factory=dict, repr=False)
    # Loaded retrievers by (kind, model): loading the embedder takes a second and
    # hundreds of MB, so an Index loads each once however often it is asked.
    _loaded: dict[tuple[str, str | None], Any] = field(default_factory=dict, repr=False)

    @classmethod
    def open(cls, path: str | Path, runtime: str = "auto", precision: str = "auto",
             reuse: Index | None = None) -> Index:
        """Open an index folder, checking that it is one this version can read and
        that every file has the sha256 its manifest lists. ``runtime`` and
        ``precision`` say how queries are encoded for dense retrieval. ``reuse``: an
        earlier version of the same folder, whose loaded build (its dense retriever
        and model) and segments this one shares when they are the same files — so a
        service sees an add within a second, however large the build."""
        path = Path(path)
        manifest_path = path / "manifest.json"
        check_index_folder(path)
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise InputError(manifest_path, None, f"unreadable manifest ({err})") from None
        if manifest.get("format") != FORMAT:
            raise InputError(manifest_path, "format", "not a ranker index manifest")
        if manifest.get("format_version") != FORMAT_VERSION:
            raise InputError(
                manifest_path,
                "format_version",
                f"index format {manifest.get('format_version')} but this ranker reads {FORMAT_VERSION}: "
                "rebuild the index",
            )
        sealed = seal_problem(manifest)
        if sealed:
            raise InputError(manifest_path, None, f"{sealed}: rebuild the index with 'ranker index'")
        # every file against its sha256: a changed or truncated file must fail here, not give wrong answers
        check(path, manifest["files"], "the index changed after it was built: restore the file or rebuild the index")
        # an index from before fields were a setting read the body alone
        docs = DocStore(path / "docs.sqlite", manifest.get("fields", ["text"]))
        built = manifest["files"]
        shared = reuse.shared if reuse is not None and reuse.built == built and reuse.runtime == runtime \
            and reuse.precision == precision else {}
        store = store_of(path)
        if store is not None:
            check_settings(store, manifest)
        generation = store.current() if store is not None else None
        snapshot = open_segments(store, generation, shared.get("segments"))
        if snapshot is not None:
            docs.close()
            docs, manifest = SegmentedDocs(snapshot), describe(manifest, snapshot)
        opened = cls(path, manifest, docs, runtime, precision, snapshot,
                     generation.number if generation is not None else None, built)
        opened.shared = {key: value for key, value in shared.items() if key != "segments"}
        if snapshot is not None:
            opened.shared["segments"] = snapshot.cache
        opened.still_current()
        return opened

    def still_current(self) -> None:
        """Raise unless the folder still holds the index this object opened.

        A rebuild swaps the whole folder atomically, but components load lazily:
        a process that opened the old index must not read a component of the new
        one beside the old documents. So every load is bracketed by this check
        (a rebuild that lands during a load is caught by the check after it).
        """
        try:
            files = json.loads((self.path / "manifest.json").read_text(encoding="utf-8")).get("files")
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError):
            files = None
        if files != self.built or self.generation != current_generation(self.path):
            raise IndexChanged(self.path, None, "the index was rebuilt or updated while this process had it open: "
                               "open it again")

    def is_current(self) -> bool:
        """Whether the folder still holds the version this object opened (see :meth:`still_current`)."""
        try:
            self.still_current()
        except InputError:
            return False
        return True

    def bm25(self) -> BM25Retriever:
        """The BM25 retriever of this index."""
        if "bm25" not in self.manifest["components"]:
            raise InputError(self.path, "components", "this index has no BM25 component")
        if ("bm25", None) not in self._loaded:
            self.still_current()
            loaded = BM25Retriever.load(self.path / "bm25") if self.segments is None else self.segments.bm25
            self.still_current()
            self._loaded["bm25", None] = loaded
        return self._loaded["bm25", None]

    def dense(self, model: str | None = None) -> DenseRetriever:
        """The dense retriever, with the model that built it or ``model`` (which
        must then be the same model: another one is refused)."""
        if "dense" not in self.manifest["components"]:
            raise InputError(self.path, "components",
                             "this index has no dense component (build it with --retrievers dense)")
        if ("dense", model) not in self._loaded:
            stored = self.manifest["components"]["dense"]["config"]["embedder"]
            chosen = {"runtime": self.runtime, "precision": self.precision, **({"model": model} if model else {})}
            config = EmbedderConfig(**{**stored, **chosen})
            self.still_current()
            loaded = self.shared.get(("dense", model)) or DenseRetriever.load(self.path / "dense", Embedder(config))
            self.shared["dense", model] = loaded
            if self.segments is not None:
                loaded = SegmentedDense(loaded, self.segments)
            self.still_current()
            self._loaded["dense", model] = loaded
        return self._loaded["dense", model]

    @property
    def default_retriever(self) -> str:
        """``hybrid`` when the index has both kinds, else the one it has."""
        kinds = self.manifest["components"]
        return "hybrid" if {"bm25", "dense"} <= set(kinds) else next(iter(kinds))

    def retriever(self, name: str, model: str | None = None, hybrid: HybridConfig = HybridConfig()):
        """``bm25``, ``dense`` or ``hybrid`` (the fusion of both).

        Example:
            >>> type(Index.open("indexes/news").retriever("hybrid")).__name__
            'HybridRetriever'
        """
        if name == "bm25":
            return self.bm25()
        if name == "dense":
            return self.dense(model)
        if name == "hybrid":
            return HybridRetriever([self.bm25(), self.dense(model)],
                                   hybrid.resolved(self.manifest.get("fields", ["text"])))
        raise ValueError(f"retriever must be one of {', '.join(RETRIEVERS)}, not '{name}'")

    def doc_ids(self) -> list[str]:
        """Document ids in row order (row ``i`` of any retriever is ``doc_ids()[i]``);
        a deleted article's row keeps its id, and is never found."""
        return self.docs.doc_ids()

    def live_rows(self) -> np.ndarray:
        """The rows of the articles the index holds (deleted ones left out), ascending.

        Example:
            >>> Index.open("indexes/news").live_rows()[:3].tolist()
            [0, 1, 2]
        """
        rows = np.arange(len(self.docs), dtype=np.int64)
        if self.segments is None:
            return rows
        deleted = [d if d is not None else np.zeros(s.documents, dtype=bool)
                   for d, s in zip(self.segments.deleted, self.segments.generation.segments, strict=True)]
        return rows[~np.concatenate(deleted)]

    def live_ids(self) -> list[str]:
        """The ids of the articles the index holds, in row order."""
        ids = self.docs.doc_ids()
        return [ids[row] for row in self.live_rows()]
