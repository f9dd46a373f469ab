"""Relevance judgements (TREC and BEIR qrels files) and the queries they judge.

TREC lines are ``qid 0 docid rel``; BEIR files are tab separated ``query-id
corpus-id score`` with that header. Every command, trainer and pipeline picks its
queries here (:func:`judged_queries`), so a sample is the same wherever it is drawn.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ranker.core.errors import InputError
from ranker.core.files import atomic_write_text, split_lines
from ranker.data.readers import read_queries
from ranker.data.records import Fields, OnInvalid, Qrels, Query, Reading


def read_qrels(path: str | Path) -> Qrels:
    """Read relevance judgements from a TREC or a BEIR qrels file.

    TREC lines are ``qid iteration docid relevance`` (whitespace separated); BEIR
    files are tab separated ``query-id corpus-id score`` with that header.

    Returns:
        ``{qid: {docid: relevance}}``.

    Raises:
        InputError: a malformed line, a non-integer relevance or a repeated pair.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "qrels.txt"
        >>> _ = p.write_text("q1 0 d1 1\\nq1 0 d2 0\\n")
        >>> read_qrels(p)
        {'q1': {'d1': 1, 'd2': 0}}
    """
    path = Path(path)
    qrels: Qrels = {}
    for number, parts in split_lines(path, "qrels"):
        if number == 1 and parts[:2] == ["query-id", "corpus-id"]:
            continue
        if len(parts) == 4:
            qid, _, docid, rel = parts
        elif len(parts) == 3:
            qid, docid, rel = parts
        else:
            raise InputError(path, f"line {number}", "expected 'qid 0 docid rel' (TREC) or 'qid docid score' "
                             f"(BEIR), got {len(parts)} fields")
        try:
            relevance = int(float(rel)) if float(rel).is_integer() else None
        except ValueError:
            relevance = None
        if relevance is None:
            raise InputError(path, f"line {number}", f"relevance '{rel}' is not an integer")
        judged = qrels.setdefault(qid, {})
        if docid in judged:
            raise InputError(path, f"line {number}", f"({qid}, {docid}) is judged twice")
        judged[docid] = relevance
    return qrels


def sample_in_order(items: list, n: int | None, seed: int) -> list:
    """A fixed random sample of ``n`` of ``items`` (by numpy's generator seeded with
    ``seed``), kept in their order; all of them when ``n`` is None or not smaller.

    Example:
        >>> sample_in_order(list("abcde"), 2, 0), sample_in_order(list("ab"), None, 0)
        (['d', 'e'], ['a', 'b'])
    """
    if n is None or n >= len(items):
        return list(items)
    import numpy as np

    chosen = np.random.default_rng(seed).choice(len(items), size=n, replace=False)
    return [items[i] for i in sorted(chosen.tolist())]


def judged_queries(queries: list[Query], qrels: Qrels, sample: int | None = None, seed: int = 0,
                   relevant_only: bool = False) -> tuple[list[Query], Qrels]:
    """The queries that ``qrels`` judges (with ``relevant_only``, those with a relevant
    document), in their order, and a fixed random sample of ``sample`` of them if asked;
    with the qrels of those queries. The one place every command, trainer and pipeline
    picks its queries.

    Example:
        >>> qs = [Query("a", "oil"), Query("b", "gas"), Query("c", "dam")]
        >>> [q.qid for q in judged_queries(qs, {"a": {"d1": 1}, "c": {"d2": 0}})[0]]
        ['a', 'c']
        >>> [q.qid for q in judged_queries(qs, {"a": {"d1": 1}, "c": {"d2": 0}}, relevant_only=True)[0]]
        ['a']
    """
    keep = [q for q in queries if q.qid in qrels and (not relevant_only or any(g > 0 for g in qrels[q.qid].values()))]
    keep = sample_in_order(keep, sample, seed)
    return keep, {q.qid: qrels[q.qid] for q in keep}


def beir_split(folder: str | Path, split: str, sample: int | None = None, seed: int = 0) -> tuple[list[Query], Qrels]:
    """The queries of a BEIR folder judged in ``qrels/<split>.tsv`` (see :func:`judged_queries`).

    Example:
        >>> queries, qrels = beir_split("data/news", "test-title", sample=3)
        >>> [q.qid for q in queries], qrels["t4"]
        (['t4', 't5', 't6'], {'4': 1})
    """
    folder = Path(folder)
    return judged_queries(read_queries(folder).records, read_qrels(folder / "qrels" / f"{split}.tsv"), sample, seed)


def write_qrels(path: str | Path, qrels: Qrels) -> None:
    """Write qrels in TREC format (``qid 0 docid rel``), sorted, atomically.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "qrels.txt"
        >>> write_qrels(p, {"q1": {"d1": 1}})
        >>> p.read_text()
        'q1 0 d1 1\\n'
    """
    lines = [f"{qid} 0 {docid} {rel}\n" for qid in sorted(qrels) for docid, rel in sorted(qrels[qid].items())]
    atomic_write_text(path, "".join(lines))


@dataclass(frozen=True)
class JudgedQueries:
    """The queries a command runs: those of a queries file judged in its qrels.

    ``reading`` keeps the file's rejected rows (written once the command's own
    output is); ``missing`` counts the judged queries the file does not hold.
    """

    reading: Reading
    queries: list[Query]
    qrels: Qrels | None
    qrels_path: Path | None
    missing: int


def read_judged_queries(queries: str | Path, split: str | None = None, qrels: str | Path | None = None,
                        fields: Fields = Fields(title=""), on_invalid: OnInvalid = "raise") -> JudgedQueries:
    """The queries of ``queries`` judged in ``qrels`` (or, in a BEIR folder, in
    ``qrels/<split>.tsv``); every query when neither is given.

    Raises:
        InputError: a split without a BEIR folder, or no query left to run.

    Example:
        >>> import tempfile, pathlib
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (folder / "q.tsv").write_text("q1\\toil prices\\nq2\\tgas\\n")
        >>> _ = (folder / "qrels.txt").write_text("q1 0 d1 1\\nq3 0 d2 1\\n")
        >>> found = read_judged_queries(folder / "q.tsv", qrels=folder / "qrels.txt")
        >>> [q.qid for q in found.queries], found.missing
        (['q1'], 1)
    """
    queries = Path(queries)
    qrels_path = Path(qrels) if qrels is not None else None
    if split:
        if not queries.is_dir():
            raise InputError(queries, None, "--split needs a BEIR folder for --queries")
        qrels_path = queries / "qrels" / f"{split}.tsv"
    reading = read_queries(queries, fields, on_invalid)
    chosen, judged, missing = reading.records, None, 0
    if qrels_path is not None:
        judged = read_qrels(qrels_path)
        chosen = judged_queries(chosen, judged)[0]
        missing = len(set(judged) - {q.qid for q in chosen})
    if not chosen:
        raise InputError(queries, None, "no queries to run")
    return JudgedQueries(reading, chosen, judged, qrels_path, missing)
