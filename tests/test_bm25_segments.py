"""BM25 over segments equals a fresh build of the live documents (issue 37)."""

from __future__ import annotations

import random

import numpy as np
import pytest

from ranker.retrieve.analysis import VARIANTS, BM25Config
from ranker.retrieve.bm25 import BM25Retriever
from ranker.retrieve.bm25_segments import Postings, SegmentedBM25, top

WORDS = ["oil", "prices", "price", "fell", "rose", "opec", "cut", "dam", "spillway", "storm", "election", "vote",
         "votes", "brexit", "court", "ruling", "market", "markets", "bank", "rates", "the", "of", "and", "a", "is"]


def _text(rng: random.Random) -> str:
    # Zipf-like: early words common, late ones rare, so document frequencies spread out
    return " ".join(WORDS[min(int(rng.paretovariate(1.2)) - 1, len(WORDS) - 1)] for _ in range(rng.randint(0, 40)))


def _segmented(rng: random.Random, config: BM25Config) -> tuple[SegmentedBM25, list[str], list[str]]:
    """Random adds, replaces and deletes: the segmented index, the live ids and the live texts, in row order."""
    segments, ids, texts, gone = [], [], [], []
    for _ in range(rng.randint(2, 6)):
        if ids and rng.random() < 0.5:  # a replace: the old versions of some ids are marked deleted
            for row in rng.sample(range(len(ids)), min(3, len(ids))):
                gone[row] = True
        batch = [_text(rng) for _ in range(rng.randint(1, 40))]
        segments.append(Postings.build(batch, config))
        ids += [f"d{len(ids) + n}" for n in range(len(batch))]
        texts += batch
        gone += [False] * len(batch)
    for row in rng.sample(range(len(ids)), len(ids) // 5):  # deletes
        gone[row] = True
    gone[rng.randrange(len(ids))] = False  # never all of them
    flat = np.array(gone)
    bounds = np.cumsum([0] + [segment.documents for segment in segments])
    marks = [flat[a:b].copy() if flat[a:b].any() else None for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    live = [n for n, dead in enumerate(gone) if not dead]
    return SegmentedBM25(config, segments, marks), [ids[n] for n in live], [texts[n] for n in live]


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("seed", range(4))
def test_segments_score_as_a_fresh_build_of_their_live_documents(variant, seed):
    rng = random.Random(seed)
    config = BM25Config(variant=variant)
    index, live_ids, live_texts = _segmented(rng, config)
    if not any(index.analyzer.tokens(live_texts)[i] for i in range(len(live_texts))):
        pytest.skip("no indexable word survived")
    fresh = BM25Retriever(config)
    fresh.index(live_texts, show_progress=False)
    model = fresh._model
    live_rows = np.flatnonzero(np.isfinite(index.scores(["oil"])))  # the live rows, in order
    assert len(live_rows) == len(live_texts) == index.live
    queries = [" ".join(rng.sample(WORDS, rng.randint(1, 4))) for _ in range(12)] + ["oil oil prices", "zebra"]
    for query in queries:
        tokens = index.analyzer.tokens([query])[0]
        expected = model.get_scores(tokens) if model.get_tokens_ids(tokens) else np.zeros(len(live_texts))
        got = index.scores(tokens)
        np.testing.assert_allclose(got[live_rows], expected, rtol=1e-5, atol=1e-5, err_msg=query)
        found = index.search([query], k=10).hits(0)
        rows, scores = top(np.asarray(expected, dtype=np.float32), 10)
        if variant not in ("bm25l", "bm25+"):
            rows = rows[scores > 0]
        row_ids = dict(zip(live_rows.tolist(), live_ids, strict=True))
        assert [row_ids[row] for row, _ in found] == [live_ids[row] for row in rows], query


def test_postings_round_trip_through_their_files(tmp_path):
    config = BM25Config()
    postings = Postings.build(["oil prices fell", "the dam broke", "oil output rose"], config)
    postings.save(tmp_path / "seg")
    loaded = Postings.load(tmp_path / "seg")
    assert loaded.vocab == postings.vocab
    for name in ("indptr", "rows", "tf", "lengths"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(postings, name))
    one = SegmentedBM25(config, [loaded])
    assert one.search(["oil"], k=5).hits(0) == SegmentedBM25(config, [postings]).search(["oil"], k=5).hits(0)


def test_top_keeps_the_lowest_rows_of_a_tie_at_the_cut():
    rows, scores = top(np.array([2.0, 5.0, 2.0, 2.0, 1.0]), 3)
    assert rows.tolist() == [1, 0, 2] and scores.tolist() == [5.0, 2.0, 2.0]
