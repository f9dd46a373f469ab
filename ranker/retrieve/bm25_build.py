"""A bm25s index built chunk by chunk, in memory that does not grow with the corpus' text.

``bm25s.BM25.index`` takes the whole corpus as Python lists of tokens: about 9.6 GiB
of resident memory for a million news-length documents, and it has no streaming
form. This builds the very arrays it would (the CSC score matrix, the vocabulary
and, for BM25L and BM25+, the non-occurrence array) with bm25s's own idf and
term-frequency formulas, in two passes:

1. each chunk of texts is analysed (:class:`~ranker.retrieve.bm25.Analyzer`, bm25s's
   steps), each new word gets the next id (first appearance: the same files on
   every run), each (document, word) pair is counted once with its term frequency,
   the document frequencies are added up, and the chunk's pairs are spilled to an
   unnamed scratch file (never visible, gone when closed or killed);
2. with the document frequencies and the mean length known, each chunk's pairs are
   scored and placed straight into their column of the matrix (column starts are
   the cumulative document frequencies: a counting sort, no sort of the whole).

Memory is the matrix itself (8 bytes a pair), the vocabulary and one chunk; the
saved index is read by ``bm25s.BM25.load`` like one of its own, and gives the same
scores as ``bm25s.BM25.index`` bit for bit (tests/test_streaming.py).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from ranker.retrieve.analysis import Analyzer, BM25Config

#: Texts analysed at a time: enough for numpy to pay; few enough that their token
#: strings (about 50 MB for 2,000 news articles) stay small beside the matrix.
CHUNK = 2_000


class ChunkedBM25Builder:
    """Feed texts one at a time with :meth:`push` (or a chunk with :meth:`add`), then
    :meth:`finish` for the bm25s model; ``seconds`` is the time spent in both.

    Example:
        >>> builder = ChunkedBM25Builder(BM25Config())
        >>> builder.push("oil prices fell"); builder.push("the dam broke")
        >>> model = builder.finish()
        >>> model.scores["num_docs"], sorted(model.vocab_dict)
        (2, ['', 'broke', 'dam', 'fell', 'oil', 'price'])
    """

    def __init__(self, config: BM25Config, scratch: str | Path | None = None) -> None:
        """``scratch``: the folder of the spill file (default: the system's temporary folder)."""
        self.config = config
        self.analyzer = Analyzer(config)
        self.vocab: dict[str, int] = {}  # stem -> column
        self._word_ids: dict[str, int] = {}  # word before stemming -> column
        self._df = np.zeros(0, dtype=np.int64)
        self._lengths: list[np.ndarray] = []
        self._chunks: list[int] = []  # documents per spilled chunk
        self._pending: list[str] = []
        self._spill = tempfile.TemporaryFile(dir=scratch, prefix=".bm25-pairs-")
        self.seconds = 0.0

    @property
    def documents(self) -> int:
        """How many texts were added so far."""
        return sum(self._chunks)

    def close(self) -> None:
        """Let go of the spill file (its space is freed at once; it never had a name)."""
        self._spill.close()

    def push(self, text: str) -> None:
        """One more text; analysed with the others once :data:`CHUNK` are waiting."""
        self._pending.append(text)
        if len(self._pending) >= CHUNK:
            self.add(self._pending)
            self._pending = []

    def add(self, texts: list[str]) -> None:
        """Pass 1 for one chunk: analyse, count each (document, word) pair, spill."""
        began = time.perf_counter()
        # as bm25s does: stem each distinct word once, not each occurrence
        tokens = self.analyzer.words(texts)
        known, vocab = self._word_ids, self.vocab
        new = [word for word in dict.fromkeys(t for doc in tokens for t in doc) if word not in known]
        for word, stem in zip(new, self.analyzer.stem(new), strict=True):
            known[word] = vocab.setdefault(stem, len(vocab))
        lengths = np.fromiter(map(len, tokens), dtype=np.int64, count=len(tokens))
        ids = np.fromiter((known[t] for doc in tokens for t in doc), dtype=np.int64, count=int(lengths.sum()))
        docs = np.repeat(np.arange(len(tokens), dtype=np.int64), lengths)
        pairs, tf = np.unique((docs << 32) | ids, return_counts=True)  # sorted by document, then word
        words = (pairs & 0xFFFFFFFF).astype(np.int32)
        per_doc = np.bincount(pairs >> 32, minlength=len(tokens)).astype(np.int64)
        if len(self._df) < len(vocab):
            self._df = np.concatenate([self._df, np.zeros(len(vocab) - len(self._df), dtype=np.int64)])
        self._df += np.bincount(words, minlength=len(self._df))
        for array in (per_doc, words, tf.astype(np.int32)):
            np.save(self._spill, array, allow_pickle=False)
        self._lengths.append(lengths)
        self._chunks.append(len(tokens))
        self.seconds += time.perf_counter() - began

    def finish(self, show_progress: bool = False, postings: bool = False):
        """Pass 2: score every pair into the CSC matrix; a ``bm25s.BM25`` ready to save or search.
        ``postings``: also keep each pair's term frequency and each document's length
        (``self.tf``, ``self.lengths``) in the same pass, so that the index can take new
        segments later (:class:`ranker.retrieve.bm25_segments.Postings` reads them beside
        the bm25s arrays, whose columns and rows they share).

        Raises:
            ValueError: no text holds a word BM25 can index.
        """
        import bm25s
        from bm25s.scoring import _build_idf_array, _build_nonoccurrence_array, _select_idf_scorer, _select_tfc_scorer

        if self._pending or not self._chunks:
            self.add(self._pending)
            self._pending = []
        began = time.perf_counter()
        if not self.vocab:
            raise ValueError("no document holds a word BM25 can index (every word is a stopword or punctuation): "
                             "index with --stopwords none, or --retrievers dense")
        config = self.config
        model = bm25s.BM25(k1=config.k1, b=config.b, delta=config.delta, method=config.variant, backend=config.backend)
        lengths = np.concatenate(self._lengths)
        n_docs, n_vocab = len(lengths), len(self.vocab)
        average = lengths.mean()  # as bm25s takes it: np.array(lengths).mean()
        frequencies = dict(enumerate(self._df.tolist()))
        idf = _build_idf_array(frequencies, n_docs, _select_idf_scorer(model.idf_method), model.dtype)
        nonoccurrence = None
        if config.variant in model.methods_requiring_nonoccurrence:
            nonoccurrence = _build_nonoccurrence_array(
                frequencies, n_docs, _select_idf_scorer(model.idf_method), _select_tfc_scorer(config.variant),
                average, average, config.k1, config.b, config.delta, model.dtype)
        tfc = _select_tfc_scorer(config.variant)

        def score(words: np.ndarray, tf: np.ndarray, docs: np.ndarray) -> np.ndarray:
            # the same operations, in the same precision, as bm25s's per-document loop
            scores = idf[words] * tfc(tf_array=tf.astype(model.dtype), l_d=lengths[docs], l_avg=average,
                                      k1=config.k1, b=config.b, delta=config.delta)
            return scores - nonoccurrence[words] if nonoccurrence is not None else scores

        indptr, rows, data, tf = self._columns(score, model.dtype, model.int_dtype, show_progress, postings)
        self.close()
        if postings:
            self.tf, self.lengths = tf, lengths.astype(np.int32)
        vocab = dict(self.vocab)
        vocab.setdefault("", n_vocab)  # bm25s adds the empty token past the matrix's columns
        model.scores = {"data": data, "indices": rows, "indptr": indptr, "num_docs": n_docs}
        model.vocab_dict = vocab
        model.unique_token_ids_set = set(vocab.values())
        model.nonoccurrence_array = nonoccurrence
        self.seconds += time.perf_counter() - began
        return model


    def finish_postings(self, show_progress: bool = False
                        ) -> tuple[dict[str, int], np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Pass 2 without scoring: the vocabulary, each word's documents and term
        frequencies (CSC: ``indptr``, rows, tf), and each document's length — what a
        segment keeps (:class:`ranker.retrieve.bm25_segments.Postings`), to be scored at
        query time with the statistics of every segment."""
        if self._pending or not self._chunks:
            self.add(self._pending)
            self._pending = []
        began = time.perf_counter()
        indptr, rows, tf, _ = self._columns(lambda words, tf, docs: tf, np.int32, np.int32, show_progress)
        self.close()
        lengths = np.concatenate(self._lengths).astype(np.int32)
        self.seconds += time.perf_counter() - began
        return dict(self.vocab), indptr, rows, tf, lengths

    def _columns(self, value, dtype, int_dtype, show_progress: bool, keep_tf: bool = False
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
        """The spilled pairs as a CSC matrix (``indptr``, rows, ``value(words, tf, docs)``),
        each chunk placed straight into its columns; ``keep_tf``: their term frequencies too."""
        from tqdm import tqdm

        indptr = np.zeros(len(self.vocab) + 1, dtype=np.int64)
        np.cumsum(self._df, out=indptr[1:])
        data = np.empty(int(indptr[-1]), dtype=dtype)
        rows = np.empty(int(indptr[-1]), dtype=int_dtype)
        kept = np.empty(int(indptr[-1]), dtype=np.int32) if keep_tf else None
        heads = indptr[:-1].copy()  # where each column's next entry goes
        self._spill.seek(0)
        first = 0
        for count in tqdm(self._chunks, desc="BM25 scores", unit="chunk", disable=not show_progress):
            per_doc, words, tf = (np.load(self._spill, allow_pickle=False) for _ in range(3))
            if not len(words):  # a chunk whose every text lacks an indexable word
                first += count
                continue
            docs = np.repeat(np.arange(first, first + count, dtype=np.int64), per_doc)
            values = value(words, tf, docs)
            # a stable sort by word keeps each column's documents in ascending order
            order = np.argsort(words, kind="stable")
            words, docs, values, tf = words[order], docs[order], values[order], tf[order]
            starts = np.flatnonzero(np.r_[True, words[1:] != words[:-1]])
            runs = np.diff(np.r_[starts, len(words)])
            at = heads[words] + (np.arange(len(words)) - np.repeat(starts, runs))
            data[at] = values
            rows[at] = docs
            if kept is not None:
                kept[at] = tf
            heads[words[starts]] += runs
            first += count
        return indptr, rows, data, kept

def build_bm25(texts: Iterable[str], config: BM25Config, show_progress: bool = False,
               scratch: str | Path | None = None):
    """A ``bm25s.BM25`` over ``texts`` (any iterable, read once, :data:`CHUNK` at a time).

    Example:
        >>> build_bm25(["oil prices fell", "the dam broke"], BM25Config()).scores["num_docs"]
        2
    """
    builder = ChunkedBM25Builder(config, scratch)
    try:
        for text in texts:
            builder.push(text)
        return builder.finish(show_progress)
    finally:
        builder.close()
