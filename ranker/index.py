"""Index folders: the documents, one folder per retriever, and a manifest.

Layout::

    INDEX/
      manifest.json   what built it: ranker version, doc count, each component's
                      settings, and the sha256 of every file
      docs.sqlite     the articles (id, title, text, metadata) by row number
      bm25/           bm25s arrays (.npy) and JSON, no pickle

The folder is built beside its final place and renamed into it, so a crash
leaves the previous index intact.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ranker import __version__
from ranker.corpus import Article
from ranker.docstore import DocStore, write_docstore
from ranker.errors import InputError
from ranker.files import atomic_directory, sha256_file
from ranker.retrieve.bm25 import BM25Config, BM25Retriever

FORMAT = "ranker-index"
FORMAT_VERSION = 1


def build_index(
    articles: list[Article],
    out: str | Path,
    bm25: BM25Config = BM25Config(),
    source: str = "",
    show_progress: bool = True,
) -> dict[str, Any]:
    """Index ``articles`` into the folder ``out`` and return its manifest.

    Args:
        articles: the corpus; ids must be unique (the readers guarantee it).
        out: the index folder; an existing one is replaced only once the new one
            is complete.
        bm25: tokenizer and scoring settings.
        source: where the corpus came from, recorded in the manifest.
        show_progress: show progress bars.

    Example:
        >>> import tempfile, pathlib
        >>> out = pathlib.Path(tempfile.mkdtemp()) / "idx"
        >>> m = build_index([Article("a", "T", "oil prices")], out, show_progress=False)
        >>> m["doc_count"]
        1
    """
    if not articles:
        raise InputError(source or "corpus", None, "the corpus is empty: nothing to index")
    started = time.perf_counter()
    with atomic_directory(out) as tmp:
        count = write_docstore(tmp / "docs.sqlite", articles)
        retriever = BM25Retriever(bm25)
        retriever.index(articles, show_progress=show_progress)
        retriever.save(tmp / "bm25")
        manifest = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "ranker_version": __version__,
            "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "source": str(source),
            "doc_count": count,
            "components": {"bm25": asdict(bm25)},
            "build_seconds": round(time.perf_counter() - started, 3),
            "files": {
                str(p.relative_to(tmp)): sha256_file(p) for p in sorted(tmp.rglob("*")) if p.is_file()
            },
        }
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


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

    @classmethod
    def open(cls, path: str | Path) -> Index:
        """Open an index folder, checking that it is one this version can read."""
        path = Path(path)
        manifest_path = path / "manifest.json"
        if not manifest_path.is_file():
            raise InputError(path, None, "not an index folder (no manifest.json); build one with 'ranker index'")
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
                f"index format {manifest.get('format_version')} but this ranker reads {FORMAT_VERSION}: rebuild the index",
            )
        return cls(path, manifest, DocStore(path / "docs.sqlite"))

    def bm25(self) -> BM25Retriever:
        """The BM25 retriever of this index."""
        if "bm25" not in self.manifest["components"]:
            raise InputError(self.path, "components", "this index has no BM25 component")
        return BM25Retriever.load(self.path / "bm25")

    def doc_ids(self) -> list[str]:
        """Document ids in row order (row ``i`` of any retriever is ``doc_ids()[i]``)."""
        return self.docs.doc_ids()
