"""Reranking: our scoring against ``sentence_transformers.CrossEncoder.predict``, same model, same pairs.

Both score the same (query, text) pairs with the same weights, 128 tokens and
batches of 32; the scores must agree (to 1e-4) before speeds are compared. Ours
sorts pairs by length so each batch is padded only to its own longest pair and
runs under ``torch.inference_mode``; sentence-transformers 6's
CrossEncoder.predict sorts by length too, and the transformer's forward pass is
96% of a scoring pass (``python -m benchmarks.profiles rerank``), so the fp32
sides should be close and the gain has to come from the runtime and the number
format: OpenVINO (fp32, and bf16, our default on a CPU with AVX512-BF16),
PyTorch's bfloat16 autocast and int8 weights, timed here on the same pairs.
sentence-transformers' own ONNX and OpenVINO backends cannot be the comparison:
they need optimum-onnx (transformers < 4.58) or optimum-intel (transformers < 5.6,
and a CUDA torch), neither of which installs beside our pins.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import timed_together


def compare(model: str | Path, queries: list[str], texts: list[str], max_length: int = 128,
            batch_size: int = 32) -> dict[str, Any]:
    """Pairs/s of both sides on ``zip(queries, texts)``; raises AssertionError if the scores differ."""
    from sentence_transformers import CrossEncoder

    from ranker.models.checkpoints import load_pair_scorer, load_tokenizer
    from ranker.models.precision import autocast
    from ranker.rerank.reranker import RerankConfig, Reranker, quantized, score_pairs

    net, tokenizer = load_pair_scorer(str(model)), load_tokenizer(str(model))
    net.eval()
    theirs_model = CrossEncoder(str(model), max_length=max_length, device="cpu")
    pairs = list(zip(queries, texts, strict=True))
    # int8 changes the scores, so it is not held to equality here: its ranking
    # quality is measured on the test split (RESULTS.md), its agreement reported
    fast = quantized(net)
    # the default path, as `ranker query` loads it (the export is made here, before any timing)
    default = Reranker(RerankConfig(model=str(model), max_length=max_length, batch_size=batch_size))
    openvino_fp32 = Reranker(RerankConfig(model=str(model), max_length=max_length, batch_size=batch_size,
                                          runtime="openvino", precision="fp32"))
    default_name = (f"{default.runtime} "
                    f"{default.net.precision if default.runtime == 'openvino' else default.config.precision}")

    def bf16():
        with autocast(net, "bf16"):
            return score_pairs(net, tokenizer, queries, texts, max_length, batch_size)

    scored, seconds = timed_together({
        "ranker": lambda: score_pairs(net, tokenizer, queries, texts, max_length, batch_size),
        "CrossEncoder.predict": lambda: np.asarray(theirs_model.predict(pairs, batch_size=batch_size,
                                                                        show_progress_bar=False)),
        "ranker bf16": bf16,
        "ranker int8": lambda: score_pairs(fast, tokenizer, queries, texts, max_length, batch_size),
        "openvino fp32": lambda: openvino_fp32.score_read(queries, texts),
        "default": lambda: default.score_read(queries, texts),
    }, repeat=2)
    ours, theirs = scored["ranker"], scored["CrossEncoder.predict"].reshape(-1)
    for name in ("ranker", "openvino fp32"):
        difference = np.abs(scored[name] - theirs).max()
        assert difference <= 1e-4, f"{name}'s scores differ from CrossEncoder.predict's by up to {difference:.2e}"
    n = len(pairs)
    agreement = {name: {"pearson": float(np.corrcoef(ours, scored[name])[0, 1]) if n > 1 else float("nan"),
                        "max_abs_difference": float(np.abs(ours - scored[name]).max())}
                 for name in ("ranker bf16", "ranker int8", "openvino fp32", "default")}
    return {"pairs": n, "max_length": max_length, "batch_size": batch_size, "same_scores": True,
            "default": default_name, "max_abs_difference": float(np.abs(ours - theirs).max()),
            "agreement_with_fp32": agreement,
            "pairs_per_second": {name: n / s for name, s in seconds.items()}}
