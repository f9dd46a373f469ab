"""Snippets and passages: the fast matcher and window search against plain reference versions."""

from __future__ import annotations

import random

import pytest

from ranker.retrieve.analysis import Analyzer, BM25Config, WordMemory
from ranker.retrieve.passages import QueryMatcher, best_window, default_analyzer

WORDS = ("Oil", "oil,", "prices", "price.", "priced", "the", "rose", "fell", "OPEC", "cut", "Cuts", "production",
         "a", "of", "markets", "market's", "Brent", "crude", "—", "2017", "barrels", "barrel")


def _reference_flags(words: list[str], query: str, analyzer: Analyzer) -> list[bool]:
    """Each word analysed on its own, as the matcher's answer must be."""
    terms = set(analyzer.tokens([query])[0])
    return [bool(terms.intersection(analyzer.tokens([word])[0])) for word in words]


def _reference_window(words: list[str], flags: list[bool], width: int) -> int:
    """The window search as first written: a running count, the first best, then centred."""
    if len(words) <= width or not any(flags):
        return 0
    matches = [int(f) for f in flags]
    best, best_start, window = -1, 0, sum(matches[:width])
    for start in range(len(words) - width + 1):
        if start:
            window += matches[start + width - 1] - matches[start - 1]
        if window > best:
            best, best_start = window, start
    if best_start and best > 0:
        first = next(i for i in range(best_start, best_start + width) if matches[i])
        best_start = max(0, min(first - width // 4, len(words) - width))
    return best_start


@pytest.mark.parametrize("seed", range(5))
def test_the_matcher_and_the_window_equal_the_plain_versions(seed):
    rng = random.Random(seed)
    analyzer = Analyzer(BM25Config())
    for _ in range(40):
        query = " ".join(rng.sample(WORDS, rng.randint(1, 4)))
        matcher = QueryMatcher(query, analyzer)
        for _ in range(3):  # one matcher for several texts, as a page of hits uses it
            words = [rng.choice(WORDS) + rng.choice(("", "", "s", str(rng.randint(0, 9)))) for _ in range(60)]
            width = rng.randint(1, 70)
            expected = _reference_flags(words, query, analyzer)
            assert matcher.flags(words) == expected
            text = " ".join(words)
            assert best_window(text, QueryMatcher(query, analyzer), width) == (words, _reference_window(
                words, expected, width))


def test_a_matcher_sees_words_learned_by_others_and_survives_a_forgetful_analyser():
    analyzer = Analyzer(BM25Config())
    matcher = QueryMatcher("oil prices", analyzer)
    assert matcher.flags(["Oil"]) == [True]
    QueryMatcher("anything", analyzer).flags(["priced", "pricey", "rose"])  # learned by another matcher
    assert matcher.flags(["priced", "rose", "Oil"]) == [True, False, True]
    analyzer.memory = WordMemory()  # what cached_tokens does past its bound
    assert matcher.flags(["prices", "oil.", "fell"]) == [True, True, False]


def test_a_text_without_query_terms_shows_its_head():
    assert best_window("a b c d e", "the of", width=2, analyzer=default_analyzer()) == (list("abcde"), 0)
    assert best_window("a b c d e", "zebra", width=2)[1] == 0
