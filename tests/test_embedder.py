"""The bi-encoder fine-tuning: batches without repeated positives, the in-batch loss,
the saved folder as a SentenceTransformer with our vectors, resume, the CLI end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from conftest import NEWS
from ranker.cli import main
from ranker.core.errors import InputError
from ranker.models.checkpoints import load_tokenizer
from ranker.train.embedder import EmbedderTask, EmbedderTrainConfig, check_mean_pooled, distinct_batches, encode
from ranker.train.groups import TextGroup
from ranker.train.loop import TrainConfig, fit

TEXTS = [text for _, _, text in NEWS]
# Two queries per article, as the benchmark has (title and subtitle), so batches must keep them apart.
GROUPS = [TextGroup(title, text, (TEXTS[(i + 1) % len(TEXTS)],)) for i, (_, title, text) in enumerate(NEWS)]
GROUPS += [TextGroup(text.split(".")[0], text, (TEXTS[(i + 2) % len(TEXTS)],)) for i, (_, _, text) in enumerate(NEWS)]
IDS = [doc for doc, _, _ in NEWS]
KEYS = [(g.query, IDS[i % len(IDS)], (IDS[(i + 1 + i // len(IDS)) % len(IDS)],)) for i, g in enumerate(GROUPS)]


def make_task(model, seed=0, hard_negatives=1):
    from transformers import AutoModel

    torch.manual_seed(seed)
    config = EmbedderTrainConfig(model=str(model), max_length=32, hard_negatives=hard_negatives)
    groups = [TextGroup(g.query, g.positive, g.negatives[:hard_negatives]) for g in GROUPS]
    return EmbedderTask(groups, KEYS, AutoModel.from_pretrained(str(model)), load_tokenizer(str(model)), config,
                        batch_size=4, dev=None)


def test_batches_never_show_a_query_its_own_article_as_a_negative():
    # a title and a subtitle query per article, several queries sharing a text, negatives that are others' positives
    rng = np.random.default_rng(1)
    keys = [(f"q{i % 9}", f"d{i % 7}", tuple(f"d{j}" for j in rng.choice(9, 2, replace=False))) for i in range(40)]
    for seed in range(20):
        batches = distinct_batches(keys, 4, np.random.default_rng(seed))
        assert sorted(i for b in batches for i in b) == list(range(len(keys)))
        for batch in batches:
            assert len(batch) <= 4
            for i in batch:
                query, positive, _ = keys[i]
                others = [keys[j] for j in batch if j != i]
                assert all(query != q and positive != p and positive not in n
                           for q, p, n in others), (batch, keys)
    # still packs full batches
    assert sum(len(b) == 4 for b in distinct_batches(keys, 4, np.random.default_rng(0))) >= 5


def test_loss_equals_sentence_transformers_multiple_negatives_ranking_loss(tiny_model):
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    task = make_task(tiny_model)
    task.net.eval()  # no dropout, so both computations see the same vectors
    batch = [0, 1, 2]
    loss, n = task.loss(batch)
    assert n == 3
    model = SentenceTransformer(str(tiny_model), device="cpu")
    model.max_seq_length = 32
    model.eval()
    columns = [[GROUPS[i].query for i in batch], [GROUPS[i].positive for i in batch],
               [GROUPS[i].negatives[0] for i in batch]]
    with torch.no_grad():
        theirs = MultipleNegativesRankingLoss(model)([model.tokenize(c) for c in columns], None)
    torch.testing.assert_close(loss.detach(), theirs, rtol=1e-4, atol=1e-5)


def test_saved_model_is_a_sentence_transformer_giving_our_vectors(tmp_path, tiny_model):
    from sentence_transformers import SentenceTransformer

    task = make_task(tiny_model)
    fit(task, TrainConfig(max_steps=3, batch_size=4, learning_rate=1e-3), tmp_path / "out", show_progress=False)
    folder = tmp_path / "out" / "model"
    ours = encode(task.net, task.tokenizer, TEXTS, 32)
    theirs = SentenceTransformer(str(folder), device="cpu")
    theirs.max_seq_length = 32
    np.testing.assert_allclose(ours, theirs.encode(TEXTS), rtol=1e-4, atol=1e-5)
    # Training moved the weights, so the equality above is about the trained model.
    untrained = SentenceTransformer(str(tiny_model), device="cpu")
    untrained.max_seq_length = 32
    assert not np.allclose(untrained.encode(TEXTS), ours, atol=1e-4)
    about = json.loads((folder / "ranker.json").read_text())
    assert about["task"] == "embedder" and "modules.json" in about["files"]
    assert "1_Pooling/config.json" in about["files"]


def test_plain_bert_base_gets_mean_pooling_and_normalising_modules(tmp_path, tiny_bert):
    from sentence_transformers import SentenceTransformer

    task = make_task(tiny_bert)
    fit(task, TrainConfig(max_steps=1, batch_size=4), tmp_path / "out", show_progress=False)
    model = SentenceTransformer(str(tmp_path / "out" / "model"), device="cpu")
    model.max_seq_length = 32
    np.testing.assert_allclose(encode(task.net, task.tokenizer, TEXTS, 32), model.encode(TEXTS), rtol=1e-4, atol=1e-5)


def test_other_pooling_is_refused_naming_the_folder(tmp_path, tiny_model):
    import shutil

    base = tmp_path / "cls"
    shutil.copytree(tiny_model, base)
    pooling = base / "1_Pooling" / "config.json"
    config = json.loads(pooling.read_text())
    config = ({**config, "pooling_mode": "cls"} if "pooling_mode" in config
              else {**config, "pooling_mode_mean_tokens": False})
    pooling.write_text(json.dumps(config))
    with pytest.raises(InputError, match="cls.*mean pooling"):
        check_mean_pooled(base)


def test_killed_and_resumed_run_reaches_the_uninterrupted_state(tmp_path, tiny_model):
    from safetensors.torch import load_file

    config = TrainConfig(epochs=2, max_steps=5, batch_size=4, checkpoint_every=2, seed=3)
    fit(make_task(tiny_model), config, tmp_path / "straight", show_progress=False)
    assert fit(make_task(tiny_model), config, tmp_path / "resumed", stop_after=3,
               show_progress=False) == {"stopped_at": 3}
    fit(make_task(tiny_model, seed=99), config, tmp_path / "resumed", resume=True, show_progress=False)
    straight = load_file(str(tmp_path / "straight" / "model" / "model.safetensors"))
    resumed = load_file(str(tmp_path / "resumed" / "model" / "model.safetensors"))
    for name in straight:
        torch.testing.assert_close(straight[name], resumed[name], rtol=0, atol=1e-6, msg=name)


def test_cli_mine_train_embedder_then_index_with_it(tmp_path, beir_folder, tiny_model, capsys):
    index = tmp_path / "idx"
    assert main(["index", str(beir_folder), "--out", str(index), "--model", str(tiny_model), "--quiet"]) == 0
    mined = tmp_path / "mined"
    assert main(["mine", str(index), "--queries", str(beir_folder), "--split", "test", "--out", str(mined),
                 "--strategy", "bm25", "--negatives", "1", "--relative-margin", "-1", "--quiet"]) == 0
    capsys.readouterr()
    out = tmp_path / "emb"
    assert main(["train", "embedder", "--groups", str(mined), "--index", str(index), "--out", str(out),
                 "--model", str(tiny_model), "--max-steps", "2", "--batch-size", "3", "--max-length", "32",
                 "--learning-rate", "1e-2",
                 "--dev", str(beir_folder), "--dev-split", "test", "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "best on dev (step 2): dense retrieval MRR@10" in printed and "queries/s" in printed
    best = json.loads((out / "metrics.json").read_text())["best"]
    assert 0 < best["MRR@10"] <= 1 and best["R@100"] == 1.0  # six articles: every one is in the top 100

    tuned = tmp_path / "idx-tuned"
    assert main(["index", str(beir_folder), "--out", str(tuned), "--model", str(out / "model"), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["query", str(tuned), "oil prices", "--retriever", "dense", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)["hits"]) == 6
    # the old index refuses the new model: its vectors differ
    assert main(["query", str(index), "oil prices", "--retriever", "dense", "--model", str(out / "model")]) == 2
    assert "gives different vectors" in capsys.readouterr().err
    # a changed file of the fine-tuned model is refused by name before anything loads it
    pooling = out / "model" / "1_Pooling" / "config.json"
    pooling.write_text(pooling.read_text().replace("mean", "max"))
    assert main(["index", str(beir_folder), "--out", str(tmp_path / "idx-3"), "--model", str(out / "model"),
                 "--quiet"]) == 2
    assert "1_Pooling/config.json" in capsys.readouterr().err and not (tmp_path / "idx-3").exists()
