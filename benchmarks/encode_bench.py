"""Encoding: our embedder against ``SentenceTransformer.encode``, same model, same articles.

Both encode the same news articles at 256 tokens in batches of 32. Ours runs the
model through OpenVINO (:mod:`ranker.models.exported`): in fp32 the vectors must equal
sentence-transformers' (to 1e-4) before speeds are compared; in bf16 (the
default on a CPU with AVX512-BF16) they are held to the same neighbours: the
top 10 articles of each query against sentence-transformers' (recall@10).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from benchmarks.common import timed_together


def compare(texts: list[str], queries: list[str], model: str = "all-MiniLM-L6-v2", max_length: int = 256,
            batch_size: int = 32) -> dict[str, Any]:
    """Articles/s of each side on ``texts``; raises AssertionError if fp32 vectors differ."""
    from sentence_transformers import SentenceTransformer

    from ranker.models.loading import resolve_model
    from ranker.retrieve.embed import Embedder, EmbedderConfig

    theirs = SentenceTransformer(resolve_model(model), device="cpu")
    theirs.max_seq_length = max_length
    settings = {"model": model, "max_length": max_length, "batch_size": batch_size}
    default = Embedder(EmbedderConfig(**settings))  # the export is made here, before any timing
    fp32 = Embedder(EmbedderConfig(**settings, runtime="openvino", precision="fp32"))

    def st(items: list[str]) -> np.ndarray:
        return theirs.encode(items, batch_size=batch_size, convert_to_numpy=True, normalize_embeddings=True,
                             show_progress_bar=False)

    vectors, seconds = timed_together({"SentenceTransformer.encode": lambda: st(texts),
                                       "openvino fp32": lambda: fp32.encode(texts),
                                       "default": lambda: default.encode(texts)}, repeat=2)
    reference = vectors["SentenceTransformer.encode"]
    difference = float(np.abs(vectors["openvino fp32"] - reference).max())
    assert difference <= 1e-4, f"OpenVINO fp32 vectors differ from sentence-transformers' by up to {difference:.2e}"
    asked = {"SentenceTransformer.encode": st(queries), "openvino fp32": fp32.encode(queries),
             "default": default.encode(queries)}
    tops = {name: np.argsort(-(asked[name] @ vectors[name].T), axis=1)[:, :10] for name in vectors}
    recall = {name: float(np.mean([len(set(a) & set(b)) / 10
                                    for a, b in zip(tops[name], tops["SentenceTransformer.encode"], strict=True)]))
              for name in tops}
    return {"articles": len(texts), "queries": len(queries), "max_length": max_length, "batch_size": batch_size,
            "default": f"{default.runtime} "
                       f"{default.model.precision if default.runtime == 'openvino' else default.config.precision}",
            "max_abs_difference_fp32": difference,
            "lowest_cosine_default": float((vectors["default"] * reference).sum(axis=1).min()),
            "recall@10": recall, "articles_per_second": {name: len(texts) / s for name, s in seconds.items()}}
