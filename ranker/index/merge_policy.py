"""Which segments a merge folds together.

Example:
    >>> plan_merges([1000, 10, 20, 5, 900], max_segments=3)
    [(1, 3)]
"""

from __future__ import annotations

from collections.abc import Sequence


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
