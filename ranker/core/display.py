"""Text for the terminal: control characters made visible, and plain-text tables
(no dependency: a table is a few lines)."""

from __future__ import annotations

import shutil
import textwrap
from collections.abc import Sequence


def visible(text: str) -> str:
    """``text`` safe for a terminal: control characters shown as escapes, line
    breaks and tabs as spaces, so a title cannot move the cursor or recolour the
    screen. JSON output keeps the exact text; only what is printed for people
    passes through here.

    Example:
        >>> visible("\\x1b[31mred\\x1b[0m\\tnews")
        '\\\\x1b[31mred\\\\x1b[0m news'
    """
    if text.isprintable():
        return text
    import unicodedata

    out = []
    for char in text:
        kind = unicodedata.category(char)
        if char.isspace():
            out.append(" ")
        elif kind in ("Cc", "Cs") or (kind == "Cf" and char not in "\u00ad\u200c\u200d"):
            # control characters, lone surrogates and format characters (bidirectional overrides
            # reorder what follows); soft hyphens and the joiners inside emoji and scripts stay
            out.append(f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}")
        else:
            out.append(char)
    return "".join(out)


def json_text(value: object, indent: int | None = None) -> str:
    """``value`` as JSON that keeps non-ASCII text readable but cannot reorder a
    terminal: format characters (bidirectional overrides), lone surrogates and C1
    controls are written as ``\\uXXXX`` escapes, which every JSON reader decodes to
    the same text. (``json.dumps`` escapes only the C0 controls unless it escapes
    all non-ASCII, which would turn every accented title into escapes.)

    Example:
        >>> json_text({"title": "Zürich \u202eevil"})
        '{"title": "Zürich \\\\u202eevil"}'
        >>> import json; json.loads(json_text(["\u202e"])) == ["\u202e"]
        True
    """
    import json
    import unicodedata

    text = json.dumps(value, ensure_ascii=False, indent=indent)
    if text.isprintable() or all(c.isprintable() or c in "\n " for c in text):
        return text
    return "".join(f"\\u{ord(c):04x}" if unicodedata.category(c) in ("Cf", "Cs", "Cc") and c != "\n" else c
                   for c in text)


def format_table(headers: Sequence[str], rows: Sequence[Sequence[object]], wrap: str | None = None) -> str:
    """Align ``rows`` under ``headers``; the ``wrap`` column is wrapped to the terminal.

    Example:
        >>> print(format_table(["system", "MRR@10"], [["bm25", "0.815"]]))
        system  MRR@10
        ------  ------
        bm25    0.815
    """
    # what reaches a terminal carries no control characters (a title cannot recolour the screen)
    cells = [[visible(str(c)) for c in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    wrap_at = headers.index(wrap) if wrap in headers else None
    if wrap_at is not None:
        others = sum(w + 2 for i, w in enumerate(widths) if i != wrap_at)
        widths[wrap_at] = max(20, shutil.get_terminal_size((120, 24)).columns - others)

    def line(values: Sequence[str]) -> list[str]:
        columns = [textwrap.wrap(v, widths[i]) or [""] if i == wrap_at else [v] for i, v in enumerate(values)]
        height = max(len(c) for c in columns)
        out = []
        for j in range(height):
            parts = [(c[j] if j < len(c) else "").ljust(widths[i]) for i, c in enumerate(columns)]
            out.append("  ".join(parts).rstrip())
        return out

    lines = line(list(headers)) + ["  ".join("-" * w for w in widths).rstrip()]
    for row in cells:
        lines += line(row)
    return "\n".join(lines)


def format_hits(hits: Sequence, width: int | None = None) -> str:
    """Search results as a table (rank, id, score, title, outlet, date), each row
    followed by its snippet, indented and wrapped to the terminal.

    Example:
        >>> from ranker.search.searcher import Hit
        >>> hit = Hit(1, "42", 7.5, "Oil falls", "… oil fell …", {"outlet": "BBC", "date": "2017-03-01"})
        >>> print(format_hits([hit], width=60))
        rank  id  score  title      outlet  date
        ----  --  -----  ---------  ------  ----------
        1     42  7.50   Oil falls  BBC     2017-03-01
                         … oil fell …
    """
    width = width or shutil.get_terminal_size((120, 24)).columns
    headers = ["rank", "id", "score", "title", "outlet", "date"]
    rows = [[h.rank, h.doc_id, f"{h.score:.2f}", _shorten(h.title, 70), str(h.metadata.get("outlet") or ""),
             str(h.metadata.get("date") or "")] for h in hits]
    if any(h.before is not None for h in hits):
        # Where each article stood before reranking: the reranker's work at a glance.
        headers.append("was")
        for row, h in zip(rows, hits, strict=True):
            row.append("" if h.before is None else str(h.before))
    table = format_table(headers, rows).split("\n")
    indent = len("  ".join(table[1].split("  ")[:3])) + 2
    out = table[:2]
    for line, hit in zip(table[2:], hits, strict=True):
        out.append(line)
        wrapped = textwrap.wrap(visible(hit.snippet), max(20, width - indent))
        out += [" " * indent + piece for piece in wrapped]
    return "\n".join(out)


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
