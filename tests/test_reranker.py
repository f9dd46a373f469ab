"""The cross-encoder: training (losses, resume), saving as a CrossEncoder, reranking, the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from conftest import NEWS
from ranker.cli import main
from ranker.models.checkpoints import load_pair_scorer, load_tokenizer
from ranker.rerank.reranker import rerank_scores, score_pairs
from ranker.retrieve.base import Results
from ranker.train.groups import TextGroup
from ranker.train.loop import TrainConfig, fit
from ranker.train.reranker import RerankerTask, RerankerTrainConfig

TEXTS = [text for _, _, text in NEWS]
GROUPS = [
    TextGroup(title, text, tuple(t for t in TEXTS if t != text)[: 1 + i % 3])
    for i, (_, title, text) in enumerate(NEWS)
]


def make_task(tiny_bert, loss="listwise", seed=0):
    torch.manual_seed(seed)
    net = load_pair_scorer(str(tiny_bert))
    config = RerankerTrainConfig(model=str(tiny_bert), max_length=32, loss=loss)
    return RerankerTask(GROUPS, net, load_tokenizer(str(tiny_bert)), config, batch_size=2, dev=None)


def weights(folder):
    from safetensors.torch import load_file

    return load_file(str(folder / "model.safetensors"))


def test_saved_model_loads_as_a_cross_encoder_with_the_same_scores(tmp_path, tiny_bert):
    from sentence_transformers import CrossEncoder

    fit(make_task(tiny_bert), TrainConfig(max_steps=2), tmp_path / "out", show_progress=False)
    model = tmp_path / "out" / "model"
    queries, texts = [title for _, title, _ in NEWS], TEXTS[::-1]
    ours = score_pairs(load_pair_scorer(str(model)), load_tokenizer(str(model)), queries, texts, max_length=32)
    theirs = CrossEncoder(str(model), device="cpu", max_length=32).predict(list(zip(queries, texts, strict=True)))
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-5)
    assert ours.std() > 0  # not a constant, which would make the comparison empty
    about = json.loads((model / "ranker.json").read_text())
    assert about["task"] == "reranker" and about["max_length"] == 32


def test_killed_and_resumed_run_reaches_the_uninterrupted_state(tmp_path, tiny_bert):
    config = TrainConfig(epochs=2, max_steps=5, checkpoint_every=2, seed=3)  # 3 batches per epoch
    fit(make_task(tiny_bert), config, tmp_path / "straight", show_progress=False)
    # "Killed" after step 3: the last checkpoint is step 2, so step 3 is redone.
    assert fit(make_task(tiny_bert), config, tmp_path / "resumed", stop_after=3,
               show_progress=False) == {"stopped_at": 3}
    assert json.loads((tmp_path / "resumed" / "checkpoint" / "state.json").read_text())["step"] == 2
    with pytest.raises(Exception, match="--resume"):
        fit(make_task(tiny_bert), config, tmp_path / "resumed", show_progress=False)
    metrics = fit(make_task(tiny_bert, seed=99), config, tmp_path / "resumed", resume=True, show_progress=False)
    assert metrics["train"]["steps"] == 5
    straight, resumed = weights(tmp_path / "straight" / "model"), weights(tmp_path / "resumed" / "model")
    assert straight.keys() == resumed.keys()
    for name in straight:
        torch.testing.assert_close(straight[name], resumed[name], rtol=0, atol=1e-6, msg=name)
    # Training moved the weights, so the equality above says something.
    start = make_task(tiny_bert).net.state_dict()
    assert not torch.allclose(start["classifier.weight"], straight["classifier.weight"])


def test_listwise_loss_is_softmax_cross_entropy_per_group_ignoring_missing_negatives(tiny_bert):
    task = make_task(tiny_bert)
    task.net.eval()  # no dropout, so the two computations see the same scores
    loss, pairs = task.loss([0, 1])
    assert pairs == 2 + 3
    expected = []
    for group in (GROUPS[0], GROUPS[1]):
        scores = score_pairs(task.net, task.tokenizer, [q for q, _ in group.pairs()], [t for _, t in group.pairs()], 32)
        expected.append(-torch.log_softmax(torch.tensor(scores, dtype=torch.float64), 0)[0])
    assert float(loss.detach()) == pytest.approx(float(sum(expected) / 2), rel=1e-4)


def test_pointwise_loss_trains(tmp_path, tiny_bert):
    task = make_task(tiny_bert, loss="pointwise")
    loss, pairs = task.loss([0, 1, 2])
    assert pairs == 2 + 3 + 4 and float(loss.detach()) > 0
    metrics = fit(task, TrainConfig(max_steps=2), tmp_path / "pw", show_progress=False)
    assert metrics["train"]["examples"] > 0


def test_bf16_training_keeps_fp32_weights_and_near_fp32_losses(tmp_path, tiny_bert):
    from ranker.train.loop import autocast

    task = make_task(tiny_bert)
    task.net.eval()  # no dropout: the two precisions see the same network
    exact, _ = task.loss([0, 1])
    with autocast(task.net, "bf16"):
        rounded, _ = task.loss([0, 1])
    # bfloat16 keeps 8 bits of mantissa: close to the fp32 loss, but not equal to it
    assert float(rounded) == pytest.approx(float(exact), rel=0.02) and float(rounded) != float(exact)
    metrics = fit(make_task(tiny_bert, loss="pointwise"), TrainConfig(max_steps=2, precision="bf16"), tmp_path / "bf16",
                  show_progress=False)
    assert metrics["train"]["steps"] == 2
    assert {t.dtype for t in weights(tmp_path / "bf16" / "model").values()} == {torch.float32}
    with pytest.raises(ValueError, match="precision must be one of fp32, bf16, auto"):
        TrainConfig(precision="fp16")


def test_rerank_keeps_first_stage_order_on_ties_and_mixes_scores():
    first = Results(np.array([[4, 5, 6, -1]]), np.array([[3.0, 2.0, 1.0, -np.inf]]))
    tied = rerank_scores(first, np.array([1.0, 1.0, 1.0]), weight=1.0)
    assert tied.results.rows.tolist() == [[4, 5, 6, -1]] and tied.before.tolist() == [[1, 2, 3, 0]]
    # The cross-encoder prefers row 6; at weight 0 the first stage decides alone.
    cross = np.array([0.0, 0.0, 5.0])
    assert rerank_scores(first, cross, weight=1.0).results.rows[0, 0] == 6
    assert rerank_scores(first, cross, weight=0.0).results.rows.tolist() == [[4, 5, 6, -1]]


@pytest.fixture
def bm25_index(tmp_path, beir_folder, capsys):
    index = tmp_path / "idx"
    assert main(["index", str(beir_folder), "--out", str(index), "--retrievers", "bm25", "--quiet"]) == 0
    capsys.readouterr()
    return index


def test_cli_mine_train_query_and_run(tmp_path, beir_folder, bm25_index, tiny_bert, capsys):
    mined = tmp_path / "mined"
    assert main(["mine", str(bm25_index), "--queries", str(beir_folder), "--split", "test", "--out", str(mined),
                 "--strategy", "bm25", "--negatives", "2", "--relative-margin", "-1", "--quiet"]) == 0
    assert "6 queries" in capsys.readouterr().out
    assert (mined / "groups.parquet").exists() and (mined / "pairs.parquet").exists()

    out = tmp_path / "ce"
    assert main(["train", "reranker", "--groups", str(mined), "--index", str(bm25_index), "--out", str(out),
                 "--model", str(tiny_bert), "--max-steps", "2", "--batch-size", "2", "--max-length", "32",
                 "--passage-words", "8",
                 "--dev", str(beir_folder), "--dev-split", "test", "--dev-retriever", "bm25", "--dev-queries", "3",
                 "--weight-queries", "6", "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "best on dev (step 2)" in printed and "pairs/s" in printed
    assert "tuned on 6 dev queries" in printed
    interpolation = json.loads((out / "model" / "ranker.json").read_text())["interpolation"]
    assert interpolation["dev_queries"] == 6 and 0 <= interpolation["weight"] <= 1
    assert main(["verify", str(out / "model")]) == 0  # the rewritten ranker.json keeps the files' sha256s
    capsys.readouterr()
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["best"]["step"] == 2 and 0 <= metrics["best"]["MRR@10"] <= 1

    model = str(out / "model")
    assert json.loads((out / "model" / "ranker.json").read_text())["passage_words"] == 8
    assert main(["query", str(bm25_index), "oil prices", "--retriever", "bm25", "--reranker", model,
                 "--depth", "5"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].startswith("retriever: bm25  reranker:")
    assert table[1].split() == ["rank", "id", "score", "title", "outlet", "date", "was"]

    assert main(["query", str(bm25_index), "oil prices", "--retriever", "bm25", "--reranker", model, "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert {h["doc_id"] for h in answer["hits"]} == {"d1", "d6"}
    assert sorted(h["before"] for h in answer["hits"]) == [1, 2] and answer["depth"] == 10

    many = tmp_path / "queries.txt"
    many.write_text("oil prices\n\n  brexit letter  \n", encoding="utf-8")
    assert main(["query", str(bm25_index), "--queries", str(many), "--retriever", "bm25", "--reranker", model,
                 "--json"]) == 0
    answers = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [a["query"] for a in answers] == ["oil prices", "brexit letter"]
    assert answers[0]["hits"] == answer["hits"] and answers[1]["hits"][0]["doc_id"] == "d3"
    assert main(["query", str(bm25_index), "--queries", str(many), "--retriever", "bm25", "--reranker", model]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("query: oil prices\nretriever: bm25") and "\n\nquery: brexit letter\n" in printed

    run = tmp_path / "reranked.trec"
    assert main(["run", str(bm25_index), "--queries", str(beir_folder), "--split", "test", "--retriever", "bm25",
                 "--reranker", model, "--out", str(run), "--quiet"]) == 0
    capsys.readouterr()
    assert {line.split()[0] for line in run.read_text().splitlines()} == {f"t{d}" for d, _, _ in NEWS}
    assert run.read_text().split()[5] == "bm25+reranker"


def test_cli_errors_name_the_file(tmp_path, bm25_index, capsys):
    assert main(["train", "reranker", "--groups", str(tmp_path / "nope"), "--index", str(bm25_index),
                 "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "nope" in err and "ranker mine" in err
    assert main(["query", str(bm25_index), "oil", "--reranker", str(tmp_path)]) == 2
    assert "not a transformers model folder" in capsys.readouterr().err


def test_query_file_errors_come_before_any_answer(tmp_path, bm25_index, capsys):
    bad = tmp_path / "queries.txt"
    bad.write_bytes(b"oil prices\nbrexit \xff letter\n")
    assert main(["query", str(bm25_index), "--queries", str(bad), "--retriever", "bm25"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.strip() == (
        f"ranker: error: {bad}: line 2: not UTF-8 text (invalid start byte at byte 7)")
    assert main(["query", str(bm25_index), "--queries", str(tmp_path / "none.txt")]) == 2
    assert "none.txt: cannot read it (No such file or directory)" in capsys.readouterr().err
    for both_or_neither in (["oil", "--queries", str(bad)], []):
        assert main(["query", str(bm25_index), *both_or_neither]) == 2
        assert "give one query text or --queries FILE" in capsys.readouterr().err


def test_query_answers_standard_input_line_by_line(bm25_index, capsys):
    import subprocess
    import sys

    expected = []
    for text in ("oil prices", "brexit letter"):
        assert main(["query", str(bm25_index), text, "--retriever", "bm25", "--json", "-k", "1"]) == 0
        expected.append(json.loads(capsys.readouterr().out)["hits"])

    process = subprocess.Popen([sys.executable, "-m", "ranker", "query", str(bm25_index), "--queries", "-",
                                "--retriever", "bm25", "--json", "-k", "1"],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    answers = []
    for text in ("oil prices", "brexit letter"):
        # each answer arrives before the next query is sent: the process stays up between them
        process.stdin.write(text + "\n")
        process.stdin.flush()
        answers.append(json.loads(process.stdout.readline()))
    process.stdin.close()
    assert process.wait(timeout=60) == 0
    assert [a["hits"] for a in answers] == expected


def test_reranker_reads_the_passage_it_was_trained_on(tmp_path, tiny_bert, bm25_index):
    from ranker.core.integrity import write_listed
    from ranker.index.folder import Index
    from ranker.rerank.reranker import RerankConfig, Reranker

    fit(make_task(tiny_bert), TrainConfig(max_steps=1), tmp_path / "out", show_progress=False)
    model = tmp_path / "out" / "model"
    about = json.loads((model / "ranker.json").read_text())
    write_listed(model, "ranker.json", {**about, "passage_words": 3})  # as a training with passages would write it
    index = Index.open(bm25_index)
    first = index.bm25().search(["Vienna meeting"], 2)
    reranker = Reranker(RerankConfig(model=str(model), runtime="torch"))  # its forward is replaced below
    queries, texts = reranker.pairs(first, ["Vienna meeting"], index.docs)
    assert queries == ["Vienna meeting"] and texts[0].endswith("at their Vienna meeting.")
    seen = []
    reranker.net.forward = (lambda **batch: seen.append(batch["input_ids"])
                            or type("Out", (), {"logits": torch.zeros(1, 1)}))
    reranker.score(queries, texts)
    assert reranker.tokenizer.decode(seen[0][0], skip_special_tokens=True) == "vienna meeting their vienna meeting."


def test_training_says_when_the_data_runs_out_before_max_steps(tmp_path, tiny_bert, capsys):
    metrics = fit(make_task(tiny_bert), TrainConfig(max_steps=20), tmp_path / "short")  # 3 batches in one epoch
    err = capsys.readouterr().err
    assert "the data gives 3 steps" in err and "fewer than max_steps 20: training runs 3" in err
    assert (metrics["train"]["steps"], metrics["train"]["steps_available"]) == (3, 3)
    fit(make_task(tiny_bert), TrainConfig(max_steps=2), tmp_path / "enough")
    assert "the data gives" not in capsys.readouterr().err
