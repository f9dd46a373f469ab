"""Which part of a long article a person or the cross-encoder is shown.

A news article runs to a median of about 570 word pieces; the cross-encoder reads
128. Reading only the head loses the evidence BM25 sees: on the news benchmark's
test titles, 66% of a query's terms occur in the relevant article's first 128
tokens but 81% somewhere in it (61% and 82% for subtitles). So the reranker can
read the ``width``-word window holding the most query terms instead — query-biased
passage selection, the idea of KeyB (Li et al., 2023) with one block — at no
extra scoring cost. Written by hand: no library we use selects passages.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np


@lru_cache(maxsize=1)
def default_analyzer():
    """BM25's default analysis (lowercase, English stopwords, Snowball stemming)."""
    from ranker.retrieve.bm25 import Analyzer, BM25Config

    return Analyzer(BM25Config())


class QueryMatcher:
    """Which words match a term of one query after analysis (so "prices" matches
    "price"; stopwords match nothing).

    A page of 100 snippets reads about 50,000 words, and deciding each through the
    analyser was most of a search's time. Here the words known to match are a set,
    built from the analyser's memory of which words hold each of the query's terms
    (:class:`~ranker.retrieve.analysis.WordMemory`) and kept up with the words it
    learns since; a word is then one set lookup, done in C by ``map``.

    Example:
        >>> matcher = QueryMatcher("oil price")
        >>> matcher.flags(["Oil", "prices", "the", "rose", "Oil"])
        [True, True, False, False, True]
    """

    def __init__(self, query: str, analyzer=None) -> None:
        self.analyzer = analyzer or default_analyzer()
        self.terms = frozenset(self.analyzer.cached_tokens([query])[0])
        self._memory = None
        self._upto = 0
        self._matching: set[str] = set()

    def flags(self, words: list[str]) -> list[bool]:
        """Whether each of ``words`` matches a term of the query."""
        unknown = set(words).difference(self.analyzer.memory.tokens)
        if unknown:
            self.analyzer.cached_tokens(list(unknown))
        self._catch_up()
        return list(map(self._matching.__contains__, words))

    def _catch_up(self) -> None:
        """Add the matching words the analyser learned since the last look (all it knows,
        the first time or after it forgot everything to stay bounded)."""
        memory = self.analyzer.memory
        if memory is not self._memory:
            # how far ``learned`` went before the union: a word learned meanwhile is looked at below
            self._memory, self._upto = memory, len(memory.learned)
            self._matching = set().union(*(memory.by_token.get(term, ()) for term in self.terms))
        new = memory.learned[self._upto :]
        if new:
            self._upto += len(new)
            terms, tokens = self.terms, memory.tokens
            self._matching.update(word for word in new if not terms.isdisjoint(tokens[word]))


def best_window(text: str, query: str | QueryMatcher, width: int, analyzer=None) -> tuple[list[str], int]:
    """The words of ``text`` and the start of the ``width``-word window holding the
    most words that match a query term (after analysis, so "prices" matches
    "price"). The first such window wins, so a text without matches gives its head.
    ``query`` may be a :class:`QueryMatcher`, to share its memory between texts.

    Example:
        >>> best_window("a b c oil prices rose d e", "oil price", width=3)[1]
        3
    """
    words = text.split()  # the words between whitespace, as the old ``\S+`` pattern found them
    if len(words) <= width:
        return words, 0
    matcher = query if isinstance(query, QueryMatcher) else QueryMatcher(query, analyzer)
    if not matcher.terms:
        return words, 0
    matches = np.fromiter(matcher.flags(words), dtype=np.int32, count=len(words))
    ends = np.cumsum(matches)
    sums = ends[width - 1 :] - np.concatenate(([0], ends[:-width]))  # each window's matches
    best_start = int(np.argmax(sums))  # the first of the best
    # Centre the window on its matches rather than starting at the first word.
    if best_start and sums[best_start] > 0:
        first = best_start + int(np.argmax(matches[best_start : best_start + width]))
        best_start = max(0, min(first - width // 4, len(words) - width))
    return words, best_start


def select_passage(text: str, query: str | QueryMatcher, width: int) -> str:
    """The ``width``-word window of ``text`` that best matches ``query``.

    Example:
        >>> select_passage("a b c oil prices rose d e", "oil price", width=3)
        'oil prices rose'
    """
    words, start = best_window(text, query, width)
    return " ".join(words[start : start + width])


def passages_for(queries: list[str], texts: list[str], width: int | None) -> list[str]:
    """What the cross-encoder reads of each (query, text) pair: the whole text
    (truncated later by the tokenizer) when ``width`` is None, else its best window.

    Example:
        >>> passages_for(["oil"], ["a b oil c"], None), passages_for(["oil"], ["a b oil c d e"], 2)
        (['a b oil c'], ['oil c'])
    """
    if width is None:
        return list(texts)
    matchers: dict[str, QueryMatcher] = {}  # one per query, shared by its texts
    passages = []
    for query, text in zip(queries, texts, strict=True):
        if query not in matchers:
            matchers[query] = QueryMatcher(query)
        passages.append(select_passage(text, matchers[query], width))
    return passages
