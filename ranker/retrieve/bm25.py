"""BM25 retrieval with bm25s: the five classic variants, an index built in chunks
(:mod:`ranker.retrieve.bm25_build`) and saved as ``.npy`` and JSON files (never
pickle), memory-mapped when loaded. The analysis settings live in
:mod:`ranker.retrieve.analysis`, and are importable from here too."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict
from pathlib import Path

import numpy as np

from ranker.core.errors import InputError
from ranker.retrieve.analysis import VARIANTS, Analyzer, BM25Config
from ranker.retrieve.base import Results, empty_results
from ranker.retrieve.bm25_build import build_bm25

__all__ = ["VARIANTS", "Analyzer", "BM25Config", "BM25Retriever"]

#: Variants that give every document a score for every query term, so a zero
#: score does not mean "no query term matched".
_SCORES_NON_MATCHES = ("bm25l", "bm25+")


class BM25Retriever:
    """BM25 over an index's documents, built and searched with bm25s.

    Example:
        >>> r = BM25Retriever(BM25Config())
        >>> r.index(["oil prices fell", "the dam broke"])
        >>> r.search(["oil price"], k=2).hits(0)[0][0]
        0
    """

    def __init__(self, config: BM25Config = BM25Config(), model=None) -> None:
        self.config = config
        self.analyzer = Analyzer(config)
        self._model = model

    def index(self, texts: Iterable[str], show_progress: bool = True, scratch: str | Path | None = None) -> None:
        """Index the documents' texts (what :func:`ranker.data.fields.field_text` makes of each
        article), read once in chunks (:mod:`ranker.retrieve.bm25_build`): an iterator
        over a million texts never holds them all. ``scratch``: where the builder's
        unnamed spill file lives (default: the system's temporary folder)."""
        self._model = build_bm25(texts, self.config, show_progress, scratch)

    @property
    def doc_count(self) -> int:
        return int(self._require_model().scores["num_docs"])

    def _require_model(self):
        if self._model is None:
            raise RuntimeError("BM25Retriever: call index() or load() first")
        return self._model

    def search(self, queries: list[str], k: int, show_progress: bool = False) -> Results:
        """Top-k documents for each query; queries with no indexed term find nothing.

        Args:
            queries: query texts.
            k: how many documents each query gets at most.
            show_progress: show a progress bar over the queries.

        Returns:
            :class:`Results` with ``(len(queries), k)`` arrays.
        """
        model = self._require_model()
        results = empty_results(len(queries), k)
        tokens = self.analyzer.tokens(queries)
        known = [i for i, t in enumerate(tokens) if any(tok in model.vocab_dict for tok in t)]
        depth = min(k, self.doc_count)
        if not known or depth == 0:
            return results
        rows, scores = model.retrieve(
            [tokens[i] for i in known], k=depth, show_progress=show_progress, n_threads=0
        )
        rows = np.asarray(rows, dtype=np.int64)
        scores = np.asarray(scores, dtype=np.float32)
        # Equal scores are ordered by row so that a search is reproducible.
        order = np.lexsort((rows, -scores), axis=-1)
        rows = np.take_along_axis(rows, order, axis=-1)
        scores = np.take_along_axis(scores, order, axis=-1)
        if self.config.variant not in _SCORES_NON_MATCHES:
            # A zero score means no query term occurs in the document: not a match.
            miss = scores <= 0
            rows[miss] = -1
            scores[miss] = -np.inf
        results.rows[known, :depth] = rows
        results.scores[known, :depth] = scores
        return results

    def save(self, folder: str | Path) -> None:
        """Write the index as bm25s's ``.npy``/JSON files plus ``config.json``."""
        folder = Path(folder)
        self._require_model().save(folder, show_progress=False)
        (folder / "config.json").write_text(json.dumps(asdict(self.config), indent=2))

    @classmethod
    def load(cls, folder: str | Path) -> BM25Retriever:
        """Load an index written by :meth:`save` (``allow_pickle=False``)."""
        import bm25s

        folder = Path(folder)
        try:
            config = BM25Config(**json.loads((folder / "config.json").read_text()))
        except (OSError, ValueError, TypeError) as err:
            raise InputError(folder / "config.json", None, f"not a ranker BM25 config ({err})") from None
        try:
            # memory-mapped: opening a million-article index reads its vocabulary, not its
            # gigabytes of scores; a query pages in the columns of its words alone
            model = bm25s.BM25.load(folder, allow_pickle=False, show_progress=False, backend=config.backend, mmap=True)
        except (OSError, ValueError, KeyError) as err:
            # numpy refuses pickled object arrays with a ValueError; a missing or garbled array is the same to the user
            raise InputError(folder, None, f"not a readable bm25s index ({err})") from None
        for name in ("data", "indices", "indptr"):
            # plain arrays over the same mapped pages: slicing a np.memmap runs the
            # subclass's Python hooks for every query word, which shows on small indexes
            model.scores[name] = np.asarray(model.scores[name])
        return cls(config, model)
