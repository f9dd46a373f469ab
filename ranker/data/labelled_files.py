"""Readers and writers of the labelled files users bring for the task heads.

One reader per file shape, each returning the plain records of
:mod:`ranker.data.labelled`:

* :func:`read_labelled_texts`: ``label<TAB>text`` TSV, or Orange's ``.tab``
  (single-text classification);
* :func:`read_scored_pairs`: STS-B style TSV with a header (text-pair regression);
* :func:`read_word_tag`: one sentence a line, ``word/TAG`` tokens (tagging);
* :func:`read_conllu`: CoNLL-U, the UPOS or XPOS column (tagging);
* SQuAD v1.1 JSON (extractive QA) is read and written by :mod:`ranker.data.squad`.

Bad input raises :class:`~ranker.core.errors.InputError` naming the file, the line
and the problem. Nothing is skipped silently
except blank lines, which carry no record in any of these formats.

The line-level parsers (:func:`labelled_texts_from_tab`,
:func:`parse_word_tag_line`) are public because the recipes in
:mod:`ranker.data.datasets` read the same shapes out of package archives.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Literal

from ranker.core.errors import InputError, finite_number
from ranker.core.files import decoded_lines
from ranker.data.labelled import LabelledText, ScoredPair, TaggedSentence

#: Orange type names of a text column, and flags of the class column
_TAB_TEXT_TYPES = ("string", "s", "text")
_TAB_CLASS_FLAGS = ("class", "c")


def _lines(path: str | Path, what: str) -> Iterator[tuple[int, str]]:
    # Every reader starts here, so a missing file reads the same everywhere and
    # undecodable bytes are reported with their line (decoded_lines does that).
    if not Path(path).is_file():
        raise InputError(path, None, f"no such {what} file")
    for number, line in decoded_lines(path):
        yield number, line.rstrip("\r\n")


# --------------------------------------------------------------- labelled texts


def labelled_texts_from_tab(lines: Iterable[str], source: str | Path) -> list[LabelledText]:
    """Parse the lines of an Orange ``.tab`` file into labelled texts.

    Orange's format has three header lines: column names, column types
    (``d`` discrete, ``c`` continuous, ``string`` ...) and flags (``class``,
    ``meta`` ...). The label is the column flagged ``class``; the text is the one
    other column typed ``string`` (or ``s``/``text``). Blank lines are skipped:
    Orange's own R8 files have one between the header and the rows.

    Args:
        lines: the file's lines, in order, with or without their newlines;
            they are numbered from 1 in error messages.
        source: the name used in error messages (a path, or an archive member).

    Returns:
        One :class:`LabelledText` per data row, in file order.

    Raises:
        InputError: a header that does not name exactly one class column and one
            text column, or a row with a missing field or an empty label or text.

    Example:
        >>> rows = ["Category\\tText", "d\\tstring", "class\\t", "", "earn\\tprofit rose"]
        >>> labelled_texts_from_tab(rows, "r8.tab")
        [LabelledText(text='profit rose', label='earn')]
    """
    header: list[list[str]] = []
    label_col = text_col = -1
    records: list[LabelledText] = []
    for number, raw in enumerate(lines, start=1):
        line = raw.rstrip("\r\n")
        if len(header) < 3:
            header.append(line.split("\t"))
            if len(header) == 3:
                label_col, text_col = _tab_columns(header, source)
            continue
        if not line.strip():
            continue
        fields = line.split("\t")
        where = f"line {number}"
        if len(fields) <= max(label_col, text_col):
            raise InputError(source, where, f"expected {len(header[0])} tab-separated fields, found {len(fields)}")
        label, text = fields[label_col].strip(), fields[text_col]
        if not label:
            raise InputError(source, where, f"empty label in column '{header[0][label_col]}'")
        if not text.strip():
            raise InputError(source, where, f"empty text in column '{header[0][text_col]}'")
        records.append(LabelledText(text, label))
    if len(header) < 3:
        raise InputError(source, None, "an Orange .tab file needs three header lines (names, types, flags)")
    return records


def _tab_columns(header: list[list[str]], source: str | Path) -> tuple[int, int]:
    names, types, flags = header
    # Orange leaves trailing empty type/flag cells off; pad so columns line up.
    types = types + [""] * (len(names) - len(types))
    flags = flags + [""] * (len(names) - len(flags))
    classes = [i for i, flag in enumerate(flags) if flag.strip().lower() in _TAB_CLASS_FLAGS]
    if len(classes) != 1:
        raise InputError(source, "line 3", f"expected exactly one column flagged 'class', found {len(classes)}")
    texts = [i for i, kind in enumerate(types) if kind.strip().lower() in _TAB_TEXT_TYPES and i != classes[0]]
    if len(texts) != 1:
        raise InputError(source, "line 2", f"expected exactly one column typed 'string', found {len(texts)}")
    return classes[0], texts[0]


def read_labelled_texts(path: str | Path) -> list[LabelledText]:
    """Read texts with their classes for single-text classification.

    A file ending in ``.tab`` is read as Orange's format (see
    :func:`labelled_texts_from_tab`); any other file as TSV, one
    ``label<TAB>text`` a line, split at the first tab, with an optional header
    line ``label<TAB>text`` (any case). Blank lines are skipped.

    Args:
        path: the ``.tsv`` (or ``.txt``) or ``.tab`` file.

    Returns:
        One :class:`LabelledText` per row, in file order.

    Raises:
        InputError: a missing file, a line without a tab, an empty label or text,
            or undecodable bytes, naming the line.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "train.tsv"
        >>> _ = p.write_text("label\\ttext\\ncrude\\toil prices rose\\n")
        >>> read_labelled_texts(p)
        [LabelledText(text='oil prices rose', label='crude')]
    """
    if Path(path).suffix.lower() == ".tab":
        # _lines has already taken the newlines off; numbering stays the file's.
        return labelled_texts_from_tab((line for _, line in _lines(path, "labelled-text")), path)
    records: list[LabelledText] = []
    first = True
    for number, line in _lines(path, "labelled-text"):
        if not line.strip():
            continue
        if first and line.strip().lower() == "label\ttext":
            first = False
            continue
        first = False
        where = f"line {number}"
        label, tab, text = line.partition("\t")
        if not tab:
            raise InputError(path, where, "expected 'label<TAB>text' (no tab found)")
        if not label.strip():
            raise InputError(path, where, "empty label")
        if not text.strip():
            raise InputError(path, where, "empty text")
        records.append(LabelledText(text, label.strip()))
    return records


# ----------------------------------------------------------------- scored pairs


def read_scored_pairs(path: str | Path) -> list[ScoredPair]:
    """Read scored text pairs from an STS-B style TSV file.

    The first non-blank line is a header that must name ``sentence1``,
    ``sentence2`` and ``score``; other columns (``genre``, ``id`` ...) are
    ignored, as are fields past the last named one. Fields are split on tabs
    with no quoting, as STS-B must be read (``csv.QUOTE_NONE``): its sentences
    hold unbalanced double quotes. ``a_id``/``b_id`` are left empty: the format
    names no source documents.

    Args:
        path: the TSV file.

    Returns:
        One :class:`ScoredPair` per row, in file order.

    Raises:
        InputError: a header without the three columns, a row with too few
            fields, an empty sentence, or a score that is not a finite number,
            naming the line.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "dev.tsv"
        >>> _ = p.write_text("id\\tsentence1\\tsentence2\\tscore\\n7\\tA cat.\\tA dog.\\t1.5\\n")
        >>> read_scored_pairs(p)
        [ScoredPair(text_a='A cat.', text_b='A dog.', score=1.5, a_id='', b_id='')]
    """
    columns: dict[str, int] | None = None
    records: list[ScoredPair] = []
    for number, line in _lines(path, "scored-pair"):
        if not line.strip():
            continue
        fields = line.split("\t")
        where = f"line {number}"
        if columns is None:
            names = [name.strip().lower() for name in fields]
            missing = [name for name in ("sentence1", "sentence2", "score") if name not in names]
            if missing:
                raise InputError(path, where, "the header must name sentence1, sentence2 and score; "
                                 f"missing {', '.join(missing)}")
            columns = {name: names.index(name) for name in ("sentence1", "sentence2", "score")}
            continue
        needed = max(columns.values()) + 1
        if len(fields) < needed:
            raise InputError(path, where, f"expected at least {needed} tab-separated fields, found {len(fields)}")
        text_a, text_b, raw_score = (fields[columns[name]] for name in ("sentence1", "sentence2", "score"))
        score = finite_number(raw_score, path, where)
        if not text_a.strip() or not text_b.strip():
            raise InputError(path, where, "empty sentence1 or sentence2")
        records.append(ScoredPair(text_a, text_b, score))
    return records


# ------------------------------------------------------------ tagged sentences


def parse_word_tag_line(line: str, source: str | Path, number: int) -> TaggedSentence:
    """Parse one line of ``word/TAG`` tokens, split on whitespace.

    Each token is split at its last slash, so words that hold slashes keep them
    (``1/2/CD`` is the word ``1/2`` tagged ``CD``).

    Args:
        line: the line's text (not blank).
        source: the file name used in error messages.
        number: the line's number, for error messages.

    Returns:
        The line as one :class:`TaggedSentence`.

    Raises:
        InputError: a token without a slash, or with an empty word or tag.

    Example:
        >>> parse_word_tag_line("Mr./NNP Vinken/NNP owns/VBZ 1/2/CD ./.", "wsj.txt", 1).tags
        ('NNP', 'NNP', 'VBZ', 'CD', '.')
    """
    words: list[str] = []
    tags: list[str] = []
    for token in line.split():
        word, slash, tag = token.rpartition("/")
        if not slash:
            raise InputError(source, f"line {number}", f"token {token!r} has no '/TAG'")
        if not word or not tag:
            raise InputError(source, f"line {number}", f"token {token!r} has an empty word or tag")
        words.append(word)
        tags.append(tag)
    return TaggedSentence(tuple(words), tuple(tags))


def read_word_tag(path: str | Path) -> list[TaggedSentence]:
    """Read tagged sentences, one a line, as ``word/TAG`` tokens (the format of
    the Penn Treebank samples in NLTK and Pattern).

    Blank lines are skipped; see :func:`parse_word_tag_line` for the tokens.

    Args:
        path: the text file.

    Returns:
        One :class:`TaggedSentence` per non-blank line, in file order.

    Raises:
        InputError: a token without a slash (or with an empty word or tag),
            naming the line.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "tagged.txt"
        >>> _ = p.write_text("John/NNP runs/VBZ ./.\\n")
        >>> read_word_tag(p)[0].words
        ('John', 'runs', '.')
    """
    return [parse_word_tag_line(line, path, number) for number, line in _lines(path, "word/tag") if line.strip()]


def read_conllu(path: str | Path, column: Literal["upos", "xpos"] = "upos") -> list[TaggedSentence]:
    """Read tagged sentences from a CoNLL-U file (Universal Dependencies).

    Lines starting with ``#`` are comments; a blank line ends a sentence.
    Multiword-token lines (ids like ``1-2``) and empty nodes (``1.1``) are
    skipped, so the words are the syntactic words that carry the tags.

    Args:
        path: the ``.conllu`` file.
        column: which tag to read: ``"upos"`` (column 4) or ``"xpos"`` (column 5).

    Returns:
        One :class:`TaggedSentence` per sentence, in file order.

    Raises:
        InputError: a token line without 10 tab-separated fields, a bad id, or
            a ``_`` (missing) tag in the chosen column, naming the line.
        ValueError: ``column`` is neither ``"upos"`` nor ``"xpos"``.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "ud.conllu"
        >>> rows = ["# text = Hi there", "1\\tHi\\thi\\tINTJ\\tUH\\t_\\t0\\troot\\t_\\t_",
        ...         "2\\tthere\\tthere\\tADV\\tRB\\t_\\t1\\tadvmod\\t_\\t_", ""]
        >>> _ = p.write_text("\\n".join(rows) + "\\n")
        >>> read_conllu(p)[0].tags, read_conllu(p, "xpos")[0].tags
        (('INTJ', 'ADV'), ('UH', 'RB'))
    """
    if column not in ("upos", "xpos"):
        raise ValueError(f"column must be 'upos' or 'xpos', not {column!r}")
    index = 3 if column == "upos" else 4
    sentences: list[TaggedSentence] = []
    words: list[str] = []
    tags: list[str] = []
    for number, line in _lines(path, "CoNLL-U"):
        if not line.strip():
            if words:
                sentences.append(TaggedSentence(tuple(words), tuple(tags)))
                words, tags = [], []
            continue
        if line.startswith("#"):
            continue
        fields = line.split("\t")
        where = f"line {number}"
        if len(fields) != 10:
            raise InputError(path, where, f"expected 10 tab-separated fields, found {len(fields)}")
        ident = fields[0]
        if "-" in ident or "." in ident:
            continue  # multiword token or empty node: its words/tags come on other lines
        if not ident.isdigit():
            raise InputError(path, where, f"token id {ident!r} is not a number")
        if fields[index] == "_":
            raise InputError(path, where, f"no {column} tag ('_') for {fields[1]!r}")
        words.append(fields[1])
        tags.append(fields[index])
    if words:  # the file may end without the closing blank line
        sentences.append(TaggedSentence(tuple(words), tuple(tags)))
    return sentences


# ------------------------------------------------------------------------ SQuAD
