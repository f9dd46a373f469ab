"""BM25 over segments, scored as one index of their live documents.

A segmented index (issue 37) adds articles as a new small segment instead of
building everything again. bm25s cannot score across segments: it stores each
posting's score with the corpus' idf and mean length already folded in, and
both change with every segment added or document deleted. So a segment keeps
:class:`Postings` — each word's documents and term frequencies, and each
document's length — and :class:`SegmentedBM25` scores a query from them with the
statistics of every live segment (document frequencies and the mean length over
the documents not deleted), by bm25s's own idf and term-frequency formulas: the
scores a fresh bm25s build of the live documents gives, for all five variants
(``tests/test_bm25_segments.py``). Written here because no library we use scores
postings with statistics from outside them (Lucene does, in Java).

Example:
    >>> config = BM25Config()
    >>> old = Postings.build(["oil prices fell", "the dam broke"], config)
    >>> new = Postings.build(["oil output rose"], config)
    >>> index = SegmentedBM25(config, [old, new], deleted=[np.array([False, True]), None])
    >>> index.documents, index.live
    (3, 2)
    >>> [(row, round(score, 4)) for row, score in index.search(["oil"], k=3).hits(0)]  # the dam (row 1) is deleted
    [(0, 0.0729), (2, 0.0729)]
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ranker.retrieve.analysis import Analyzer, BM25Config
from ranker.retrieve.base import Results, empty_results
from ranker.retrieve.bm25_build import ChunkedBM25Builder

#: Variants that give every document a score for every query term (see ranker.retrieve.bm25).
_SCORES_NON_MATCHES = ("bm25l", "bm25+")
_ARRAYS = ("indptr", "rows", "tf", "lengths")


@dataclass(frozen=True, eq=False)
class Postings:
    """One segment's BM25 postings, unscored: column ``vocab[word]`` of the CSC
    matrix (``indptr``, ``rows``, ``tf``) holds the rows of the documents holding the
    word, ascending, and how often it occurs in each; ``lengths`` counts each
    document's tokens (after stopwords), as bm25s does."""

    vocab: dict[str, int]
    indptr: np.ndarray
    rows: np.ndarray
    tf: np.ndarray
    lengths: np.ndarray

    @property
    def documents(self) -> int:
        return len(self.lengths)

    @classmethod
    def build(cls, texts: Iterable[str], config: BM25Config, show_progress: bool = False,
              scratch: str | Path | None = None) -> Postings:
        """The postings of ``texts`` (read once, in chunks: :mod:`ranker.retrieve.bm25_build`)."""
        builder = ChunkedBM25Builder(config, scratch)
        try:
            for text in texts:
                builder.push(text)
            return cls(*builder.finish_postings(show_progress))
        finally:
            builder.close()

    def save(self, folder: str | Path) -> None:
        """Write ``vocab.json`` and one ``.npy`` per array into ``folder`` (no pickle)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        for name in _ARRAYS:
            np.save(folder / f"{name}.npy", getattr(self, name), allow_pickle=False)
        (folder / "vocab.json").write_text(json.dumps(self.vocab, ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, folder: str | Path) -> Postings:
        """Postings written by :meth:`save`, or those of an index's first segment: its
        bm25s folder, whose columns and rows they share, with ``tf.npy`` and
        ``lengths.npy`` beside them (:meth:`ranker.retrieve.bm25_build.ChunkedBM25Builder.finish`
        with ``postings``). Memory-mapped: a query reads its words' columns.

        Raises:
            FileNotFoundError: a bm25s folder without term frequencies (built before segments).
        """
        folder = Path(folder)

        def array(name: str) -> np.ndarray:
            return np.asarray(np.load(folder / name, mmap_mode="r", allow_pickle=False))

        if (folder / "rows.npy").is_file():
            vocab = json.loads((folder / "vocab.json").read_text(encoding="utf-8"))
            return cls(vocab, *(array(f"{name}.npy") for name in _ARRAYS))
        vocab = json.loads((folder / "vocab.index.json").read_text(encoding="utf-8"))
        vocab.pop("", None)  # bm25s's empty token, past the matrix's columns
        return cls(vocab, array("indptr.csc.index.npy"), array("indices.csc.index.npy"), array("tf.npy"),
                   array("lengths.npy"))

    @staticmethod
    def beside_bm25s(folder: str | Path) -> bool:
        """Whether the bm25s folder ``folder`` keeps the term frequencies a segment needs."""
        return all((Path(folder) / name).is_file() for name in ("tf.npy", "lengths.npy"))


class SegmentedBM25:
    """Search ``segments`` as one index: rows count across them in order (a segment's
    row ``r`` is ``offset + r``), deleted rows are never found and count in no
    statistic.

    Args:
        config: the analysis and the variant (every segment built with the same).
        segments: their postings, in row order.
        deleted: for each segment, a boolean array marking its deleted rows, or None.
    """

    def __init__(self, config: BM25Config, segments: Sequence[Postings],
                 deleted: Sequence[np.ndarray | None] | None = None) -> None:
        import bm25s
        from bm25s.scoring import _select_idf_scorer, _select_tfc_scorer

        self.config = config
        self.analyzer = Analyzer(config)
        self.segments = list(segments)
        self.deleted = list(deleted) if deleted is not None else [None] * len(self.segments)
        sizes = [s.documents for s in self.segments]
        self.offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        self.live = sum(n - int(d.sum()) if d is not None else n for n, d in zip(sizes, self.deleted, strict=True))
        total = sum(int(s.lengths[~d].sum()) if d is not None else int(s.lengths.sum())
                    for s, d in zip(self.segments, self.deleted, strict=True))
        self.average = total / self.live if self.live else 0.0  # bm25s: the mean over every document
        self._dead = np.concatenate([np.zeros(0, dtype=np.int64)] + [
            offset + np.flatnonzero(d) for d, offset in zip(self.deleted, self.offsets, strict=False) if d is not None])
        model = bm25s.BM25(method=config.variant)
        self._idf = _select_idf_scorer(model.idf_method)
        self._tfc = _select_tfc_scorer(config.variant)
        self._dtype = np.dtype(model.dtype)

    @property
    def documents(self) -> int:
        """Rows across the segments, deleted ones included."""
        return int(self.offsets[-1])

    def frequency(self, word: str) -> int:
        """How many live documents hold ``word`` (an analysed token)."""
        found = 0
        for segment, deleted in zip(self.segments, self.deleted, strict=True):
            column = segment.vocab.get(word)
            if column is None:
                continue
            start, end = segment.indptr[column], segment.indptr[column + 1]
            found += int(end - start) if deleted is None else int(np.count_nonzero(~deleted[segment.rows[start:end]]))
        return found

    def scores(self, tokens: list[str]) -> np.ndarray:
        """Every row's score for a query's tokens (a word repeated counts again, as in
        bm25s); deleted rows score ``-inf``."""
        config, dtype = self.config, self._dtype
        scores = np.zeros(self.documents, dtype=dtype)
        frequencies = {word: self.frequency(word) for word in dict.fromkeys(tokens)}
        nonoccurring = 0.0
        for word in tokens:
            df = frequencies[word]
            if df == 0:  # a fresh build would not know the word: bm25s leaves it out
                continue
            idf = dtype.type(self._idf(df, N=self.live))
            absent = 0.0
            if config.variant in _SCORES_NON_MATCHES:  # what a document without the word gets for it
                absent = float(idf * self._tfc(tf_array=0, l_d=self.average, l_avg=self.average, k1=config.k1,
                                               b=config.b, delta=config.delta))
                nonoccurring += absent
            for segment, offset in zip(self.segments, self.offsets, strict=False):
                column = segment.vocab.get(word)
                if column is None:
                    continue
                start, end = segment.indptr[column], segment.indptr[column + 1]
                rows = segment.rows[start:end]
                weight = idf * self._tfc(tf_array=segment.tf[start:end].astype(dtype), l_d=segment.lengths[rows],
                                         l_avg=self.average, k1=config.k1, b=config.b, delta=config.delta)
                scores[offset + rows] += (weight - absent).astype(dtype)  # rows are distinct within a column
        if nonoccurring:
            scores += dtype.type(nonoccurring)
        scores[self._dead] = -np.inf
        return scores

    def search(self, queries: list[str], k: int) -> Results:
        """Top-``k`` rows for each query, equal scores in row order; a query whose words
        no live document holds finds nothing, as with :class:`~ranker.retrieve.bm25.BM25Retriever`."""
        results = empty_results(len(queries), k)
        depth = min(k, self.live)
        if depth == 0:
            return results
        for q, tokens in enumerate(self.analyzer.tokens(queries)):
            scores = self.scores(tokens)
            if self.config.variant in _SCORES_NON_MATCHES:
                rows, found = top(scores, depth)
            else:  # a zero score: no query word in it; the top of the rest (partitioning every row cost most)
                matched = np.flatnonzero(scores > 0)
                at, found = top(scores[matched], depth)
                rows = matched[at]
            keep = np.isfinite(found)
            results.rows[q, : keep.sum()] = rows[keep]
            results.scores[q, : keep.sum()] = found[keep]
        return results


def top(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` highest of ``scores`` (rows and scores), best first, equal scores in
    row order — also at the cut: of rows tied with the k-th, the lowest are kept.

    Example:
        >>> top(np.array([1.0, 3.0, 3.0, 2.0, 3.0]), 2)
        (array([1, 2]), array([3., 3.]))
    """
    k = min(k, len(scores))
    if k == 0:
        return np.zeros(0, dtype=np.int64), scores[:0]
    kth = np.partition(scores, len(scores) - k)[len(scores) - k]
    candidates = np.flatnonzero(scores >= kth)  # ascending rows, ties at the cut included
    order = np.lexsort((candidates, -scores[candidates]))[:k]
    rows = candidates[order]
    return rows, scores[rows]
