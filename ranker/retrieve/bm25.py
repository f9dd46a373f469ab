"""BM25 retrieval with bm25s: tokenizer settings, the five classic variants, and
an index saved as ``.npy`` and JSON files (never pickle)."""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ranker.corpus import Article
from ranker.errors import InputError
from ranker.retrieve.base import Results, empty_results

#: bm25s method names. robertson is Okapi BM25 as rank_bm25.BM25Okapi computes it
#: (idf floored at 0 rather than at epsilon times the mean idf); lucene is the
#: default of Lucene/Elasticsearch and of bm25s.
VARIANTS = ("robertson", "lucene", "atire", "bm25l", "bm25+")

#: Variants that give every document a score for every query term, so a zero
#: score does not mean "no query term matched".
_SCORES_NON_MATCHES = ("bm25l", "bm25+")


@dataclass(frozen=True)
class BM25Config:
    """How text becomes tokens and tokens become BM25 scores.

    Example:
        >>> BM25Config(variant="robertson", k1=1.2).k1
        1.2
    """

    variant: str = "lucene"
    k1: float = 1.5
    b: float = 0.75
    delta: float = 0.5
    lowercase: bool = True
    stopwords: str = "en"
    stemmer: str = "english"
    token_pattern: str = r"(?u)\b\w\w+\b"
    # bm25s's retrieval backend. numba scores a query about 28x faster than numpy at
    # 100k documents with the same scores (benchmarks/RESULTS.md), but compiles for
    # about 5 s on the first query of every process: worth it for batch jobs (runs,
    # mining, thousands of queries), not for one interactive search, hence numpy
    backend: str = "numpy"
    #: How many times a document's title is counted (when the index reads titles):
    #: 1 weighs a title word like a body word; 2, the default, did best on the
    #: hand-written queries (docs/realistic.md).
    title_boost: int = 2

    def __post_init__(self) -> None:
        if self.variant not in VARIANTS:
            raise ValueError(f"BM25 variant must be one of {', '.join(VARIANTS)}, not '{self.variant}'")
        if self.k1 < 0 or not 0 <= self.b <= 1:
            raise ValueError(f"BM25 needs k1 >= 0 and 0 <= b <= 1 (got k1={self.k1}, b={self.b})")
        if not 1 <= self.title_boost <= 10:
            raise ValueError(f"title_boost must be between 1 and 10, not {self.title_boost}")
        if self.backend not in ("numba", "numpy"):
            raise ValueError(f"backend must be 'numba' or 'numpy', not '{self.backend}'")
        if self.stopwords not in ("en", "none"):
            raise ValueError(f"stopwords must be 'en' or 'none', not '{self.stopwords}'")
        if self.stemmer != "none":
            import Stemmer

            if self.stemmer not in Stemmer.algorithms():
                raise ValueError(f"unknown Snowball stemmer '{self.stemmer}': choose from {', '.join(Stemmer.algorithms())} or 'none'")


class Analyzer:
    """Text to BM25 tokens: lowercase, split, drop stopwords, Snowball-stem.

    Example:
        >>> Analyzer(BM25Config()).tokens(["The cats are running"])
        [['cat', 'run']]
    """

    def __init__(self, config: BM25Config) -> None:
        self.config = config
        self._stemmer = None
        if config.stemmer != "none":
            import Stemmer

            self._stemmer = Stemmer.Stemmer(config.stemmer)
        self._memo: dict[str, tuple[str, ...]] = {}
        self._split = None
        self._stop: frozenset[str] = frozenset()

    def _tokenize(self, texts: list[str], return_ids: bool, show_progress: bool):
        import bm25s

        return bm25s.tokenize(
            texts,
            lower=self.config.lowercase,
            token_pattern=self.config.token_pattern,
            stopwords="en" if self.config.stopwords == "en" else None,
            stemmer=self._stemmer,
            return_ids=return_ids,
            show_progress=show_progress,
        )

    def tokens(self, texts: list[str], show_progress: bool = False) -> list[list[str]]:
        """The token strings of each text."""
        return self._tokenize(texts, return_ids=False, show_progress=show_progress)

    def cached_tokens(self, texts: list[str]) -> list[tuple[str, ...]]:
        """:meth:`tokens` of short texts (words, queries), remembered.

        Snippets and passage selection analyse every distinct word of each article
        they show, and news repeats its words: remembering them makes that a
        dictionary lookup, where each call of bm25s's tokenizer costs about half a
        millisecond of setup (most of a query's snippet time before this).

        Example:
            >>> Analyzer(BM25Config()).cached_tokens(["Prices", "the", "oil prices"])
            [('price',), (), ('oil', 'price')]
        """
        if len(self._memo) > 500_000:  # bounded: a long-lived server reads an open-ended vocabulary
            self._memo = {}  # replaced, not cleared: another thread may be reading the old one
        memo = self._memo
        missing = [text for text in dict.fromkeys(texts) if text not in memo]
        if missing:
            memo.update(zip(missing, self._analyse(missing)))
        return [memo[text] for text in texts]

    def _analyse(self, texts: list[str]) -> list[tuple[str, ...]]:
        """bm25s.tokenize's analysis, step for step (lowercase, its regex, its stopword
        list, then the stemmer), without its per-call set-up: the same tokens
        (tests/test_bm25.py compares them on whole articles)."""
        if self._split is None:
            from bm25s.tokenization import _infer_stopwords

            self._split = re.compile(self.config.token_pattern).findall
            self._stop = frozenset(_infer_stopwords("en" if self.config.stopwords == "en" else None))
        out = []
        for text in texts:
            kept = [t for t in self._split(text.lower() if self.config.lowercase else text) if t not in self._stop]
            out.append(tuple(self._stemmer.stemWords(kept)) if self._stemmer is not None and kept else tuple(kept))
        return out

    def token_ids(self, texts: list[str], show_progress: bool = True):
        """A ``bm25s.tokenization.Tokenized`` (ids plus vocabulary) for indexing."""
        return self._tokenize(texts, return_ids=True, show_progress=show_progress)


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

    def index(self, texts: list[str], show_progress: bool = True) -> None:
        """Index the documents' texts (what :func:`ranker.fields.field_text` makes of each article)."""
        import bm25s

        tokenized = self.analyzer.token_ids(list(texts), show_progress=show_progress)
        if not tokenized.vocab:
            raise ValueError("no document holds a word BM25 can index (every word is a stopword or punctuation): "
                             "index with --stopwords none, or --retrievers dense")
        model = bm25s.BM25(
            k1=self.config.k1, b=self.config.b, delta=self.config.delta, method=self.config.variant,
            backend=self.config.backend,
        )
        model.index(tokenized, show_progress=show_progress)
        self._model = model

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
            model = bm25s.BM25.load(folder, allow_pickle=False, show_progress=False, backend=config.backend)
        except (OSError, ValueError, KeyError) as err:
            # numpy refuses pickled object arrays with a ValueError; a missing or garbled array is the same to the user
            raise InputError(folder, None, f"not a readable bm25s index ({err})") from None
        return cls(config, model)
