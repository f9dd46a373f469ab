"""SQuAD v1.1 JSON files: the extractive QA head's examples read and written.

``{"version": "1.1", "data": [{"title", "paragraphs": [{"context", "qas":
[{"id", "question", "answers": [{"text", "answer_start"}]}]}]}]}``: every answer
is checked against its context, and a bad field is named by where it is.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from ranker.core.errors import InputError
from ranker.core.files import atomic_write_text
from ranker.data.labelled import Answer, QAExample

_JSON_NAMES = {dict: "an object", list: "an array", str: "a string", int: "an integer"}


def read_squad(path: str | Path) -> list[QAExample]:
    """Read extractive QA examples from a SQuAD v1.1 JSON file.

    ``{"version": "1.1", "data": [{"title", "paragraphs": [{"context", "qas":
    [{"id", "question", "answers": [{"text", "answer_start"}]}]}]}]}``. Each
    question becomes one :class:`QAExample` whose ``doc_id`` is its article's
    title, so splits can hold out whole articles. Every answer is checked
    against its context.

    Args:
        path: the JSON file.

    Returns:
        The examples in file order.

    Raises:
        InputError: invalid JSON (naming the line), a missing or mistyped field,
            a question without answers (SQuAD 2.0's unanswerable questions are
            not supported), a duplicate id, or an answer whose text is not the
            context at ``answer_start`` (naming the question id).

    Example:
        >>> import json, tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "dev.json"
        >>> qa = {"id": "q1", "question": "Who?", "answers": [{"text": "Ann", "answer_start": 0}]}
        >>> squad = {"version": "1.1", "data": [{"title": "d1", "paragraphs": [{"context": "Ann ran.", "qas": [qa]}]}]}
        >>> _ = p.write_text(json.dumps(squad))
        >>> read_squad(p)[0]
        QAExample(qid='q1', context='Ann ran.', question='Who?', answers=(Answer(text='Ann', start=0),), doc_id='d1')
    """
    if not Path(path).is_file():
        raise InputError(path, None, "no such SQuAD file")
    try:
        document = json.loads(Path(path).read_bytes().decode("utf-8-sig"))
    except UnicodeDecodeError as err:
        raise InputError(path, None, f"undecodable bytes (not UTF-8) at byte {err.start}") from None
    except json.JSONDecodeError as err:
        raise InputError(path, f"line {err.lineno}", f"invalid JSON ({err.msg})") from None
    data = _need(path, document.get("data") if isinstance(document, dict) else None, list, "top level", "'data'")
    examples: list[QAExample] = []
    seen: set[str] = set()
    for i, article in enumerate(data):
        place = f"data[{i}]"
        article = _need(path, article, dict, place, "the article")
        title = _need(path, article.get("title"), str, place, "'title'")
        for j, paragraph in enumerate(_need(path, article.get("paragraphs"), list, place, "'paragraphs'")):
            place = f"data[{i}].paragraphs[{j}]"
            paragraph = _need(path, paragraph, dict, place, "the paragraph")
            context = _need(path, paragraph.get("context"), str, place, "'context'")
            for k, qa in enumerate(_need(path, paragraph.get("qas"), list, place, "'qas'")):
                examples.append(_question(path, qa, f"{place}.qas[{k}]", context, title, seen))
    return examples


def _need(path: str | Path, value: object, kind: type | tuple[type, ...], where: str, what: str) -> Any:
    """``value`` if it is of ``kind``, else an error naming ``where`` and ``what``."""
    # isinstance(True, int) holds, but a boolean offset or id is a mistake
    if not isinstance(value, kind) or isinstance(value, bool):
        kinds = kind if isinstance(kind, tuple) else (kind,)
        names = " or ".join(_JSON_NAMES[k] for k in kinds)
        raise InputError(path, where, f"{what} is missing or not {names}")
    return value


def _question(path: str | Path, qa: object, place: str, context: str, title: str, seen: set[str]) -> QAExample:
    """One question of a paragraph, its id not in ``seen`` (and added to it), every answer in its context."""
    qa = _need(path, qa, dict, place, "the question")
    qid = str(_need(path, qa.get("id"), (str, int), place, "'id'"))
    place = f"question '{qid}'"
    if qid in seen:
        raise InputError(path, place, "duplicate question id")
    seen.add(qid)
    question = _need(path, qa.get("question"), str, place, "'question'")
    if qa.get("is_impossible"):
        raise InputError(path, place, "unanswerable question (SQuAD 2.0) is not supported")
    raw_answers = _need(path, qa.get("answers"), list, place, "'answers'")
    if not raw_answers:
        raise InputError(path, place, "no answers")
    answers = []
    for n, raw in enumerate(raw_answers):
        raw = _need(path, raw, dict, place, f"answer {n}")
        text = _need(path, raw.get("text"), str, place, f"answer {n} 'text'")
        start = _need(path, raw.get("answer_start"), int, place, f"answer {n} 'answer_start'")
        found = context[start : start + len(text)] if start >= 0 else ""
        if found != text or not text:
            raise InputError(path, place, f"answer {n} {text!r} is not the context at {start} (found {found!r})")
        answers.append(Answer(text, start))
    return QAExample(qid, context, question, tuple(answers), title)


def write_squad(
    examples: Iterable[QAExample], path: str | Path, title_of: Callable[[str], str] | None = None
) -> None:
    """Write QA examples as a SQuAD v1.1 JSON file, atomically.

    Examples are grouped into articles by ``doc_id`` and into paragraphs by
    context, each in order of first appearance, so :func:`read_squad` gives the
    examples back (in grouped order) when titles are the doc ids.

    Args:
        examples: the examples; question ids must be unique.
        path: the JSON file to write.
        title_of: maps a ``doc_id`` to the article's title; by default the title
            is the ``doc_id`` itself, which is what :func:`read_squad` reads back
            as ``doc_id``.

    Raises:
        ValueError: a duplicate question id, or an answer that is not its
            context at its start (such a file would not read back).

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "out.json"
        >>> ex = QAExample("q1", "Ann ran.", "Who ran?", (Answer("Ann", 0),), "d1")
        >>> write_squad([ex], p)
        >>> read_squad(p) == [ex]
        True
    """
    articles: dict[str, dict[str, list[dict]]] = {}
    seen: set[str] = set()
    for example in examples:
        if example.qid in seen:
            raise ValueError(f"duplicate question id {example.qid!r}")
        seen.add(example.qid)
        for answer in example.answers:
            if example.context[answer.start : answer.end] != answer.text:
                raise ValueError(f"question {example.qid!r}: answer {answer.text!r} is not the context at "
                                 f"{answer.start}")
        answers = [{"text": answer.text, "answer_start": answer.start} for answer in example.answers]
        qa = {"id": example.qid, "question": example.question, "answers": answers}
        articles.setdefault(example.doc_id, {}).setdefault(example.context, []).append(qa)
    data = [
        {
            "title": title_of(doc_id) if title_of else doc_id,
            "paragraphs": [{"context": context, "qas": qas} for context, qas in paragraphs.items()],
        }
        for doc_id, paragraphs in articles.items()
    ]
    atomic_write_text(path, json.dumps({"version": "1.1", "data": data}, ensure_ascii=False) + "\n")
