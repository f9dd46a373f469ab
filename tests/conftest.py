"""Shared fixtures: small in-code corpora written in every format we read."""

from __future__ import annotations

import json
import os
import random
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
# OpenVINO exports of models we did not train go to the user cache: the tests keep
# theirs in a folder of their own, never in the tester's ~/.cache
os.environ["RANKER_CACHE"] = tempfile.mkdtemp(prefix="ranker-test-cache-")


def pytest_sessionfinish(session, exitstatus):
    import shutil

    shutil.rmtree(os.environ["RANKER_CACHE"], ignore_errors=True)

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
    from ranker.data.readers import Article

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


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """A randomly initialised BERT (hidden 32, 2 layers, the real 30,522-word
    vocabulary) wrapped as a SentenceTransformer folder; built once per session."""
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer
    from transformers import AutoTokenizer, BertConfig, BertModel

    from ranker.models.loading import resolve_model

    root = tmp_path_factory.mktemp("tiny-bert")
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=512,
    )
    BertModel(config).save_pretrained(root / "bert")
    AutoTokenizer.from_pretrained(resolve_model("all-MiniLM-L6-v2")).save_pretrained(root / "bert")
    transformer = Transformer(str(root / "bert"), max_seq_length=128)
    SentenceTransformer(modules=[transformer, Pooling(32, "mean"), Normalize()], device="cpu").save(str(root / "st"))
    return root / "st"


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


@pytest.fixture(scope="session")
def tiny_bert(tiny_model) -> Path:
    """The tiny BERT as a plain transformers folder (config, weights, tokenizer):
    the backbone the cross-encoder tests fine-tune."""
    return tiny_model.parent / "bert"


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
    from ranker.data.readers import write_qrels
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
        write_run(paths[name], _run(ranks), tag=name, meta={"seconds": {"retrieve": 0.5, "rerank": 1.5}} if name == "better" else None)
    return paths, qrels, tmp_path


# -- a small world laid out as `make demo` leaves it ---------------------------------


@pytest.fixture(scope="session")
def demo_world(tmp_path_factory, tiny_model, tiny_bert) -> Path:
    """The folders `make demo` leaves, built the same way on six articles and the tiny
    models: data/news (BEIR, with train/dev/test-title qrels), indexes/news (BM25 +
    dense), models/demo/mined and models/demo/model (a cross-encoder trained a few
    steps), runs/demo/{bm25,dense,hybrid,reranked,reranked-mixed}.*.trec. Read-only:
    a test that writes copies it (see :func:`demo_copy`)."""
    from ranker.cli import main

    root = tmp_path_factory.mktemp("demo-world")
    data = root / "data" / "news"
    (data / "qrels").mkdir(parents=True)
    with open(data / "corpus.jsonl", "w") as handle:
        # numbered ids, as the news benchmark's articles are
        for i, (_, title, text) in enumerate(NEWS, start=1):
            meta = {"outlet": "Test", "date": f"2017-01-0{i}", "url": f"http://example.org/{i}"}
            handle.write(json.dumps({"_id": str(i), "title": title, "text": text, "metadata": meta}) + "\n")
    with open(data / "queries.jsonl", "w") as handle:
        for i, (_, title, _) in enumerate(NEWS, start=1):
            handle.write(json.dumps({"_id": f"t{i}", "text": title}) + "\n")
    header = "query-id\tcorpus-id\tscore\n"
    for split in ("train", "dev", "test-title", "test"):
        (data / "qrels" / f"{split}.tsv").write_text(header + "".join(f"t{i}\t{i}\t1\n" for i in range(1, len(NEWS) + 1)))
    quiet = ["--quiet"]
    steps = ["--max-steps", "2", "--batch-size", "2", "--max-length", "32"]
    commands = [
        ["index", data, "--out", root / "indexes/news", "--model", tiny_model, *quiet],
        ["mine", root / "indexes/news", "--queries", data, "--split", "train", "--out", root / "models/demo/mined",
         "--negatives", "2", "--relative-margin", "-1", *quiet],
        ["train", "reranker", "--groups", root / "models/demo/mined", "--index", root / "indexes/news",
         "--model", tiny_bert, "--out", root / "models/demo/model", *steps, *quiet],
    ]
    for system in ("bm25", "dense", "hybrid"):
        commands.append(["run", root / "indexes/news", "--queries", data, "--split", "test-title", "--retriever", system,
                         "--out", root / f"runs/demo/{system}.test-title.trec", *quiet])
    model = root / "models/demo/model/model"
    for name, weight in (("reranked", "1"), ("reranked-mixed", "0.5")):
        commands.append(["run", root / "indexes/news", "--queries", data, "--split", "test-title", "--reranker", model,
                         "--weight", weight, "--out", root / f"runs/demo/{name}.test-title-sample200.trec", *quiet])
    for command in commands:
        assert main([str(part) for part in command]) == 0, command
    return root


@pytest.fixture
def demo_copy(demo_world, tmp_path, monkeypatch) -> Path:
    """A writable copy of :func:`demo_world`, made the current folder."""
    import shutil

    root = tmp_path / "demo"
    shutil.copytree(demo_world, root, symlinks=True)
    monkeypatch.chdir(root)
    return root
