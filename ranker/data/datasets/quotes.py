"""Who said it? An extractive-QA set built from the quotations in news articles.

News prose attributes direct quotes in a few fixed shapes::

    "We will win," Trump said.
    "It is hard to imagine a worse choice," Sen. Elizabeth Warren, D-Mass., said
    "We are ready," said Sean Spicer, the press secretary.
    "Talks go on," Kremlin spokesman Dmitry Peskov told reporters.

A regular expression finds a quotation closed by ``,"`` (or ``?"``/``!"``) and
followed by a speaker and a speech verb (said, says, told, tells, added, adds),
in either order. The question is ``Who said "<quote>"?``; the context is the
whole article (or, with :func:`crop_to_passages`, a passage of it the size of
a SQuAD paragraph around the quote); the answer is the speaker's name as it
stands in the article (``Elizabeth Warren``, ``Dmitry Peskov``: without titles,
appositions or roles).

What this set measures, honestly: the quote appears verbatim in the context,
so a model needs only to find the quote and pick out the capitalised name next
to it. It tests locating a span by string match and choosing the right span
boundaries (a name, not "said" or the title before it), which is what an
extractive QA head must learn first; it does not test reading comprehension,
paraphrase or reasoning, and scores here will be far above SQuAD scores. It is
a sanity check that the span head, its offset mapping and n-best search work
on real news text with long contexts, not a benchmark of understanding. Every
question has the same shape, a quotation followed by a capitalised name, so a
model trained here does not answer questions of other shapes: the chapter's
"Who says N95 respirator masks can guard against the virus?" over "mask makers
insist that their products …" (no quotation marks, a lowercase description
before the verb) is out of its reach.

What is left out, and why (each is counted by :func:`find_quotes`):

* pronoun speakers (``"…," he said``): the name is elsewhere, often several
  sentences back; finding it is coreference, which the question cannot pin down;
* descriptions without a name (``the minister told reporters``, ``the statement
  said``) and capitalised phrases we cannot cut a name from with certainty
  (``a spokesman for Pfizer``: Pfizer did not speak);
* a quote that appears more than once in an article with different speakers:
  the question would be ambiguous.

Known limits: stories covered by several outlets repeat the same quote in
different articles, so hold out whole documents (:func:`split_by_document`) and
expect some near-duplicate questions across splits; articles with identical
text are kept once. Sub-headings glued to the next sentence in the source and
the corpus' broken characters (``�`` for accented letters in RTÉ names) pass
into contexts and answers as they are; every answer is checked to be exactly
``context[start:end]``.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from ranker.data.labelled import Answer, QAExample
from ranker.data.records import Article

#: quotes longer than this are cut to their first MAX_QUOTE_WORDS words and "…"
MAX_QUOTE_WORDS = 40

_UPPER = "A-ZÀ-ÖØ-Þ"
_ABBREVIATION = (r"(?:Mr|Mrs|Ms|Dr|Sen|Rep|Gov|Gen|Lt|Col|Capt|Sgt|Prof|Rev|St|Jr|Sr|Maj|Adm|Cmdr|Supt|Insp|Det"
                 r"|Cllr|Hon|Fr)\.")
_INITIALS = rf"(?:[{_UPPER}]\.)+"  # J. in Donald J. Trump, U.S.
# \ufffd: the corpus' broken accented letters (Fr��nd) are still part of the name
_CAPITALISED = rf"(?:(?:al|el|ad|as|ash|at|ar|an|bin|ibn|abu)-)?[{_UPPER}][\w'’\ufffd-]*"  # al-Assad, O'Neill
_NAME_WORD = re.compile(rf"{_ABBREVIATION}|{_INITIALS}|{_CAPITALISED}")
_PARTICLES = frozenset("de da di del der van von al bin bint ben el la le du dos".split())

# An opening quote follows a space, a bracket or the start and is followed by a
# non-space; without that, a closing quote could be taken for an opening one.
_QUOTE = r'(?:(?<=[\s(\[])|^)"(?P<quote>[^"\s][^"]*?)(?P<close>[,?!])"\s+'
_VERB = r"(?:said|says|told|tells|added|adds)"
_ADVERB = r"(?:(?:also|later|then|has|had|once|previously|earlier|further)\s+)"
# A speaker word never holds a quote mark or sentence punctuation, so a speaker
# cannot run across a sentence end; a full stop is allowed only inside a word
# (D-Mass.,) or in an abbreviation or initials (Sen., J.).
_WORD_BEFORE = rf'(?:{_ABBREVIATION}|{_INITIALS}|[^\s"!?;:.]+(?:\.[^\s"!?;:.]+)*)'
_WORD_AFTER = rf'(?:{_ABBREVIATION}|{_INITIALS}|[^\s"!?;:.,]+)'
# Where a name after the verb ends: punctuation, the end, or a word that starts
# the rest of the clause ("said Spicer on Monday").
_AFTER_NAME = (
    r"(?=\s*[,.;:!?)]|\s*$|\s+(?:on|in|at|who|when|during|after|before|as|while|from|of|to|"
    r"last|this|yesterday|today|earlier|later|recently|via)\b)"
)
#: "…," Trump said / "…," Sen. Elizabeth Warren, D-Mass., said
_SPEAKER_FIRST = re.compile(
    _QUOTE + rf"(?P<speaker>{_WORD_BEFORE}(?:\s+{_WORD_BEFORE}){{0,9}}?)\s+{_ADVERB}?{_VERB}\b"
)
#: "…," said Sean Spicer, the press secretary
_VERB_FIRST = re.compile(_QUOTE + rf"{_VERB}\s+(?P<speaker>{_WORD_AFTER}(?:\s+{_WORD_AFTER}){{0,7}}?){_AFTER_NAME}")

_PRONOUNS = frozenset("he she they it we i you".split())
#: titles and roles; a name starts after the last of them (compared in lower
#: case without a final full stop, and part by part in Secretary-General)
_TITLES = frozenset(
    """mr mrs ms miss dr sen senator rep representative gov governor gen general brigadier lt col
    colonel capt captain sgt sergeant corporal prof professor rev reverend maj major adm admiral cmdr
    supt insp det detective cllr hon fr father president vice prime minister secretary chancellor
    judge justice chief executive officer ceo cfo coo mayor attorney king queen prince princess pope
    sheikh ambassador commissioner deputy taoiseach tánaiste speaker leader whip chairman chairwoman
    chair director spokesman spokeswoman spokesperson inspector superintendent constable sheriff
    coach manager premier editor pastor lord lady sir dame congressman congresswoman assemblyman
    assemblywoman undersecretary democrat republican""".split()
)
#: capitalised words that start a clause, not a name
_NOT_NAMES = frozenset(
    """the a an this that these those but and or so then there here one some many others another
    both all his her their its our my your yes no well also""".split()
)
#: a name after one of these is the speaker's ("press secretary Sean Spicer");
#: after any other word it may not be ("a spokesman for Pfizer")
_ROLES = frozenset(
    """secretary spokesman spokeswoman spokesperson minister director analyst meteorologist reporter
    correspondent adviser advisor leader chief chairman chairwoman president economist professor
    lawyer attorney official ambassador coach manager owner founder co-founder head editor columnist
    inspector officer researcher scientist expert author member candidate governor senator mayor
    judge commissioner deputy aide envoy premier chancellor general commander student resident
    activist campaigner chair co-chair executive ceo""".split()
)


@dataclass(frozen=True)
class QuoteAttribution:
    """A quotation found in a text with its attributed speaker.

    ``speaker``/``start`` is the name span in the text when the attribution is
    kept (``dropped`` is None); otherwise the whole speaker phrase, with
    ``dropped`` saying why it was left out.

    Example:
        >>> find_quotes('"Yes," said Ann Lee.')[0]
        QuoteAttribution(quote='Yes', speaker='Ann Lee', start=12, dropped=None)
    """

    quote: str
    speaker: str
    start: int
    dropped: str | None = None

    @property
    def end(self) -> int:
        return self.start + len(self.speaker)


def _name_span(words: list[tuple[str, int]]) -> tuple[int, int] | str:
    """Index range of the name within the speaker phrase's words, or why there is none."""
    if len(words) == 1 and words[0][0].lower() in _PRONOUNS:
        return "pronoun speaker"
    # In "Al Jazeera's Alan Fisher" the speaker is after the possessive; not in
    # "Dr. Cheema of Sacramento's Capital Sikh Center".
    first = 0
    for i, (word, _) in enumerate(words):
        if word.endswith(("'s", "’s")) and all(_NAME_WORD.fullmatch(w) for w, _ in words[: i + 1]):
            first = i + 1
    end = len(words)
    begin = end
    while begin > first and (
        _NAME_WORD.fullmatch(words[begin - 1][0]) or (words[begin - 1][0] in _PARTICLES and begin < end)
    ):
        begin -= 1
    # "the minister", "a spokesman for Pfizer", "the White House": a description,
    # which may hold a name that is not the speaker's
    refusal = "lowercase speaker" if not words[0][0][:1].isupper() else "not a name"
    if begin == end:
        return refusal
    if begin > first and words[begin - 1][0].lower() not in _ROLES:
        return refusal
    if end - begin > 1 and words[end - 1][0].lower() in _ROLES:
        return refusal  # "French Foreign Minister": a title without the name
    if any("'s" in word or "’s" in word for word, _ in words[begin:end]):
        return refusal  # "Jazeera's-Qais": a possessive glued inside the run
    # "Russian Foreign Minister Sergei Lavrov": the name follows the last title
    for i in range(end - 2, begin - 1, -1):
        if any(part in _TITLES for part in words[i][0].lower().rstrip(".").split("-")):
            begin = i + 1
            break
    while end - begin > 1 and words[begin][0].lower() in _NOT_NAMES:
        begin += 1  # "The Kremlin"
    if end - begin == 1 and words[begin][0].lower() in _NOT_NAMES:
        return "not a name"
    return begin, end


def find_quotes(text: str) -> list[QuoteAttribution]:
    """Every attributed quotation in ``text``, kept or dropped, in text order.

    Kept attributions carry the speaker's name span; dropped ones say why (a
    pronoun, a lowercase description, a phrase that is not a clean name).

    Example:
        >>> text = '"We will win," Trump said. "Not yet," he said. "Soon," said Sean Spicer, the aide.'
        >>> [(q.quote, q.speaker, q.dropped) for q in find_quotes(text)]
        [('We will win', 'Trump', None), ('Not yet', 'he', 'pronoun speaker'), ('Soon', 'Sean Spicer', None)]
        >>> [text[q.start:q.end] for q in find_quotes(text) if q.dropped is None]
        ['Trump', 'Sean Spicer']
    """
    found: list[tuple[int, QuoteAttribution]] = []
    for pattern in (_SPEAKER_FIRST, _VERB_FIRST):
        for match in pattern.finditer(text):
            quote = match.group("quote") + (match.group("close") if match.group("close") != "," else "")
            offset = match.start("speaker")
            words = []
            for word in re.finditer(r"\S+", match.group("speaker")):
                if word.group().endswith(","):
                    # before the verb, a comma starts an apposition: "Warren, D-Mass., said"
                    words.append((word.group()[:-1], offset + word.start()))
                    break
                words.append((word.group(), offset + word.start()))
            span = _name_span(words)
            if isinstance(span, str):
                phrase = match.group("speaker")
                found.append((match.start(), QuoteAttribution(quote, phrase, offset, span)))
                continue
            begin, end = span
            start = words[begin][1]
            stop = words[end - 1][1] + len(words[end - 1][0])
            found.append((match.start(), QuoteAttribution(quote, text[start:stop], start)))
    return [attribution for _, attribution in sorted(found, key=lambda pair: pair[0])]


def _question(quote: str) -> str:
    words = quote.split()
    # A long quote's first words already find it in the context; the rest would
    # only take tokens from the context window the model reads.
    if len(words) > MAX_QUOTE_WORDS:
        quote = " ".join(words[:MAX_QUOTE_WORDS]) + " …"
    return f'Who said "{quote}"?'


def quote_questions(articles: Iterable[Article]) -> list[QAExample]:
    """Extractive QA examples, one per attributed quote with a named speaker.

    The question is ``Who said "<quote>"?`` (a quote over
    :data:`MAX_QUOTE_WORDS` words is cut to its first words and ``…``), the
    context the article text, the answer the speaker's name span. A quote that
    recurs in an article becomes one question with every span as an answer when
    the name is the same each time, and none when it differs. An article whose
    text repeats an earlier one's is skipped, so copies cannot fall on both sides
    of a split.

    Args:
        articles: the news articles (``ranker.data.readers.read_articles(...).records``).

    Returns:
        Examples in article order, ``qid`` ``q<doc_id>-<n>`` (n from 1 within the
        article), ``doc_id`` the article's id.

    Example:
        >>> a = Article("7", "t", '"We will win," Donald Trump said on Monday. "We won\\'t," he said.')
        >>> [(e.qid, e.question, e.answers) for e in quote_questions([a])]
        [('q7-1', 'Who said "We will win"?', (Answer(text='Donald Trump', start=15),))]
    """
    examples: list[QAExample] = []
    seen_texts: set[str] = set()
    for article in articles:
        if article.text in seen_texts:
            continue
        seen_texts.add(article.text)
        by_question: dict[str, list[QuoteAttribution]] = {}
        for attribution in find_quotes(article.text):
            if attribution.dropped is None:
                by_question.setdefault(_question(attribution.quote), []).append(attribution)
        n = 0
        for question, attributions in by_question.items():
            if len({a.speaker for a in attributions}) > 1:
                continue  # one quote, several speakers: the question has no single answer
            answers = tuple(Answer(a.speaker, a.start) for a in attributions)
            for answer in answers:
                # the offsets come from the same string, but a wrong span would
                # silently teach the head the wrong boundaries: make sure
                assert article.text[answer.start : answer.end] == answer.text, (article.doc_id, answer)
            n += 1
            examples.append(QAExample(f"q{article.doc_id}-{n}", article.text, question, answers, article.doc_id))
    return examples


def _quote_in_question(question: str) -> str:
    """The quote's words as the question holds them (without a cut's "…")."""
    quote = question[len('Who said "') : -len('"?')]
    return quote.removesuffix(" …")


def crop_to_passages(examples: Sequence[QAExample], words: int, seed: int = 13,
                     keep: Callable[[QAExample], tuple[int, int]] | None = None) -> list[QAExample]:
    """Each example with its context cut to a passage of about ``words`` words that holds
    the quote and its speaker (the first answer), placed at a seeded random offset;
    ``keep`` (a character range of the context to hold whole) replaces the quote
    and speaker for questions of other shapes.

    Why: a whole article is several 256-token windows, and a model must then learn
    to say "not in this window" for most of them, which costs most of the
    training time; a passage the size of a SQuAD paragraph is one window. The
    quote and its attribution are kept whole (a passage grows past ``words``
    when they need it), so every question stays answerable; other answers of
    the same question are kept when they fall inside.

    Example:
        >>> text = "One two three. " * 20 + '"We won," said Ann Lee. ' + "Four five six. " * 20
        >>> e = quote_questions([Article("1", "", text)])[0]
        >>> short = crop_to_passages([e], words=12)[0]
        >>> short.answers[0].text, len(short.context.split()) <= 12, '"We won,"' in short.context
        ('Ann Lee', True, True)
    """
    rng = random.Random(seed)
    out = []
    for example in examples:
        context = example.context
        begin, end = (keep or _quote_and_speaker)(example)
        spans = [(m.start(), m.end()) for m in re.finditer(r"\S+", context)]
        first = next(i for i, (_, e) in enumerate(spans) if e > begin)
        last = max(i for i, (s, _) in enumerate(spans) if s < end)
        needed = last - first + 1  # the quote through its speaker, whatever ``words`` says
        size = max(words, needed)
        left = min(rng.randint(0, size - needed), first)
        lo = max(0, min(first - left, len(spans) - size))  # near the end, the passage shifts left
        hi = min(len(spans), lo + size)
        cut, stop = spans[lo][0], spans[hi - 1][1]
        answers = tuple(Answer(a.text, a.start - cut) for a in example.answers if cut <= a.start and a.end <= stop)
        passage = context[cut:stop]
        for a in answers:
            assert passage[a.start : a.end] == a.text, (example.qid, a)
        out.append(QAExample(example.qid, passage, example.question, answers, example.doc_id))
    return out


def _quote_and_speaker(example: QAExample) -> tuple[int, int]:
    """Where the quote of ``example`` begins and its speaker (the first answer) ends."""
    answer = example.answers[0]
    probe = " ".join(_quote_in_question(example.question).split()[:6])
    # both attribution shapes put the quote before the speaker
    begin = example.context.rfind(probe, 0, answer.start)
    if begin < 0:
        raise ValueError(f"{example.qid}: the quote is not before its speaker in the context")
    return begin, answer.end


def split_by_document(
    examples: Sequence[QAExample], test_fraction: float = 0.2, seed: int = 13
) -> tuple[list[QAExample], list[QAExample]]:
    """Split QA examples into train and test, holding out whole documents.

    The distinct ``doc_id`` values are sorted, shuffled with ``seed`` and the
    first ``round(test_fraction * n_documents)`` (at least one, and never all,
    when there are two or more documents) go to test; examples keep their order
    on each side. The same examples and seed always give the same split.

    Args:
        examples: any QA examples with ``doc_id`` set (SQuAD's are titles).
        test_fraction: the share of documents held out, strictly between 0 and 1.
        seed: the shuffle's seed.

    Returns:
        ``(train, test)``; no document has examples on both sides.

    Raises:
        ValueError: ``test_fraction`` is not strictly between 0 and 1.

    Example:
        >>> exs = [QAExample(f"q{i}", "Ann ran.", "Who?", (Answer("Ann", 0),), f"d{i % 5}") for i in range(10)]
        >>> train, test = split_by_document(exs)
        >>> len(train), len(test), {e.doc_id for e in train} & {e.doc_id for e in test}
        (8, 2, set())
    """
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be strictly between 0 and 1, not {test_fraction}")
    documents = sorted({example.doc_id for example in examples})
    random.Random(seed).shuffle(documents)
    n_test = round(test_fraction * len(documents))
    if len(documents) >= 2:
        n_test = min(max(n_test, 1), len(documents) - 1)
    held_out = set(documents[:n_test])
    train = [example for example in examples if example.doc_id not in held_out]
    test = [example for example in examples if example.doc_id in held_out]
    return train, test
