"""The small world every test and every docstring example runs in: six news articles,
a tiny random BERT (hidden 32, 2 layers, the real vocabulary) built once per session,
and the folders ``make demo`` leaves (data/news, indexes/news, models/demo, runs/demo)
built from them with that BERT.

A docstring example that names a path of that world (``indexes/news``,
``models/demo/model/model``, ``data/news``, ...), ``tmp`` (an empty folder for what
it writes), ``tiny_bert`` (a transformers backbone folder) or ``tiny_embedder`` (a
SentenceTransformer folder) runs in a fresh copy of it as the current folder, so
the examples read as the commands of the README's tour do. The tests' own fixtures
are in tests/conftest.py.
"""

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
def tiny_bert(tiny_model) -> Path:
    """The tiny BERT as a plain transformers folder (config, weights, tokenizer):
    the backbone the cross-encoder tests fine-tune."""
    return tiny_model.parent / "bert"


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
        lines = "".join(f"t{i}\t{i}\t1\n" for i in range(1, len(NEWS) + 1))
        (data / "qrels" / f"{split}.tsv").write_text(header + lines)
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
        commands.append(["run", root / "indexes/news", "--queries", data, "--split", "test-title",
                         "--retriever", system, "--out", root / f"runs/demo/{system}.test-title.trec", *quiet])
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


#: What marks a docstring example as one that runs in the demo world.
WORLD_WORDS = ("indexes/", "models/", "data/news", "runs/", "reports/", "tmp", "tiny_bert", "tiny_embedder")


@pytest.fixture(autouse=True)
def _examples_run_in_the_demo_world(request, doctest_namespace):
    """A docstring example that names the demo world runs in a fresh copy of it (see the module)."""
    from _pytest.doctest import DoctestItem

    if not isinstance(request.node, DoctestItem):
        return
    source = "".join(example.source for example in request.node.dtest.examples)
    if not any(word in source for word in WORLD_WORDS):
        return
    root = request.getfixturevalue("demo_copy")
    (root / "tmp").mkdir()
    doctest_namespace.update(tmp=root / "tmp", tiny_bert=str(request.getfixturevalue("tiny_bert")),
                             tiny_embedder=str(request.getfixturevalue("tiny_model")))
