"""How text becomes BM25 tokens: the settings (:class:`BM25Config`) and the
:class:`Analyzer` that applies them, shared by indexing (:mod:`ranker.retrieve.bm25_build`),
search (:mod:`ranker.retrieve.bm25`) and snippets."""

from __future__ import annotations

import re
from dataclasses import dataclass

#: bm25s method names. robertson is Okapi BM25 as rank_bm25.BM25Okapi computes it
#: (idf floored at 0 rather than at epsilon times the mean idf); lucene is the
#: default of Lucene/Elasticsearch and of bm25s.
VARIANTS = ("robertson", "lucene", "atire", "bm25l", "bm25+")


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
                raise ValueError(f"unknown Snowball stemmer '{self.stemmer}': choose from "
                                 f"{', '.join(Stemmer.algorithms())} or 'none'")


class WordMemory:
    """What an :class:`Analyzer` remembers of the texts it analysed: each one's tokens,
    the texts in the order they were learned, and the texts holding each token (so a
    query's matching words are a union of sets, not a look at every word known).

    Readers on other threads see a text in ``learned`` only once its tokens and its
    entries in ``by_token`` are there (:meth:`add` writes them in that order).

    Example:
        >>> memory = WordMemory()
        >>> memory.add(["Prices", "priced"], [("price",), ("price",)])
        >>> sorted(memory.by_token["price"]), memory.learned
        (['Prices', 'priced'], ['Prices', 'priced'])
    """

    __slots__ = ("by_token", "learned", "tokens")

    def __init__(self) -> None:
        self.tokens: dict[str, tuple[str, ...]] = {}
        self.learned: list[str] = []
        self.by_token: dict[str, set[str]] = {}

    def add(self, texts: list[str], analysed: list[tuple[str, ...]]) -> None:
        """Remember ``texts`` (not yet known) and their tokens."""
        self.tokens.update(zip(texts, analysed, strict=True))
        by_token = self.by_token
        for text, tokens in zip(texts, analysed, strict=True):
            for token in tokens:
                by_token.setdefault(token, set()).add(text)
        self.learned.extend(texts)


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
        self.memory = WordMemory()
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
        if len(self.memory.tokens) > 500_000:  # bounded: a long-lived server reads an open-ended vocabulary
            self.memory = WordMemory()  # replaced, not cleared: another thread may be reading the old one
        memory = self.memory
        memo = memory.tokens
        missing = [text for text in dict.fromkeys(texts) if text not in memo]
        if missing:
            memory.add(missing, self._analyse(missing))
        return [memo[text] for text in texts]

    def _analyse(self, texts: list[str]) -> list[tuple[str, ...]]:
        """bm25s.tokenize's analysis, step for step (lowercase, its regex, its stopword
        list, then the stemmer), without its per-call set-up: the same tokens
        (tests/test_bm25.py compares them on whole articles)."""
        return [tuple(self.stem(kept)) if kept else () for kept in self.words(texts)]

    def words(self, texts: list[str]) -> list[list[str]]:
        """Each text lowercased, split by the token pattern, stopwords dropped: the
        tokens before stemming (which :meth:`stem` does, once per distinct word).

        Example:
            >>> Analyzer(BM25Config()).words(["The cats are running"])
            [['cats', 'running']]
        """
        if self._split is None:
            from bm25s.tokenization import _infer_stopwords

            self._split = re.compile(self.config.token_pattern).findall
            self._stop = frozenset(_infer_stopwords("en" if self.config.stopwords == "en" else None))
        split, stop, lower = self._split, self._stop, self.config.lowercase
        return [[t for t in split(text.lower() if lower else text) if t not in stop] for text in texts]

    def stem(self, words: list[str]) -> list[str]:
        """The stem of each word (the words themselves without a stemmer)."""
        return self._stemmer.stemWords(words) if self._stemmer is not None else list(words)

    def token_ids(self, texts: list[str], show_progress: bool = True):
        """A ``bm25s.tokenization.Tokenized`` (ids plus vocabulary) for indexing."""
        return self._tokenize(texts, return_ids=True, show_progress=show_progress)
