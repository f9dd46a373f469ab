"""The tests' fixtures: small in-code corpora written in every format we read, and hand-made runs.
The tiny models and the demo world they share with the docstring examples are in ../conftest.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import NEWS


@pytest.fixture
def news_articles():
    from ranker.data.records import Article

    return [Article(i, t, x, {"outlet": "Test"}) for i, t, x in NEWS]


@pytest.fixture
def beir_folder(tmp_path: Path) -> Path:
    """A tiny BEIR folder: six articles, title queries, a test qrels file."""
    folder = tmp_path / "beir"
    (folder / "qrels").mkdir(parents=True)
    with open(folder / "corpus.jsonl", "w") as handle:
        for doc_id, title, text in NEWS:
            handle.write(json.dumps({"_id": doc_id, "title": title, "text": text, "metadata": {"outlet": "Test"}})
                         + "\n")
    with open(folder / "queries.jsonl", "w") as handle:
        for doc_id, title, _ in NEWS:
            handle.write(json.dumps({"_id": f"t{doc_id}", "text": title}) + "\n")
    lines = ["query-id\tcorpus-id\tscore\n"] + [f"t{doc_id}\t{doc_id}\t1\n" for doc_id, _, _ in NEWS]
    (folder / "qrels" / "test.tsv").write_text("".join(lines))
    return folder


@pytest.fixture(scope="session")
def other_tiny_model(tmp_path_factory, tiny_model) -> Path:
    """The same architecture with other random weights: a different model."""
    import torch
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(tiny_model), device="cpu")
    torch.manual_seed(1)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(torch.randn_like(parameter))
    path = tmp_path_factory.mktemp("other-tiny") / "st"
    model.save(str(path))
    return path


# -- hand-made runs for the report tests ---------------------------------------------

QUERIES = 20


def _run(ranks: list[int]) -> dict:
    """Query i's relevant document d<i> at ranks[i] (0: missing), among filler documents."""
    run = {}
    for i, rank in enumerate(ranks):
        docs = [f"x{i}-{j}" for j in range(5)]
        if rank:
            docs.insert(rank - 1, f"d{i}")
        run[f"q{i:02d}"] = {d: float(10 - j) for j, d in enumerate(docs)}
    return run


@pytest.fixture
def runs_and_qrels(tmp_path):
    """Hand-made runs over 20 one-relevant-document queries whose metrics and tests are known:
    (system -> run path, qrels, folder); ``better`` has a timing side file."""
    from ranker.data.qrels import write_qrels
    from ranker.eval.runs import write_run

    qrels = {f"q{i:02d}": {f"d{i}": 1} for i in range(QUERIES)}
    write_qrels(tmp_path / "qrels.tsv", qrels)
    systems = {
        "bm25": [2] * QUERIES,
        "same": [2] * QUERIES,
        "better": [1] * QUERIES,
        "worse": [3] * QUERIES,
        "mixed": [1, 3] * (QUERIES // 2),
        "misses": [1] * (QUERIES - 4) + [0] * 4,
    }
    paths = {}
    for name, ranks in systems.items():
        paths[name] = tmp_path / f"{name}.trec"
        write_run(paths[name], _run(ranks), tag=name,
                  meta={"seconds": {"retrieve": 0.5, "rerank": 1.5}} if name == "better" else None)
    return paths, qrels, tmp_path


