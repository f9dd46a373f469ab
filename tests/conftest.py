"""Shared fixtures: small in-code corpora written in every format we read."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

NEWS = [
    ("d1", "Oil prices fell sharply", "Oil prices fell sharply after OPEC failed to agree on production cuts."),
    ("d2", "Dam spillway damaged", "Engineers inspected the damaged spillway of the Oroville dam in California."),
    ("d3", "Brexit letter sent", "Britain formally triggered Article 50 and started the Brexit process."),
    ("d4", "Travel ban blocked", "A federal judge blocked the travel ban on visitors from seven countries."),
    ("d5", "Kim Jong Nam killed", "Kim Jong Nam was killed at Kuala Lumpur airport with a nerve agent."),
    ("d6", "OPEC output", "OPEC members discussed oil output and prices at their Vienna meeting."),
]


@pytest.fixture
def news_articles():
    from ranker.corpus import Article

    return [Article(i, t, x, {"outlet": "Test"}) for i, t, x in NEWS]


@pytest.fixture
def beir_folder(tmp_path: Path) -> Path:
    """A tiny BEIR folder: six articles, title queries, a test qrels file."""
    folder = tmp_path / "beir"
    (folder / "qrels").mkdir(parents=True)
    with open(folder / "corpus.jsonl", "w") as handle:
        for doc_id, title, text in NEWS:
            handle.write(json.dumps({"_id": doc_id, "title": title, "text": text, "metadata": {"outlet": "Test"}}) + "\n")
    with open(folder / "queries.jsonl", "w") as handle:
        for doc_id, title, _ in NEWS:
            handle.write(json.dumps({"_id": f"t{doc_id}", "text": title}) + "\n")
    lines = ["query-id\tcorpus-id\tscore\n"] + [f"t{doc_id}\t{doc_id}\t1\n" for doc_id, _, _ in NEWS]
    (folder / "qrels" / "test.tsv").write_text("".join(lines))
    return folder


def random_corpus(n_docs: int, vocabulary: int = 300, length: int = 25, seed: int = 0) -> list[str]:
    """Texts of random words: every word is in far fewer than half the documents,
    so no BM25 variant meets a negative idf."""
    rng = random.Random(seed)
    words = [f"w{i:03d}x" for i in range(vocabulary)]
    return [" ".join(rng.choice(words) for _ in range(rng.randint(5, length))) for _ in range(n_docs)]
