"""TREC run files: read, written, and the timing file beside each (metrics: :mod:`ranker.eval.metrics`).

A run is ``{qid: {docid: score}}``. Ranks are never stored separately: they
follow from sorting each query's documents by (-score, docid), which is also the
tie-break written to TREC files, so a run read back ranks exactly as written.
"""

from __future__ import annotations

from pathlib import Path

from ranker.core.errors import InputError, finite_number
from ranker.core.files import atomic_write_text, split_lines

#: qid -> docid -> score
Run = dict[str, dict[str, float]]



def ranked(scores: dict[str, float]) -> list[tuple[str, float]]:
    """One query's (docid, score) pairs, best first, ties broken by docid.

    Example:
        >>> ranked({"b": 1.0, "a": 1.0, "c": 2.0})
        [('c', 2.0), ('a', 1.0), ('b', 1.0)]
    """
    return sorted(scores.items(), key=lambda item: (-item[1], item[0]))


def meta_path(run_path: str | Path) -> Path:
    """Where a run's side file lives: ``RUN.meta.json`` beside ``RUN``.

    Example:
        >>> meta_path("runs/bm25.trec").name
        'bm25.trec.meta.json'
    """
    run_path = Path(run_path)
    return run_path.with_name(run_path.name + ".meta.json")


def read_run_meta(run_path: str | Path) -> dict:
    """A run's side file (how long each stage took, what produced it), or ``{}`` for a run without one."""
    import json

    path = meta_path(run_path)
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise InputError(path, f"line {error.lineno}", f"not JSON: {error.msg}") from None


def write_run(path: str | Path, run: Run, tag: str = "ranker", meta: dict | None = None) -> None:
    """Write a TREC run file (``qid Q0 docid rank score tag``) atomically.

    ``meta`` (seconds per stage, the index and model behind the run) goes to
    :func:`meta_path` beside it, where ``ranker report`` finds it.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "run.trec"
        >>> write_run(p, {"q1": {"d2": 0.5, "d1": 0.5}}, tag="bm25")
        >>> p.read_text().splitlines()
        ['q1 Q0 d1 1 0.500000 bm25', 'q1 Q0 d2 2 0.500000 bm25']
    """
    if not tag or any(c.isspace() for c in tag):
        raise ValueError(f"a run tag must be one word, got {tag!r}")
    lines = []
    for qid in sorted(run):
        for rank, (docid, score) in enumerate(ranked(run[qid]), start=1):
            lines.append(f"{qid} Q0 {docid} {rank} {score:.6f} {tag}\n")
    atomic_write_text(path, "".join(lines))
    if meta is not None:
        import json

        atomic_write_text(meta_path(path), json.dumps({"tag": tag, "queries": len(run), **meta}, indent=2) + "\n")


def read_run(path: str | Path) -> Run:
    """Read a TREC run file, checking every line.

    Raises:
        InputError: a line without six fields, a score that is not a finite
            number, a rank that is not a positive integer, or a document listed
            twice for one query.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "run.trec"
        >>> _ = p.write_text("q1 Q0 d1 1 2.5 bm25\\n")
        >>> read_run(p)
        {'q1': {'d1': 2.5}}
    """
    path = Path(path)
    run: Run = {}
    for number, parts in split_lines(path, "run"):
        where = f"line {number}"
        if len(parts) != 6:
            raise InputError(path, where, f"expected 'qid Q0 docid rank score tag', got {len(parts)} fields")
        qid, _, docid, rank, score, _ = parts
        value = finite_number(score, path, where)
        if not rank.isdigit() or int(rank) < 1:
            raise InputError(path, where, f"rank '{rank}' is not a positive integer")
        scores = run.setdefault(qid, {})
        if docid in scores:
            raise InputError(path, where, f"document '{docid}' is listed twice for query '{qid}'")
        scores[docid] = value
    return run
