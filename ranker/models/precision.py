"""Number formats for the forward pass: fp32, bfloat16 autocast, or int8 weights.

On this project's 2-core AMD EPYC (AVX512-BF16), bfloat16 autocast scored
reranking pairs 1.8-1.9x faster than fp32 with scores correlating at 0.99999,
and made a training step 1.6x faster; dynamic int8 quantisation scored 2.0-2.3x
faster but moved the scores more (Pearson 0.975). See benchmarks/RESULTS.md.
"""

from __future__ import annotations

import contextlib

#: ``auto``: bf16 where the hardware computes it natively, else fp32.
PRECISIONS = ("auto", "fp32", "bf16", "int8")
#: Training keeps fp32 weights and gradients, so int8 is for inference only.
TRAIN_PRECISIONS = ("fp32", "bf16", "auto")


def validate(precision: str, allowed: tuple[str, ...] = PRECISIONS) -> None:
    """Raise a ValueError unless ``precision`` is one of ``allowed``.

    Example:
        >>> validate("fp16")
        Traceback (most recent call last):
        ...
        ValueError: precision must be one of auto, fp32, bf16, int8, not 'fp16'
    """
    if precision not in allowed:
        raise ValueError(f"precision must be one of {', '.join(allowed)}, not '{precision}'")


def native_bf16(device_type: str) -> bool:
    """Whether ``device_type`` (``cpu`` or ``cuda``) computes bfloat16 natively, so that
    autocasting to it is faster rather than emulated.

    Example:
        >>> native_bf16("cpu") in (True, False)
        True
    """
    import torch

    if device_type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if device_type == "cpu":
        # oneDNN's own check (AVX512-BF16 or AMX); torch has no public one for the CPU
        checker = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", None)
        return bool(checker and checker())
    return False


def resolve(precision: str, device_type: str) -> str:
    """``precision`` with ``auto`` decided for ``device_type``.

    Example:
        >>> resolve("fp32", "cpu"), resolve("auto", "mps")
        ('fp32', 'fp32')
    """
    validate(precision)
    if precision == "auto":
        return "bf16" if native_bf16(device_type) else "fp32"
    return precision


def autocast(net, precision: str):
    """The context a forward pass (and loss) runs in: bfloat16 autocast for ``bf16``
    (and ``auto`` on hardware that has it), nothing otherwise (fp32, and int8,
    whose quantised layers run in their own format, and an OpenVINO model, whose
    precision was set when it was compiled). Weights stay as they are.

    Example:
        >>> import torch
        >>> from ranker.models.checkpoints import load_pair_scorer
        >>> net = load_pair_scorer(tiny_bert)
        >>> with autocast(net, "bf16"):
        ...     scores = net(input_ids=torch.tensor([[101, 3514, 102]])).logits
        >>> scores.dtype, net.bert.embeddings.word_embeddings.weight.dtype  # computed in bf16, weights kept in fp32
        (torch.bfloat16, torch.float32)
    """
    if getattr(net, "runtime", "torch") != "torch":
        return contextlib.nullcontext()
    import torch

    from ranker.models.loading import device_of

    kind = device_of(net).type
    if resolve(precision, kind) != "bf16":
        return contextlib.nullcontext()
    return torch.autocast(kind, dtype=torch.bfloat16)
