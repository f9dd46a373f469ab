"""The report's figures, drawn headless with matplotlib (the Agg backend) into PNG bytes.

Each function takes plain numbers and returns PNG bytes, so the report can embed
them in its HTML (base64) and write them beside its Markdown.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np

#: Rank buckets of the relevant article for the before/after plot; 0 means not retrieved.
RANK_BUCKETS: tuple[tuple[str, int, int], ...] = (
    ("1", 1, 1), ("2", 2, 2), ("3", 3, 3), ("4–5", 4, 5), ("6–10", 6, 10), ("11–20", 11, 20),
    ("21–100", 21, 100), ("> 100 or missed", 101, 0),
)


def _figure(width: float = 7.0, height: float = 3.6):
    import matplotlib

    matplotlib.use("Agg")  # no display on a server or in CI
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=(width, height), dpi=110)


def _png(fig) -> bytes:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


def recall_plot(depths: Sequence[int], curves: dict[str, Sequence[float]]) -> bytes:
    """R@k against k (log scale) for every system.

    Example:
        >>> recall_plot([1, 10, 100], {"bm25": [0.7, 0.9, 0.97]})[:4]
        b'\\x89PNG'
    """
    fig, ax = _figure()
    for system, values in curves.items():
        ax.plot(depths, values, marker="o", markersize=3, label=system)
    ax.set_xscale("log")
    ax.set_xlabel("depth k")
    ax.set_ylabel("recall@k")
    ax.set_ylim(0, 1.01)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title("Recall at each depth")
    return _png(fig)


def bucket_counts(ranks: np.ndarray) -> list[int]:
    """How many queries fall in each of :data:`RANK_BUCKETS` (rank 0 = missed).

    Example:
        >>> bucket_counts(np.array([1, 1, 7, 0]))
        [2, 0, 0, 0, 1, 0, 0, 1]
    """
    counts = []
    for _, low, high in RANK_BUCKETS:
        if high == 0:
            counts.append(int(np.sum((ranks == 0) | (ranks >= low))))
        else:
            counts.append(int(np.sum((ranks >= low) & (ranks <= high))))
    return counts


def rank_shift_plot(ranks: dict[str, np.ndarray]) -> bytes:
    """Side-by-side bars: where the relevant article lands, for each system given (e.g. before and after reranking).

    Example:
        >>> rank_shift_plot({"hybrid": np.array([1, 3]), "reranked": np.array([1, 1])})[:4]
        b'\\x89PNG'
    """
    fig, ax = _figure()
    x = np.arange(len(RANK_BUCKETS))
    width = 0.8 / max(len(ranks), 1)
    for i, (system, values) in enumerate(ranks.items()):
        ax.bar(x + i * width - 0.4 + width / 2, bucket_counts(values), width, label=system)
    ax.set_xticks(x, [name for name, _, _ in RANK_BUCKETS], fontsize=8)
    ax.set_xlabel("rank of the relevant article")
    ax.set_ylabel("queries")
    ax.legend(fontsize=8)
    ax.set_title("Where the relevant article lands")
    return _png(fig)


def wins_losses_plot(differences: np.ndarray, metric: str, system: str, baseline: str) -> bytes:
    """Every query's difference (system − baseline) on ``metric``, sorted: wins above the line, losses below.

    Example:
        >>> wins_losses_plot(np.array([0.5, 0.0, -1.0]), "MRR@10", "ce", "bm25")[:4]
        b'\\x89PNG'
    """
    fig, ax = _figure()
    ordered = np.sort(differences)[::-1]
    colours = np.where(ordered > 0, "#2a9d8f", np.where(ordered < 0, "#e76f51", "#bbbbbb"))
    ax.bar(np.arange(len(ordered)), ordered, width=1.0, color=colours)
    wins, losses = int(np.sum(differences > 0)), int(np.sum(differences < 0))
    ax.axhline(0, color="black", linewidth=0.6)
    ax.set_xlabel(f"queries, sorted ({wins} wins, {losses} losses, {len(differences) - wins - losses} ties)")
    ax.set_ylabel(f"Δ {metric}")
    ax.set_title(f"{system} against {baseline}, per query")
    return _png(fig)
