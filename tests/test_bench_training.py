"""The training benchmark at toy size: both trainers run the same steps over the same pairs from
the same weights, a loss that is not ours is caught, and the result has the shape run.py reads.
Speed itself is never asserted here (``make bench`` measures it)."""

from __future__ import annotations

import math

import pytest

from benchmarks import train_bench
from conftest import NEWS
from ranker.train.groups import TextGroup

TEXTS = [text for _, _, text in NEWS]
#: Six groups of a title, its article and three other articles: four pairs each.
GROUPS = [TextGroup(title, text, tuple(t for t in TEXTS if t != text)[:3]) for _, title, text in NEWS]


@pytest.fixture(scope="module")
def sharp_scorer(tmp_path_factory, tiny_bert):
    """The tiny BERT with its one-output head scaled up. The random tiny BERT gives nearly the
    same [CLS] vector for every pair (scores 1e-4 apart), so a fresh head makes every group's
    loss about ln 4, whatever the loss computes, and the first-batch check would say little."""
    import torch

    from ranker.models.checkpoints import load_pair_scorer, load_tokenizer, save_model

    torch.manual_seed(0)
    net = load_pair_scorer(str(tiny_bert))
    with torch.no_grad():
        net.classifier.weight.mul_(1e4)
    folder = tmp_path_factory.mktemp("sharp")
    save_model(net, load_tokenizer(str(tiny_bert)), folder, {"task": "reranker"})
    return folder


def test_both_trainers_run_the_same_steps_and_pairs(sharp_scorer):
    # 4 steps of 2 groups over 6 groups: both sides go into a second epoch
    row = train_bench.compare(sharp_scorer, GROUPS, steps=4, batch_size=2, max_length=24, seed=3)
    sides = {"ranker", "CrossEncoderTrainer"}
    assert (row["steps"], row["groups"], row["pairs"], row["pairs_per_group"]) == (4, 8, 32, 4)
    assert set(row["pairs_per_second"]) == set(row["loss"]) == set(row["first_batch_loss"]) == sides
    assert all(v > 0 for v in row["pairs_per_second"].values())
    speed = row["pairs_per_second"]
    assert row["ratio"] == pytest.approx(speed["ranker"] / speed["CrossEncoderTrainer"])
    assert all(len(ends) == 2 and all(math.isfinite(x) for x in ends) for ends in row["loss"].values())
    first = row["first_batch_loss"]
    assert first["ranker"] == pytest.approx(first["CrossEncoderTrainer"], rel=1e-4)
    assert abs(first["ranker"] - math.log(4)) > 0.05  # the scores differ, so the equality above says something
    assert "step" in row["includes"] and "model" in row["includes"]


def test_listnet_with_plain_binary_labels_is_not_our_loss(sharp_scorer, monkeypatch):
    # ListNet's usual labels (1, 0, 0, 0) give the soft target softmax(labels), not the positive alone
    one_hot = train_bench.listnet_rows

    def binary(groups):
        rows = one_hot(groups)
        return {**rows, "labels": [[1.0] + [0.0] * (len(x) - 1) for x in rows["labels"]]}

    monkeypatch.setattr(train_bench, "listnet_rows", binary)
    with pytest.raises(AssertionError, match="first-batch losses differ"):
        train_bench.compare(sharp_scorer, GROUPS, steps=1, batch_size=2, max_length=24)


def test_groups_of_different_sizes_are_refused():
    with pytest.raises(ValueError, match="same number of negatives"):
        train_bench.negatives_per_group([GROUPS[0], TextGroup("q", "p", ("n",))])
    assert train_bench.loss_ends([2.0]) == [2.0, 2.0]
