"""The labelled examples each task head trains on, one record type per task.

The reranker trains on mined groups (``ranker.train.mine``); the other heads train on
these. Readers of the files users bring live in ``ranker.data.labelled_files``; builders of
the real data sets we ship recipes for live in ``ranker.data.datasets``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LabelledText:
    """One text with its class (single-text classification).

    Example:
        >>> LabelledText("oil prices rose", "crude").label
        'crude'
    """

    text: str
    label: str


@dataclass(frozen=True)
class ScoredPair:
    """Two texts and a similarity score (text-pair regression).

    ``a_id``/``b_id`` name the source documents, so cross-validation can keep
    every document on one side of a fold.

    Example:
        >>> ScoredPair("a cat", "a dog", 0.4, "1", "2").score
        0.4
    """

    text_a: str
    text_b: str
    score: float
    a_id: str = ""
    b_id: str = ""


@dataclass(frozen=True)
class TaggedSentence:
    """A sentence as words with one tag per word (token tagging).

    Example:
        >>> TaggedSentence(("John", "runs"), ("NNP", "VBZ")).tags
        ('NNP', 'VBZ')
    """

    words: tuple[str, ...]
    tags: tuple[str, ...]

    def __post_init__(self) -> None:
        if len(self.words) != len(self.tags):
            raise ValueError(f"{len(self.words)} words but {len(self.tags)} tags")


@dataclass(frozen=True)
class Answer:
    """An answer span: its text and where it starts in the context (characters)."""

    text: str
    start: int

    @property
    def end(self) -> int:
        return self.start + len(self.text)


@dataclass(frozen=True)
class QAExample:
    """A question about a context with its gold answer spans (extractive QA, SQuAD v1.1).

    ``doc_id`` names the source document, so splits can hold out whole documents.

    Example:
        >>> ex = QAExample("q1", "Ann said hi.", "Who said hi?", (Answer("Ann", 0),), "d1")
        >>> ex.context[ex.answers[0].start:ex.answers[0].end]
        'Ann'
    """

    qid: str
    context: str
    question: str
    answers: tuple[Answer, ...]
    doc_id: str = ""
