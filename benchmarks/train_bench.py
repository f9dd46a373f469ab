"""Training: our cross-encoder loop against sentence-transformers' ``CrossEncoderTrainer``, same data and settings.

Both sides start from the same weights (the backbone with a one-output head
initialised once under ``seed`` and saved), read the same groups (a query, its
positive, ``n`` negatives) and train for the same number of steps of
``batch_size`` groups with AdamW (weight decay 0.01 off biases and LayerNorms),
linear warm-up over 10% of the steps then linear decay, gradients clipped at
1.0, fp32 on the CPU, no evaluation, no checkpoints, no logging.

The loss is softmax cross-entropy over each group's scores with the positive as
the target (our ``listwise`` loss). Its sentence-transformers twin is
``ListNetLoss``: the cross-entropy between softmax(labels) and softmax(scores).
With labels (0, -inf, ..., -inf) — the log of a one-hot distribution —
softmax(labels) is exactly one-hot on the positive and the loss is ours. With
``mini_batch_size=-1`` it scores the whole batch in one forward pass, as ours
does (its default cuts the batch into forward passes of ``batch_size`` pairs;
its documented ``0`` for "whole batch" falls back to that default, because the
code reads ``mini_batch_size or batch_size``).
(``MultipleNegativesRankingLoss``, the other candidate, puts a sigmoid and a
scale of 10 on the scores and adds in-batch negatives; its ``num_negatives=0``
fails in ``torch.multinomial``, so it cannot be made equal.)

Training is not bit-identical across the two implementations (data order,
dropout draws and optimizer kernels differ), so "same results" means: the same
loss on the same first batch from the same weights (no dropout, asserted to
1e-5), the same number of steps and pairs (asserted), and each side's mean loss
over the first and last fifth of the steps (reported, not asserted: a short run
moves a fresh head's loss only a little from ln(1 + negatives)). Both sides'
losses are recorded by thin subclasses that only append ``float(loss)``, the
read fit() does anyway.

Run: ``python -m benchmarks.train_bench --steps 20`` (mined groups from
``runs/reranker-full/mined``, texts from ``indexes/news``); prints JSON.
"""

from __future__ import annotations

import math
import tempfile
import time
from pathlib import Path
from typing import Any

#: What the timed seconds of each side cover (also returned by :func:`compare`).
INCLUDES = (
    "step time only, summed over the training steps: "
    "ranker = fit()'s own step clock (learning rate update, tokenising the batch, forward, loss, backward, "
    "gradient clipping, AdamW step, zero_grad); "
    "CrossEncoderTrainer = on_step_begin to on_step_end (tokenising inside the loss, forward, loss, backward, "
    "gradient clipping, AdamW step, scheduler step, zero_grad). "
    "Excluded on both sides: loading the model, building the groups/Dataset, constructing the trainer, "
    "fetching batches from the data loader, saving. call_seconds is the whole fit()/trainer.train() call "
    "(ours writes the final model; theirs prepares accelerate, the data loader and the optimizer)."
)


def load_groups(groups_path: str | Path, index_path: str | Path, n: int, negatives: int = 3,
                passage_words: int | None = None) -> list:
    """The first ``n`` mined groups that have ``negatives`` negatives, with their texts from the index.

    Groups short of negatives are skipped so that every step of both trainers
    scores the same number of pairs.

    Args:
        groups_path: ``groups.parquet`` written by ``ranker mine`` (or its folder).
        index_path: the index the groups were mined from (it holds the texts).
        n: how many groups.
        negatives: negatives per group; groups with more are cut to this many.
        passage_words: as in :class:`ranker.train.reranker.RerankerTrainConfig`.

    Returns:
        ``n`` :class:`ranker.train.reranker.TextGroup` (fewer if the file holds fewer).

    Example:
        >>> groups = load_groups("models/demo/mined", "indexes/news", 160, negatives=2)
        >>> len(groups), {len(g.negatives) for g in groups}
        (6, {2})
    """
    from ranker.index.folder import Index
    from ranker.train.groups import read_groups, text_groups

    rows = [row for row in read_groups(groups_path) if len(row[3]) >= negatives][:n]
    return text_groups(rows, Index.open(index_path).docs, negatives, passage_words)


def negatives_per_group(groups: list) -> int:
    """The one number of negatives every group has.

    Raises:
        ValueError: no groups, or groups of different sizes (each trainer would then
            draw a different number of pairs per step, and pairs/s would compare unequal work).

    Example:
        >>> from ranker.train.groups import TextGroup
        >>> negatives_per_group([TextGroup("q", "p", ("a", "b"))] * 3)
        2
    """
    sizes = {len(g.negatives) for g in groups}
    if len(sizes) != 1:
        raise ValueError(f"groups must all have the same number of negatives, not {sorted(sizes) or 'none'}")
    return sizes.pop()


def listnet_rows(groups: list) -> dict[str, list]:
    """The columns ``ListNetLoss`` reads: ``query``, ``docs`` (positive first) and ``labels``.

    The labels are the log of a one-hot distribution, so ListNet's target
    softmax(labels) puts all the mass on the positive: its loss is then softmax
    cross-entropy with the positive as the target, which is our listwise loss.

    Example:
        >>> from ranker.train.groups import TextGroup
        >>> listnet_rows([TextGroup("q", "p", ("n",))])
        {'query': ['q'], 'docs': [['p', 'n']], 'labels': [[0.0, -inf]]}
    """
    return {"query": [g.query for g in groups],
            "docs": [[g.positive, *g.negatives] for g in groups],
            "labels": [[0.0] + [-math.inf] * len(g.negatives) for g in groups]}


def initial_model(model: str | Path, folder: Path, seed: int) -> Path:
    """The backbone with a one-output head initialised under ``seed``, saved to ``folder``.

    Both trainers load this folder, so they start from identical weights (the
    head is new, and each library would otherwise draw it its own way).

    Example:
        >>> init = initial_model(tiny_bert, tmp / "init", 13)
        >>> init == tmp / "init", (init / "config.json").is_file()
        (True, True)
    """
    import torch

    from ranker.models.checkpoints import load_pair_scorer, load_tokenizer, save_model

    torch.manual_seed(seed)
    folder.mkdir(parents=True, exist_ok=True)
    save_model(load_pair_scorer(str(model)), load_tokenizer(str(model)), folder, {"task": "reranker"})
    return folder


def loss_ends(losses: list[float]) -> list[float]:
    """[mean of the first, mean of the last] fifth of the steps' losses (at least one step each).

    One step's loss swings with its batch; a few steps' mean shows the trend.

    Example:
        >>> loss_ends([4.0, 3.0, 2.0, 1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.5])
        [3.5, 0.5]
    """
    k = max(1, len(losses) // 5)
    return [sum(losses[:k]) / k, sum(losses[-k:]) / k]


class RecordedTask:
    """A :class:`ranker.train.loop.Task` that passes everything to ``task`` and keeps each step's loss and pairs.

    Example:
        >>> from ranker.train.loop import TrainConfig, fit
        >>> groups = load_groups("models/demo/mined", "indexes/news", 4, negatives=2)
        >>> recorded = RecordedTask(our_task(initial_model(tiny_bert, tmp / "init", 13), groups, 2, 32))
        >>> _ = fit(recorded, TrainConfig(max_steps=2, batch_size=2, device="cpu"), tmp / "out", show_progress=False)
        >>> len(recorded.losses), recorded.pairs  # two steps of two groups of three pairs
        (2, 12)
    """

    def __init__(self, task) -> None:
        self.task = task
        self.net, self.tokenizer, self.primary = task.net, task.tokenizer, task.primary
        self.losses: list[float] = []
        self.pairs = 0

    def batches(self, epoch, rng):
        return self.task.batches(epoch, rng)

    def loss(self, batch):
        loss, pairs = self.task.loss(batch)
        # fit() reads the value the same way each step, so this adds no extra synchronisation.
        self.losses.append(float(loss.detach()))
        self.pairs += pairs
        return loss, pairs

    def evaluate(self) -> dict[str, float]:
        return self.task.evaluate()

    def about(self) -> dict[str, Any]:
        return self.task.about()


def our_task(init: Path, groups: list, batch_size: int, max_length: int):
    """Our listwise :class:`ranker.train.reranker.RerankerTask` over the weights in ``init``."""
    from ranker.models.checkpoints import load_pair_scorer, load_tokenizer
    from ranker.train.reranker import RerankerTask, RerankerTrainConfig

    config = RerankerTrainConfig(model=str(init), loss="listwise", max_length=max_length)
    return RerankerTask(groups, load_pair_scorer(str(init)), load_tokenizer(str(init)), config, batch_size, dev=None)


def their_model_and_loss(init: Path, max_length: int):
    """A ``CrossEncoder`` over the weights in ``init``, and a ``ListNetLoss`` on it that also
    keeps each step's loss and pairs."""
    from sentence_transformers.cross_encoder import CrossEncoder
    from sentence_transformers.cross_encoder.losses import ListNetLoss

    class RecordedListNetLoss(ListNetLoss):
        def forward(self, inputs, labels, prompt=None, task=None):
            loss = super().forward(inputs, labels, prompt=prompt, task=task)
            self.losses.append(float(loss.detach()))
            self.pairs += sum(len(docs) for docs in inputs[1])
            return loss

    model = CrossEncoder(str(init), max_length=max_length, device="cpu")
    loss = RecordedListNetLoss(model, mini_batch_size=-1)
    loss.losses, loss.pairs = [], 0
    return model, loss


def first_batch_losses(task, model, loss, groups: list) -> tuple[float, float]:
    """Both losses on the same groups from the same weights, dropout off: they must agree.

    Example:
        >>> init = initial_model(tiny_bert, tmp / "init", 13)
        >>> groups = load_groups("models/demo/mined", "indexes/news", 2, negatives=2)
        >>> model, loss = their_model_and_loss(init, 32)
        >>> ours, theirs = first_batch_losses(our_task(init, groups, 2, 32), model, loss, groups)
        >>> math.isclose(ours, theirs, rel_tol=1e-5)
        True
    """
    import torch

    rows = listnet_rows(groups)
    task.net.eval()
    model.eval()
    with torch.no_grad():
        ours = float(task.loss(list(range(len(groups))))[0])
        theirs = float(loss([rows["query"], rows["docs"]], [torch.tensor(x) for x in rows["labels"]]))
    loss.losses.clear()
    loss.pairs = 0
    return ours, theirs


def train_ours(task, steps: int, batch_size: int, learning_rate: float, seed: int, out: Path,
               precision: str = "fp32") -> dict[str, Any]:
    """Run :func:`ranker.train.loop.fit` for ``steps`` steps: step seconds, call seconds, steps, pairs, losses."""
    from ranker.train.loop import TrainConfig, fit

    epochs = math.ceil(steps * batch_size / len(task.groups))
    config = TrainConfig(learning_rate=learning_rate, epochs=epochs, max_steps=steps, batch_size=batch_size,
                         warmup=0.1, weight_decay=0.01, max_grad_norm=1.0, seed=seed, eval_every=0,
                         checkpoint_every=0, device="cpu", precision=precision)
    recorded = RecordedTask(task)
    began = time.perf_counter()
    metrics = fit(recorded, config, out, show_progress=False)
    call = time.perf_counter() - began
    train = metrics["train"]
    # fit() rounds its seconds to 0.1 but keeps examples/s to 0.01: recover the seconds from the rate.
    seconds = train["examples"] / train["examples_per_second"]
    return {"seconds": seconds, "call_seconds": call, "steps": train["steps"], "pairs": recorded.pairs,
            "losses": recorded.losses}


def train_theirs(model, loss, groups: list, steps: int, batch_size: int, learning_rate: float, seed: int,
                 out: Path, bf16: bool = False) -> dict[str, Any]:
    """Run ``CrossEncoderTrainer.train()`` for ``steps`` steps: step seconds, call seconds, steps, pairs, losses."""
    from datasets import Dataset
    from sentence_transformers.cross_encoder import CrossEncoderTrainer, CrossEncoderTrainingArguments
    from transformers import TrainerCallback
    from transformers.trainer_callback import PrinterCallback

    class StepClock(TrainerCallback):
        """Sums the wall time from each step's start to its end (after the optimizer and zero_grad)."""

        def __init__(self) -> None:
            self.seconds, self.steps, self.began = 0.0, 0, 0.0

        def on_step_begin(self, args, state, control, **kwargs):
            self.began = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            self.seconds += time.perf_counter() - self.began
            self.steps += 1

    args = CrossEncoderTrainingArguments(
        output_dir=str(out), max_steps=steps, per_device_train_batch_size=batch_size, learning_rate=learning_rate,
        warmup_steps=0.1, weight_decay=0.01, max_grad_norm=1.0, lr_scheduler_type="linear", seed=seed,
        data_seed=seed, eval_strategy="no", save_strategy="no", logging_strategy="no", report_to="none",
        disable_tqdm=True, dataloader_num_workers=0, use_cpu=True, bf16=bf16, fp16=False,
    )
    clock = StepClock()
    trainer = CrossEncoderTrainer(model=model, args=args, train_dataset=Dataset.from_dict(listnet_rows(groups)),
                                  loss=loss, callbacks=[clock])
    # With the progress bar off, transformers prints the run's summary instead; the benchmark reports its own.
    trainer.remove_callback(PrinterCallback)
    began = time.perf_counter()
    trainer.train()
    call = time.perf_counter() - began
    return {"seconds": clock.seconds, "call_seconds": call, "steps": clock.steps, "pairs": loss.pairs,
            "losses": list(loss.losses), "optim": str(args.optim)}


def compare(model: str | Path, groups: list, steps: int, batch_size: int = 8, max_length: int = 128,
            learning_rate: float = 1e-4, seed: int = 13, bf16: bool = False) -> dict[str, Any]:
    """Train pairs/s of our loop and of ``CrossEncoderTrainer`` on the same groups and settings.

    Before timing, both losses are computed on the same first ``batch_size``
    groups from the same weights with dropout off; they must agree. After
    training, both sides must have run ``steps`` steps over the same number of pairs.

    Args:
        model: the backbone (a transformers folder, or ``all-MiniLM-L6-v2``).
        groups: :class:`ranker.train.reranker.TextGroup` s, all with the same number of
            negatives (see :func:`load_groups`); cut to a multiple of ``batch_size``
            so that every step holds ``batch_size`` groups.
        steps: optimizer steps on each side (several epochs if the groups run out).
        batch_size: groups per step.
        max_length: tokens per (query, article) pair.
        learning_rate: peak learning rate (10% linear warm-up, then linear decay).
        seed: seeds the head's initial weights and both trainers.
        bf16: also time both under bfloat16 autocast (our ``TrainConfig.precision``,
            its ``bf16=True``), reported as ``ranker bf16`` and ``CrossEncoderTrainer bf16``.

    Returns:
        ``steps``, ``groups`` and ``pairs`` (seen by each side), ``pairs_per_second``
        and ``seconds``/``call_seconds`` per side, ``ratio`` (ours over theirs),
        ``loss`` per side as [mean of the first, mean of the last] fifth of the
        steps, ``first_batch_loss`` per side, and ``includes`` (what the seconds cover).

    Raises:
        AssertionError: the first-batch losses, the steps or the pairs differ.
        ValueError: the groups differ in size, or fewer than ``batch_size`` are given.

    Example:
        >>> groups = load_groups("models/demo/mined", "indexes/news", 4, negatives=2)
        >>> row = compare(tiny_bert, groups, steps=2, batch_size=2, max_length=32)
        >>> row["steps"], row["pairs"], sorted(row["pairs_per_second"])
        (2, 12, ['CrossEncoderTrainer', 'ranker'])
    """
    negatives = negatives_per_group(groups)
    groups = groups[: len(groups) // batch_size * batch_size]
    if not groups:
        raise ValueError(f"need at least batch_size={batch_size} groups")
    with tempfile.TemporaryDirectory() as tmp:
        init = initial_model(model, Path(tmp) / "init", seed)
        task = our_task(init, groups, batch_size, max_length)
        their_model, their_loss = their_model_and_loss(init, max_length)
        first = first_batch_losses(task, their_model, their_loss, groups[:batch_size])
        assert math.isclose(*first, rel_tol=1e-5, abs_tol=1e-6), f"first-batch losses differ: {first}"
        runs = {"ranker": train_ours(task, steps, batch_size, learning_rate, seed, Path(tmp) / "ranker")}
        runs["CrossEncoderTrainer"] = train_theirs(their_model, their_loss, groups, steps, batch_size, learning_rate,
                                                   seed, Path(tmp) / "st")
        if bf16:
            runs["ranker bf16"] = train_ours(our_task(init, groups, batch_size, max_length), steps, batch_size,
                                             learning_rate, seed, Path(tmp) / "bf16", precision="bf16")
            their_model, their_loss = their_model_and_loss(init, max_length)
            runs["CrossEncoderTrainer bf16"] = train_theirs(their_model, their_loss, groups, steps, batch_size,
                                                            learning_rate, seed, Path(tmp) / "st-bf16", bf16=True)
    pairs = steps * batch_size * (1 + negatives)
    seen = {name: (run["steps"], run["pairs"]) for name, run in runs.items()}
    assert all(v == (steps, pairs) for v in seen.values()), f"(steps, pairs) differ: {seen} (expected {(steps, pairs)})"
    speed = {name: pairs / run["seconds"] for name, run in runs.items()}
    theirs = runs["CrossEncoderTrainer"]
    return {
        "steps": steps, "groups": steps * batch_size, "pairs": pairs, "pairs_per_group": 1 + negatives,
        "batch_size": batch_size, "max_length": max_length, "learning_rate": learning_rate, "seed": seed,
        "pairs_per_second": speed, "ratio": speed["ranker"] / speed["CrossEncoderTrainer"],
        **({"ratio_bf16": speed["ranker bf16"] / speed["CrossEncoderTrainer"],
            "ratio_both_bf16": speed["ranker bf16"] / speed["CrossEncoderTrainer bf16"]} if bf16 else {}),
        "seconds": {name: run["seconds"] for name, run in runs.items()},
        "call_seconds": {name: run["call_seconds"] for name, run in runs.items()},
        "loss": {name: loss_ends(run["losses"]) for name, run in runs.items()},
        "first_batch_loss": {"ranker": first[0], "CrossEncoderTrainer": first[1]},
        "their_optimizer": theirs["optim"],
        "includes": INCLUDES,
    }


def main(argv: list[str] | None = None) -> int:
    """Print :func:`compare` on real mined groups as JSON (the numbers ``benchmarks.run`` would record).

    Example (real mined groups, each side training for about 50 s: shown, not run)::

        main(["--steps", "20"])  # prints {"steps": 20, "groups": 160, "pairs": 640, ...} and returns 0
    """
    import argparse
    import json

    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--groups", type=Path, default=Path("runs/reranker-full/mined/groups.parquet"))
    parser.add_argument("--index", type=Path, default=Path("indexes/news"))
    parser.add_argument("--model", default="all-MiniLM-L6-v2")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--negatives", type=int, default=3)
    parser.add_argument("--max-length", type=int, default=128)
    args = parser.parse_args(argv)
    groups = load_groups(args.groups, args.index, args.steps * args.batch_size, args.negatives)
    row = compare(args.model, groups, args.steps, args.batch_size, args.max_length)
    print(json.dumps(row, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
