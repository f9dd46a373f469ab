"""One loaded version of an index folder, and the stamps of the files it was loaded from.

:class:`Generation` is what :class:`ranker.serve.service.Service` searches; its
:class:`FileStamps` let the service see a file changed under it (truncated,
replaced, removed) before any of its pages is read again, and answer 503 with
why instead of failing on, or crashing over, a damaged file.

Example:
    >>> generation = Generation.load("indexes/news", "auto", "auto")
    >>> generation.names, generation.documents, generation.stamps.changed() is None
    (['bm25', 'dense', 'hybrid'], 6, True)
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ranker.index.folder import RETRIEVERS, Index, IndexChanged
from ranker.search.searcher import index_analyzer


class FileStamps:
    """Inode, size and modification time of some files, as they were when taken.

    Example:
        >>> import tempfile, pathlib
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (folder / "docs.sqlite").write_bytes(b"0123456789")
        >>> stamps = FileStamps(folder, ["docs.sqlite"])
        >>> stamps.changed() is None
        True
        >>> _ = (folder / "docs.sqlite").write_bytes(b"")  # truncated in place
        >>> stamps.changed()
        'docs.sqlite changed on disk (10 bytes when loaded, 0 now)'
    """

    def __init__(self, folder: str | Path, names: Iterable[str]) -> None:
        self.folder = Path(folder)
        self.taken = {name: stat_of(self.folder / name) for name in sorted(names)}

    def now(self) -> tuple:
        """The same files' stamps now (to tell whether anything moved since a failed reload)."""
        return tuple(stat_of(self.folder / name) for name in self.taken)

    def changed(self) -> str | None:
        """The first file that differs from its stamp, said in words; None if none does."""
        for name, was in self.taken.items():
            now = stat_of(self.folder / name)
            if now == was:
                continue
            if now is None:
                return f"{name} is gone from disk"
            if was is not None and now[0] != was[0]:
                return f"{name} was replaced on disk"
            if was is not None and now[1] != was[1]:
                return f"{name} changed on disk ({was[1]:,} bytes when loaded, {now[1]:,} now)"
            return f"{name} changed on disk (modified since it was loaded)"
        return None


class Generation:
    """One version of the index folder, loaded whole: every retriever it has, its
    documents and its analysis. Nothing of it is read lazily afterwards, so it
    keeps answering after a newer version replaces the folder."""

    def __init__(self, index: Index) -> None:
        self.index = index
        self.version = hashlib.sha256(json.dumps(index.manifest["files"], sort_keys=True).encode()).hexdigest()[:12]
        kinds = set(index.manifest["components"])
        self.names = [name for name in RETRIEVERS if name in kinds or (name == "hybrid" and {"bm25", "dense"} <= kinds)]
        self.retrievers = {name: index.retriever(name) for name in self.names}
        self.default = index.default_retriever
        self.analyzer = index_analyzer(index)
        self.documents = index.manifest["doc_count"]
        #: the files this version reads, as they were when it was loaded: a change without a new
        #: manifest is damage, seen before their pages are read again
        self.stamps = FileStamps(index.path, index.manifest["files"])
        # the documents' SQLite connection is shared by the worker and the HTTP threads
        self.lock = threading.Lock()
        self._facets: dict[str, Any] | None = None

    @classmethod
    def load(cls, path: str | Path, runtime: str, precision: str, attempts: int = 10,
             previous: Generation | None = None) -> Generation:
        """The folder's current version, loaded again if another lands while it loads;
        what it shares with the ``previous`` version is taken over, not read again."""
        for attempt in range(attempts):
            try:
                return cls(Index.open(path, runtime, precision, reuse=previous.index if previous else None))
            except IndexChanged:
                if attempt == attempts - 1:
                    raise
                time.sleep(0.2)
        raise AssertionError("unreachable")

    def document(self, doc_id: str) -> dict[str, Any] | None:
        """One article by its id, or None."""
        with self.lock:
            row = self.index.docs.row_of(doc_id)
            if row is None:
                return None
            article = self.index.docs.get([row])[0]
        return {"id": article.doc_id, "title": article.title, "text": article.text, "metadata": article.metadata,
                "index_version": self.version}

    def facets(self) -> dict[str, Any]:
        """The outlets (with their article counts) and the range of dates, for the page's filters."""
        if self._facets is None:
            with self.lock:
                outlets, low, high = self.index.docs.facets()
            self._facets = {"outlets": outlets, "date_from": low, "date_to": high, "documents": self.documents,
                            "index_version": self.version}
        return self._facets


def stat_of(path: Path) -> tuple | None:
    """A file's inode, size and modification time; None if it is not there."""
    try:
        found = path.stat()
    except OSError:
        return None
    return found.st_ino, found.st_size, found.st_mtime_ns


def model_stamps(model: str | Path) -> FileStamps | None:
    """Stamps of the files a trained model's ``ranker.json`` lists (None for a model
    folder without one, such as a backbone given by name)."""
    about = Path(model) / "ranker.json"
    try:
        files = json.loads(about.read_text(encoding="utf-8")).get("files") or {}
    except (OSError, ValueError, AttributeError):
        return None
    return FileStamps(model, [*files, "ranker.json"])
