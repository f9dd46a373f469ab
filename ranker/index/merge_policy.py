"""Which segments a merge folds together: down to a number of segments
(:func:`plan_merges`, what ``ranker merge --max-segments`` does), or as a tiered
policy keeps them (:class:`TieredPolicy`, what ``ranker serve`` runs in the
background and ``ranker merge --tiered`` runs once).

Example:
    >>> plan_merges([1000, 10, 20, 5, 900], max_segments=3)
    [(1, 3)]
    >>> TieredPolicy(per_tier=3).plan([50_000, 10, 10, 10])
    [(1, 3)]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


def plan_merges(sizes: Sequence[int], max_segments: int) -> list[tuple[int, int]]:
    """Which neighbouring segments to merge, as ``(first, last)`` index ranges, so that at
    most ``max_segments`` remain: the neighbours with the fewest live documents between
    them go together first (so small segments fold into each other before into a big one).

    Example:
        >>> plan_merges([1000, 10, 20, 5, 900], max_segments=3)
        [(1, 3)]
        >>> plan_merges([10, 0, 20], max_segments=3)  # an empty segment is always dropped
        [(0, 1)]
    """
    groups = [[i] for i in range(len(sizes))]
    weight = [int(n) for n in sizes]
    while len(groups) > max_segments or (0 in weight and len(groups) > 1):
        if 0 in weight:  # a segment of deleted articles only: fold it into a neighbour
            at = weight.index(0)
            pair = at - 1 if at else 0
        else:
            pair = min(range(len(groups) - 1), key=lambda i: weight[i] + weight[i + 1])
        groups[pair : pair + 2] = [groups[pair] + groups[pair + 1]]
        weight[pair : pair + 2] = [weight[pair] + weight[pair + 1]]
    return [(g[0], g[-1]) for g in groups if len(g) > 1]


@dataclass(frozen=True)
class TieredPolicy:
    """Lucene's tiered merging, kept to neighbours (rows keep their order): segments
    fall in tiers by the order of magnitude of their live articles (those under
    ``floor`` count as ``floor``), and once ``per_tier`` neighbouring segments share a
    tier they are merged into one, of the next tier up or near it. Each article is so
    rewritten about once per tier (a handful of times from 10 articles to a million),
    and at most ``per_tier - 1`` segments wait in each tier: with the defaults, small adds
    beside a million-article build leave at most 1 + 9 × 3 segments (by construction).

    Example:
        >>> policy = TieredPolicy()
        >>> policy.plan([1_000_000] + [10] * 9)  # nine small segments: not yet
        []
        >>> policy.plan([1_000_000] + [10] * 10)
        [(1, 10)]
        >>> policy.plan([1_000_000, 0, 10])  # a segment of deleted articles only goes at once, into the smaller
        [(1, 2)]
    """

    per_tier: int = 10
    floor: int = 1_000

    def tier(self, size: int) -> int:
        return int(math.log10(max(size, self.floor)))

    def plan(self, sizes: Sequence[int]) -> list[tuple[int, int]]:
        """The runs of neighbouring segments to merge now, as ``(first, last)`` ranges."""
        runs: list[tuple[int, int]] = []
        start = 0
        for at in range(1, len(sizes) + 1):
            if at == len(sizes) or self.tier(sizes[at]) != self.tier(sizes[start]):
                if at - start >= self.per_tier:
                    runs.append((start, at - 1))
                start = at
        for i, n in enumerate(sizes):  # nothing live left in it: fold it into its smaller neighbour now
            taken = {j for a, b in runs for j in range(a, b + 1)}
            if n or i in taken:
                continue
            neighbours = [j for j in (i - 1, i + 1) if 0 <= j < len(sizes) and j not in taken]
            j = min(neighbours, key=lambda j: sizes[j], default=i)
            runs.append((min(i, j), max(i, j)))
        return sorted(runs)
