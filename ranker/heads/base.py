"""What every task head shares: batching, the loss, inference in length-sorted batches.

Each head's task (``classify``, ``pairs``, ``tag``, ``qa``) only says how a batch
of its examples becomes model inputs with labels (``features``) and how it is
evaluated; transformers' head classes compute the loss from the labels
(cross-entropy for classes and tags, mean squared error for one regression
output, start/end cross-entropy for spans), and :func:`ranker.train.loop.fit` runs
the loop, the checkpoints and the evaluations for all of them and the reranker.
"""

from __future__ import annotations

import contextlib
from typing import Any, Callable

import numpy as np

from ranker.models.loading import device_of, pick_device


def length_grouped_batches(lengths: list[int], batch_size: int, rng: np.random.Generator) -> list[list[int]]:
    """Indices shuffled, cut into mega-batches of 50 batches, each sorted longest
    first, then cut into batches; the batch order is shuffled again.

    Example:
        >>> b = length_grouped_batches([5, 1, 9, 3], 2, np.random.default_rng(0))
        >>> sorted(sorted(x) for x in b)
        [[0, 2], [1, 3]]
    """
    order = rng.permutation(len(lengths)).tolist()
    mega = batch_size * 50
    batches = []
    for start in range(0, len(order), mega):
        chunk = sorted(order[start : start + mega], key=lambda i: -lengths[i])
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


class ExampleTask:
    """A :class:`ranker.train.loop.Task` over a list of examples; subclasses define
    ``features(examples)`` (tensors with ``labels``), ``evaluate()`` and ``about()``.

    Batches group examples of similar length (``length`` is a cheap proxy, such
    as characters), so each is padded only to its own longest member.

    Example:
        >>> class Echo(ExampleTask):
        ...     def features(self, examples): return {}
        >>> task = Echo(["a", "bbb", "cc"], net=None, tokenizer=None, batch_size=2, length=len)
        >>> sorted(len(b) for b in task.batches(0, np.random.default_rng(0)))
        [1, 2]
    """

    primary = "loss"

    def __init__(self, examples: list, net, tokenizer, batch_size: int, length: Callable[[Any], int]) -> None:
        if not examples:
            raise ValueError("no training examples")
        self.examples = examples
        self.net = net
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        self.lengths = [length(e) for e in examples]

    def batches(self, epoch: int, rng: np.random.Generator) -> list[list[int]]:
        return length_grouped_batches(self.lengths, self.batch_size, rng)

    def features(self, examples: list) -> dict:
        raise NotImplementedError

    def loss(self, batch: list[int]):
        inputs = self.features([self.examples[i] for i in batch])
        device = device_of(self.net)
        return self.net(**{k: v.to(device) for k, v in inputs.items()}).loss, len(batch)

    def evaluate(self) -> dict[str, float]:
        return {}

    def about(self) -> dict[str, Any]:
        return {}


def sequence_logits(
    net,
    tokenizer,
    texts: list[str],
    pairs: list[str] | None = None,
    max_length: int = 128,
    batch_size: int = 32,
    show_progress: bool = False,
    desc: str = "predict",
) -> np.ndarray:
    """A sequence head's outputs, ``(len(texts), num_labels)``, in input order.

    Inputs are run longest first in batches padded only to their own longest
    member, which on a CPU is most of the speed. With ``pairs``, each input is
    ``[CLS] texts[i] [SEP] pairs[i] [SEP]``, truncated longest first. ``net`` is a
    transformers model with its tokenizer, or an OpenVINO
    :class:`~ranker.models.exported.CompiledModel` with a
    :class:`~ranker.models.tokenizer.FastTokenizer` (no torch imported then).

    Example:
        >>> net, tok = new_head(tiny_bert, "sequence", seed=13, num_labels=1)  # the reranker: one score per pair
        >>> logits = sequence_logits(net, tok, ["oil", "dam"], ["oil prices fell", "the dam broke"])
        >>> logits.shape, logits.dtype  # a row per input, in input order; a column per label
        ((2, 1), dtype('float32'))
    """
    from tqdm import tqdm

    if pairs is not None and len(pairs) != len(texts):
        raise ValueError(f"{len(texts)} texts but {len(pairs)} pairs")
    size = [len(t) + (len(pairs[i]) if pairs is not None else 0) for i, t in enumerate(texts)]
    order = sorted(range(len(texts)), key=lambda i: -size[i])
    out = np.empty((len(texts), net.config.num_labels), dtype=np.float32)
    with tqdm(total=len(order), desc=desc, unit="input", disable=not show_progress) as bar:
        if getattr(net, "runtime", "") == "openvino":

            def made(chunk: list[int]) -> dict[str, np.ndarray]:
                bar.update(len(chunk))  # counted as it starts: the streams run batches side by side
                return tokenizer([texts[i] for i in chunk], [pairs[i] for i in chunk] if pairs is not None else None,
                                 max_length)

            for chunk, logits in net.run_in_order(order, batch_size, made):
                out[chunk] = logits
            return out
        with _torch_forward(net, tokenizer, max_length) as run:
            for start in range(0, len(order), batch_size):
                chunk = order[start : start + batch_size]
                out[chunk] = run([texts[i] for i in chunk], [pairs[i] for i in chunk] if pairs is not None else None)
                bar.update(len(chunk))
    return out


@contextlib.contextmanager
def _torch_forward(net, tokenizer, max_length: int):
    """A batch's logits from a transformers model (see :func:`inference`)."""

    def run(texts: list[str], pairs: list[str] | None) -> np.ndarray:
        batch = tokenizer(texts, pairs, truncation="longest_first" if pairs is not None else True,
                          max_length=max_length, padding=True, return_tensors="pt")
        return head_outputs(net, batch)["logits"]

    with inference(net):
        yield run


@contextlib.contextmanager
def inference(net):
    """While it lasts, a torch model is in eval mode without autograd (its training
    mode is restored after); an OpenVINO model needs neither.

    Example:
        >>> net, tokenizer = new_head(tiny_bert, "sequence", seed=13, num_labels=1)
        >>> _ = net.train()  # as the training loop leaves it between evaluations
        >>> with inference(net):
        ...     logits = head_outputs(net, tokenizer(["oil"], return_tensors="pt"))["logits"]
        ...     print(net.training)
        False
        >>> net.training, logits.shape  # training mode is back
        (True, (1, 1))
    """
    if getattr(net, "runtime", "") == "openvino":
        yield
        return
    import torch

    was_training = net.training
    net.eval()
    try:
        with torch.inference_mode():
            yield
    finally:
        net.train(was_training)


def head_outputs(net, inputs: dict) -> dict[str, np.ndarray]:
    """A head's outputs by name (``logits``, or ``start_logits`` and ``end_logits``) as
    float32 NumPy arrays, from a torch model or an OpenVINO one (:mod:`ranker.models.exported`);
    a torch model runs it under :func:`inference`.

    Example:
        >>> net, tokenizer = new_head(tiny_bert, "span", seed=13)  # the QA reader's head
        >>> with inference(net):
        ...     outputs = head_outputs(net, tokenizer(["oil"], return_tensors="pt"))
        >>> sorted(outputs), outputs["start_logits"].shape  # [CLS] oil [SEP]: a start score per token
        (['end_logits', 'start_logits'], (1, 3))
    """
    if getattr(net, "runtime", "") == "openvino":
        return net.outputs({k: np.asarray(v) for k, v in inputs.items()})
    device = device_of(net)
    out = net(**{k: v.to(device) for k, v in inputs.items()})
    named = {k: getattr(out, k, None) for k in ("logits", "start_logits", "end_logits")}
    return {k: v.float().cpu().numpy() for k, v in named.items() if v is not None}


def new_head(model: str, head: str, seed: int, device: str = "auto", labels: list[str] | None = None,
             num_labels: int | None = None):
    """The backbone with a fresh head (see :func:`ranker.models.checkpoints.load_head`) and its
    tokenizer, on ``device``; torch is seeded first so the head's initial weights,
    and so the whole run, repeat.

    Example:
        >>> net, tokenizer = new_head(tiny_bert, "sequence", seed=13, labels=["earn", "acq"])  # or "all-MiniLM-L6-v2"
        >>> net.config.id2label
        {0: 'earn', 1: 'acq'}
        >>> again, _ = new_head(tiny_bert, "sequence", seed=13, labels=["earn", "acq"])
        >>> bool((again.classifier.weight == net.classifier.weight).all())  # the same seed, the same fresh head
        True
    """
    import torch

    from ranker.models.checkpoints import load_head, load_tokenizer

    torch.manual_seed(seed)
    net = load_head(model, head, labels=labels, num_labels=num_labels).to(pick_device(device))
    return net, load_tokenizer(model)


def holdout(n: int, fraction: float, seed: int = 13) -> tuple[list[int], list[int]]:
    """A deterministic split of ``range(n)``: (kept, held out), each sorted.

    Example:
        >>> holdout(10, 0.2, seed=0)
        ([0, 1, 2, 3, 5, 7, 8, 9], [4, 6])
    """
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"fraction must be in (0, 1), not {fraction}")
    order = np.random.default_rng(seed).permutation(n)
    cut = int(round(n * fraction))
    return sorted(order[cut:].tolist()), sorted(order[:cut].tolist())
