"""The fine-tuning loop every head shares.

A short loop of our own rather than the HF ``Trainer`` or sentence-transformers'
``CrossEncoderTrainer``, for three reasons: their checkpoints store optimizer and
RNG state with ``torch.save`` (pickle, which we do not read or write); exact
resumption needs the data order to be a function of (seed, epoch) that we
control; and the evaluation we keep the best model by (reranking the first
stage's results as a user meets them) is ours anyway. The loop is AdamW with
linear warm-up and decay, gradient clipping, seeds, atomic checkpoints and a
progress bar with the loss and examples/s.

A *task* brings the model and the data: ``batches(epoch, rng)`` returns the
epoch's batches, ``loss(batch)`` the loss and the number of examples in the
batch, ``evaluate()`` a dict of metrics with ``task.primary`` the one the best
model is chosen by, and ``about()`` what is saved in the model's ``ranker.json``;
an optional ``extra_files(folder)`` adds files to the saved model folder.
"""

from __future__ import annotations

import json
import math
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ranker.core.errors import InputError
from ranker.core.files import atomic_directory, atomic_write_text
from ranker.core.integrity import check, file_hashes
from ranker.models.precision import TRAIN_PRECISIONS, autocast, validate


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings (the task's own settings live with the task).

    ``eval_every``: evaluate every so many steps (``0``: only at the end);
    ``checkpoint_every``: write a resumable checkpoint every so many steps.
    ``precision``: ``fp32``; ``bf16`` (forward pass and loss under bfloat16
    autocast, weights, gradients and optimizer in fp32); or ``auto``, bf16 where
    the hardware computes it natively (a CPU with AVX512-BF16 or AMX, a CUDA GPU
    that supports it) and fp32 elsewhere.

    Example:
        >>> TrainConfig(learning_rate=3e-5, epochs=2).warmup
        0.1
    """

    learning_rate: float = 1e-4
    epochs: int = 1
    max_steps: int | None = None
    batch_size: int = 8
    warmup: float = 0.1
    weight_decay: float = 0.01
    max_grad_norm: float = 1.0
    seed: int = 13
    eval_every: int = 0
    checkpoint_every: int = 50
    device: str = "auto"
    precision: str = "fp32"

    def __post_init__(self) -> None:
        validate(self.precision, TRAIN_PRECISIONS)
        if self.learning_rate <= 0 or self.epochs < 1 or self.batch_size < 1:
            raise ValueError("learning_rate must be > 0, epochs and batch_size >= 1")
        if not 0.0 <= self.warmup < 1.0:
            raise ValueError(f"warmup is a fraction of the steps in [0, 1), not {self.warmup}")
        if self.max_steps is not None and self.max_steps < 1:
            raise ValueError(f"max_steps must be >= 1, not {self.max_steps}")


class Task(Protocol):
    net: Any
    tokenizer: Any
    primary: str

    def batches(self, epoch: int, rng: np.random.Generator) -> list: ...

    def loss(self, batch) -> tuple[Any, int]: ...

    def evaluate(self) -> dict[str, float]: ...

    def about(self) -> dict[str, Any]: ...


def lr_factor(step: int, total: int, warmup_steps: int) -> float:
    """Linear warm-up to 1 over ``warmup_steps``, then linear decay to 0 at ``total``
    (transformers' ``get_linear_schedule_with_warmup``, as a function of the step
    so that a resumed run needs no scheduler state).

    Example:
        >>> [lr_factor(s, 10, 2) for s in (0, 1, 2, 6, 10)]
        [0.0, 0.5, 1.0, 0.5, 0.0]
    """
    if step < warmup_steps:
        return step / warmup_steps
    return max(0.0, (total - step) / max(1, total - warmup_steps))


def _plan(task: Task, config: TrainConfig) -> list[list]:
    """Every epoch's batches; the order depends only on (seed, epoch)."""
    return [task.batches(epoch, np.random.default_rng([config.seed, epoch])) for epoch in range(config.epochs)]


def _save_checkpoint(folder: Path, net, optimizer, state: dict) -> None:
    import torch
    from safetensors.torch import save_file

    with atomic_directory(folder) as tmp:
        save_file({k: v.detach().contiguous() for k, v in net.state_dict().items()}, str(tmp / "model.safetensors"))
        optim = optimizer.state_dict()
        tensors = {f"{i}.{name}": value for i, slots in optim["state"].items() for name, value in slots.items()}
        tensors["torch_rng"] = torch.get_rng_state()
        save_file({k: v.contiguous() for k, v in tensors.items()}, str(tmp / "optimizer.safetensors"))
        # state.json lists the sha256 of the tensor files, checked on --resume (ranker.core.integrity)
        (tmp / "state.json").write_text(json.dumps(
            {**state, "param_groups": optim["param_groups"], "files": file_hashes(tmp, "state.json")}, indent=1))


def _load_checkpoint(folder: Path, net, optimizer) -> dict:
    import torch
    from safetensors.torch import load_file

    try:
        state = json.loads((folder / "state.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InputError(folder / "state.json", None, f"unreadable checkpoint state ({err})") from None
    check(folder, state.pop("files", {}), "the checkpoint changed after it was written: train again without --resume")
    net.load_state_dict(load_file(str(folder / "model.safetensors")))
    tensors = load_file(str(folder / "optimizer.safetensors"))
    torch.set_rng_state(tensors.pop("torch_rng"))
    slots: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        index, name = key.split(".", 1)
        slots.setdefault(int(index), {})[name] = value
    optimizer.load_state_dict({"state": slots, "param_groups": state.pop("param_groups")})
    return state


def fit(
    task: Task,
    config: TrainConfig,
    out: str | Path,
    resume: bool = False,
    stop_after: int | None = None,
    show_progress: bool = True,
) -> dict[str, Any]:
    """Train ``task.net``; write the best model to ``out/model`` and ``out/metrics.json``.

    ``out/checkpoint`` holds the latest resumable state (weights, optimizer
    moments, RNG, step, evaluations), written atomically every
    ``config.checkpoint_every`` steps; ``resume=True`` continues from it and
    reaches the same weights an uninterrupted run would. ``stop_after`` ends the
    call after that many steps as if the process were killed (for tests).

    Returns:
        The metrics written to ``metrics.json``.

    Example:
        >>> from ranker.data.labelled import LabelledText
        >>> from ranker.heads.base import new_head
        >>> from ranker.heads.classify import ClassifyConfig, ClassifyTask
        >>> net, tokenizer = new_head(tiny_bert, "sequence", seed=13, labels=["dam", "oil"])
        >>> texts = [LabelledText("oil prices fell", "oil"), LabelledText("the dam broke", "dam")]
        >>> task = ClassifyTask(texts, net, tokenizer, ClassifyConfig(model=tiny_bert, max_length=16), batch_size=2)
        >>> metrics = fit(task, TrainConfig(epochs=2), tmp / "classifier", show_progress=False)
        >>> metrics["train"]["steps"], sorted(p.name for p in (tmp / "classifier").iterdir())
        (2, ['metrics.json', 'model'])
    """
    import torch

    out = _training_folder(out, resume)
    checkpoint = out / "checkpoint"
    torch.manual_seed(config.seed)
    optimizer = _optimizer(task.net, config)
    plan = _plan(task, config)
    available = sum(len(batches) for batches in plan)
    total = min(available, config.max_steps or available)
    if show_progress and config.max_steps and available < config.max_steps:
        print(f"the data gives {available} steps in {config.epochs} epoch(s) of batches of {config.batch_size}, "
              f"fewer than max_steps {config.max_steps}: training runs {available} (more epochs would run more)",
              file=sys.stderr)
    state: dict[str, Any] = {"step": 0, "examples": 0, "train_seconds": 0.0, "best": None, "history": []}
    if resume:
        state = _load_checkpoint(checkpoint, task.net, optimizer)
    keep = _Keeper(task, config, out, state, show_progress)
    stopped = _train(task, config, optimizer, plan, total, state, keep, checkpoint, stop_after, show_progress)
    if stopped:
        return {"stopped_at": state["step"]}
    if not state["history"] or state["history"][-1]["step"] != state["step"]:
        keep(state["step"])
    metrics = {
        "best": state["best"],
        "history": state["history"],
        "train": {
            "steps": state["step"],
            "steps_available": available,  # below config.max_steps when the data ran out first
            "examples": state["examples"],
            "seconds": round(state["train_seconds"], 1),
            "examples_per_second": round(state["examples"] / max(state["train_seconds"], 1e-9), 2),
            "config": asdict(config),
        },
    }
    atomic_write_text(out / "metrics.json", json.dumps(metrics, indent=2) + "\n")
    if checkpoint.exists():
        import shutil

        shutil.rmtree(checkpoint)
    return metrics


def _training_folder(out: str | Path, resume: bool) -> Path:
    """``out``, checked: never a folder of something else, and a checkpoint there only with ``resume``."""
    from ranker.core.outputs import TRAINING, check_output

    out = check_output(out, TRAINING)  # never into a folder of something else
    checkpoint = out / "checkpoint"
    if checkpoint.exists() and not resume:
        raise InputError(out, None, "holds a training checkpoint: pass --resume to continue it, or choose another "
                         "output folder")
    if resume and not checkpoint.exists():
        raise InputError(checkpoint, None, "no checkpoint to resume from")
    return out


def _optimizer(net, config: TrainConfig):
    """AdamW with weight decay on every weight but biases and layer norms (BERT's recipe)."""
    import torch

    def exempt(name: str) -> bool:
        return any(k in name for k in ("bias", "LayerNorm", "layer_norm"))

    decay = [p for n, p in net.named_parameters() if not exempt(n)]
    no_decay = [p for n, p in net.named_parameters() if exempt(n)]
    return torch.optim.AdamW(
        [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=config.learning_rate,
    )


class _Keeper:
    """Evaluate on dev at a step, and save the model when it is the best so far."""

    def __init__(self, task: Task, config: TrainConfig, out: Path, state: dict[str, Any], show_progress: bool) -> None:
        self.task, self.config, self.out, self.state, self.show_progress = task, config, out, state, show_progress

    def __call__(self, step: int) -> None:
        from tqdm import tqdm

        from ranker.models.checkpoints import save_model

        task, state = self.task, self.state
        if self.show_progress and getattr(task, "dev", None):  # it can take a minute: say what happens
            tqdm.write(f"step {step}: evaluating on dev …")
        began = time.perf_counter()
        metrics = {"step": step, **task.evaluate()}
        metrics["eval_seconds"] = round(time.perf_counter() - began, 1)
        state["history"].append(metrics)
        best = state["best"]
        if best is None or task.primary not in metrics or metrics[task.primary] > best[task.primary]:
            state["best"] = metrics
            with atomic_directory(self.out / "model") as tmp:
                about = {**task.about(), "train": asdict(self.config), "dev": metrics}
                save_model(task.net, task.tokenizer, tmp, about, getattr(task, "extra_files", None))
        if self.show_progress:
            shown = ", ".join(f"{k} {v:.4f}" for k, v in metrics.items()
                              if isinstance(v, float) and k != "eval_seconds")
            tqdm.write(f"step {step}: {shown} ({metrics['eval_seconds']}s)")


def _train(task: Task, config: TrainConfig, optimizer, plan: list[list], total: int, state: dict[str, Any],
           keep: _Keeper, checkpoint: Path, stop_after: int | None, show_progress: bool) -> bool:
    """The steps from ``state["step"]`` to ``total``, evaluating and checkpointing on
    schedule; True if ``stop_after`` ended them early."""
    from tqdm import tqdm

    warmup_steps = math.ceil(config.warmup * total)
    task.net.train()
    smoothed = None
    steps_this_call = 0
    batches = (batch for epoch in plan for batch in epoch)
    with tqdm(total=total, initial=state["step"], desc="train", unit="step", disable=not show_progress) as bar:
        for step_index, batch in enumerate(batches):
            if step_index >= total:
                break
            if step_index < state["step"]:  # resumed: these steps are in the checkpoint
                continue
            began = time.perf_counter()
            value, examples = _step(task, config, optimizer, batch, lr_factor(step_index, total, warmup_steps))
            steps_this_call += 1
            state["step"] = step_index + 1
            state["examples"] += examples
            state["train_seconds"] += time.perf_counter() - began
            smoothed = value if smoothed is None else 0.9 * smoothed + 0.1 * value
            bar.update(1)
            bar.set_postfix(loss=f"{smoothed:.4f}", per_s=f"{state['examples'] / state['train_seconds']:.1f}")
            if stop_after is not None and steps_this_call >= stop_after:
                return True
            step = state["step"]
            # A periodic evaluation this close to the end would repeat the final one.
            if config.eval_every and step % config.eval_every == 0 and total - step >= config.eval_every // 2:
                keep(step)
            if config.checkpoint_every and step % config.checkpoint_every == 0 and step < total:
                _save_checkpoint(checkpoint, task.net, optimizer, state)
    return False


def _step(task: Task, config: TrainConfig, optimizer, batch, lr_scale: float) -> tuple[float, int]:
    """One optimisation step on ``batch``: (its loss, the examples it held)."""
    import torch

    for group in optimizer.param_groups:
        group["lr"] = config.learning_rate * lr_scale
    with autocast(task.net, config.precision):
        loss, examples = task.loss(batch)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(task.net.parameters(), config.max_grad_norm)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return float(loss.detach()), examples
