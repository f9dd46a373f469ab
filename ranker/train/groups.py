"""Mined groups as training data: read one or several ``groups.parquet``, resolve
their document ids to the texts a model reads, and pick a fixed dev sample to evaluate on.

Both trainers on mined groups (the cross-encoder and the embedder) start here, so
neither imports the other, and both train through :func:`train_on_groups`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple, Protocol

from ranker.core.errors import InputError
from ranker.data.qrels import judged_queries, read_qrels
from ranker.data.readers import read_queries
from ranker.data.records import Qrels

#: The columns of ``groups.parquet`` a trainer reads (``ranker mine`` writes more;
#: ``cut`` is optional, as tables mined before it existed lack it).
GROUP_COLUMNS = ("qid", "query", "positive", "negatives")


class GroupRow(NamedTuple):
    """One row of a groups table: a query, its positive's id and its negatives' ids,
    and ``cut``: the words of the positive the query was made of, which a model must
    not read there (empty for a labelled query)."""

    qid: str
    query: str
    positive: str
    negatives: list[str]
    cut: str = ""


@dataclass(frozen=True)
class TextGroup:
    """A query with its positive's text and its negatives' texts."""

    query: str
    positive: str
    negatives: tuple[str, ...]

    def pairs(self) -> list[tuple[str, str]]:
        return [(self.query, self.positive)] + [(self.query, n) for n in self.negatives]


def read_groups(path: str | Path | list[str | Path]) -> list[GroupRow]:
    """The rows of a mined ``groups.parquet`` (or its folder), or of several one after another.

    Raises:
        InputError: a file is missing, not parquet, changed since mining, or lacks a column.

    Example:
        >>> rows = read_groups("models/demo/mined")
        >>> len(rows), rows[0].qid, rows[0].positive, rows[0].cut  # a labelled query: nothing cut
        (6, 't1', '1', '')
        >>> len(read_groups(["models/demo/mined", "models/demo/mined"]))  # two tables read as one
        12
    """
    if isinstance(path, (list, tuple)):
        return [row for one in path for row in read_groups(one)]
    import pyarrow.parquet as pq

    path = Path(path)
    if path.is_dir():
        path = path / "groups.parquet"
    if not path.is_file():
        raise InputError(path, None, "no such file; write one with 'ranker mine'")
    if path.name == "groups.parquet":
        from ranker.core.integrity import read_listed

        read_listed(path.parent, "mining.json", "the tables changed after mining: mine again")
    try:
        table = pq.read_table(path)
    except Exception as err:  # pyarrow raises several unrelated types for a bad file
        raise InputError(path, None, f"not a parquet file ({err})") from None
    missing = [c for c in GROUP_COLUMNS if c not in table.column_names]
    if missing:
        raise InputError(path, None, f"missing columns {missing}; expected the groups table of 'ranker mine'")
    columns = table.select([*GROUP_COLUMNS, *(["cut"] if "cut" in table.column_names else [])]).to_pydict()
    cuts = columns.get("cut") or [""] * table.num_rows
    return [GroupRow(*row) for row in zip(*(columns[c] for c in GROUP_COLUMNS), cuts, strict=True)]


def text_groups(rows, docs, max_negatives: int | None = None, passage_words: int | None = None) -> list[TextGroup]:
    """Resolve document ids to the texts the cross-encoder reads, through an index's doc
    store; a positive is read without its row's ``cut``.

    Raises:
        InputError: a document id that the index does not hold.
    """
    row_of = {doc: row for row, doc in enumerate(docs.doc_ids())}
    wanted = sorted({d for row in rows for d in [row.positive, *row.negatives]})
    unknown = [d for d in wanted if d not in row_of]
    if unknown:
        raise InputError("groups", None, f"{len(unknown)} documents not in the index (first: '{unknown[0]}'): "
                         "mined from another index?")
    texts = dict(zip(wanted, docs.texts([row_of[d] for d in wanted]), strict=True))
    from ranker.retrieve.passages import passages_for
    from ranker.train.corpus_queries import cut_from

    out = []
    for row in rows:
        read = [cut_from(texts[row.positive], row.cut), *(texts[d] for d in row.negatives)]
        read = passages_for([row.query] * len(read), read, passage_words)
        out.append(TextGroup(row.query, read[0], tuple(read[1:][:max_negatives])))
    return out


def dev_sample(data: Path, qrels_path: Path, n: int, seed: int) -> tuple[list[str], list[str], Qrels]:
    """A fixed sample of ``n`` judged dev queries (each with a relevant document):
    their ids, texts and judgements, in id order.

    Raises:
        InputError: the qrels judge a query the queries file does not hold.

    Example:
        >>> data, dev = Path("data/news"), Path("data/news/qrels/dev.tsv")
        >>> qids, texts, qrels = dev_sample(data, dev, 200, 13)
        >>> len(qids), qids[0], texts[0], qrels["t1"]  # fewer than 200 judged: all six, in id order
        (6, 't1', 'Oil prices fell sharply', {'1': 1})
        >>> two = dev_sample(data, dev, 2, 13)[0]
        >>> len(two), two == dev_sample(data, dev, 2, 13)[0]  # the same seed, the same sample
        (2, True)
    """
    qrels = read_qrels(qrels_path)
    by_id = {q.qid: q for q in read_queries(data).records}
    relevant = [q for q in qrels if any(g > 0 for g in qrels[q].values())]
    missing = sorted(q for q in relevant if q not in by_id)
    if missing:
        raise InputError(qrels_path, None, f"judges queries not in {data} (first: {missing[0]})")
    queries, judged = judged_queries(sorted(by_id.values(), key=lambda q: q.qid), qrels, n, seed, relevant_only=True)
    return [q.qid for q in queries], [q.text for q in queries], judged


class GroupRecipe(Protocol):
    """What a model trained on mined groups brings to :func:`train_on_groups`: how
    it samples its dev set from an index, and the training task it makes of the
    groups (a :class:`ranker.train.loop.Task`)."""

    def dev_set(self, index, dev: tuple[Path, Path], seed: int) -> Any: ...

    def task(self, rows: list[GroupRow], index, dev_set: Any, train_config) -> Any: ...


def train_on_groups(recipe: GroupRecipe, groups_path: str | Path | list[str | Path], index_path: str | Path,
                    out: str | Path,
                    train_config, dev: tuple[Path, Path] | None = None, resume: bool = False,
                    stop_after: int | None = None, show_progress: bool = True) -> tuple[dict[str, Any], Any]:
    """Train ``recipe``'s model on the groups ``ranker mine`` wrote: the step the
    cross-encoder and the embedder share (open the index that holds the texts, read
    the groups, sample the dev set, fit; the best model goes to ``out/model``).

    Args:
        recipe: the model's dev set and task (see :class:`GroupRecipe`).
        groups_path: ``groups.parquet`` written by ``ranker mine`` (or its folder), or
            several, trained on as one shuffled table.
        index_path: the index the groups were mined from (it holds the texts).
        out: the output folder (``model/``, ``checkpoint/``, ``metrics.json``).
        train_config: a :class:`ranker.train.loop.TrainConfig`.
        dev: (queries file or BEIR folder, dev qrels file), or ``None`` for no
            evaluation (the last model is kept).

    Returns:
        The metrics :func:`ranker.train.loop.fit` wrote, and the opened index.

    Example:
        >>> from ranker.train.loop import TrainConfig
        >>> from ranker.train.reranker import RerankerRecipe, RerankerTrainConfig
        >>> recipe = RerankerRecipe(RerankerTrainConfig(model=tiny_bert, max_length=32))
        >>> metrics, index = train_on_groups(recipe, "models/demo/mined", "indexes/news", tmp / "reranker",
        ...                                  TrainConfig(max_steps=1), show_progress=False)
        >>> metrics["train"]["steps"], index.manifest["doc_count"]
        (1, 6)
    """
    from ranker.index.folder import Index
    from ranker.train.loop import fit

    index = Index.open(index_path)
    rows = read_groups(groups_path)
    dev_set = recipe.dev_set(index, dev, train_config.seed) if dev is not None else None
    task = recipe.task(rows, index, dev_set, train_config)
    return fit(task, train_config, out, resume=resume, stop_after=stop_after, show_progress=show_progress), index
