"""Reranking: our scoring against ``sentence_transformers.CrossEncoder.predict``, same model, same pairs.

Both score the same (query, text) pairs with the same weights, 128 tokens and
batches of 32; the scores must agree (to 1e-4) before speeds are compared. Ours
sorts pairs by length so each batch is padded only to its own longest pair and
runs under ``torch.inference_mode``; sentence-transformers 6's
CrossEncoder.predict sorts by length too, and the transformer's forward pass is
96% of a scoring pass (``python -m benchmarks.profiles rerank``), so the fp32
sides should be close and the gain has to come from the number format:
bfloat16 autocast or int8 weights, timed here on the same pairs.
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

    from ranker.heads import load_pair_scorer, load_tokenizer
    from ranker.precision import autocast
    from ranker.rerank import quantized, score_pairs

    net, tokenizer = load_pair_scorer(str(model)), load_tokenizer(str(model))
    net.eval()
    theirs_model = CrossEncoder(str(model), max_length=max_length, device="cpu")
    pairs = list(zip(queries, texts))
    # int8 changes the scores, so it is not held to equality here: its ranking
    # quality is measured on the test split (RESULTS.md), its agreement reported
    fast = quantized(net)

    def bf16():
        with autocast(net, "bf16"):
            return score_pairs(net, tokenizer, queries, texts, max_length, batch_size)

    scored, seconds = timed_together({
        "ranker": lambda: score_pairs(net, tokenizer, queries, texts, max_length, batch_size),
        "CrossEncoder.predict": lambda: np.asarray(theirs_model.predict(pairs, batch_size=batch_size, show_progress_bar=False)),
        "ranker bf16": bf16,
        "ranker int8": lambda: score_pairs(fast, tokenizer, queries, texts, max_length, batch_size),
    }, repeat=2)
    ours, theirs = scored["ranker"], scored["CrossEncoder.predict"].reshape(-1)
    assert np.allclose(ours, theirs, atol=1e-4), f"scores differ by up to {np.abs(ours - theirs).max():.2e}"
    n = len(pairs)
    agreement = {name: {"pearson": float(np.corrcoef(ours, scored[name])[0, 1]) if n > 1 else float("nan"),
                        "max_abs_difference": float(np.abs(ours - scored[name]).max())}
                 for name in ("ranker bf16", "ranker int8")}
    return {"pairs": n, "max_length": max_length, "batch_size": batch_size, "same_scores": True,
            "max_abs_difference": float(np.abs(ours - theirs).max()), "agreement_with_fp32": agreement,
            "pairs_per_second": {name: n / s for name, s in seconds.items()}}
