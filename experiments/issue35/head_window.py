"""The reader the head+window rows used: an article's first ``head`` words, then the
``width``-word window of the rest that holds the most query terms (shared by the scripts here)."""

from ranker.retrieve.passages import best_window


def head_and_window(queries: list[str], texts: list[str], head: int, width: int) -> list[str]:
    """Each text cut to its head and its best window for its query (whole if short)."""
    out = []
    for query, text in zip(queries, texts, strict=True):
        words = text.split()
        if len(words) <= head + width:
            out.append(text)
            continue
        window, start = best_window(" ".join(words[head:]), query, width)
        out.append(" ".join(words[:head]) + (" … " if start > 0 else " ") + " ".join(window[start : start + width]))
    return out
