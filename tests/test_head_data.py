"""Readers of the task heads' files and the recipes of their real data sets.

Fast tests use small hand-written files; the tests marked slow read the real
archives in data/cache (downloading them if missing) and check their counts.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from ranker.core.errors import InputError
from ranker.data.datasets.quotes import crop_to_passages, find_quotes, quote_questions, split_by_document
from ranker.data.datasets.treebank import split_sentences
from ranker.data.labelled import Answer, LabelledText, QAExample, ScoredPair, TaggedSentence
from ranker.data.labelled_files import (
    parse_word_tag_line,
    read_conllu,
    read_labelled_texts,
    read_scored_pairs,
    read_word_tag,
)
from ranker.data.records import Article
from ranker.data.squad import read_squad, write_squad

CACHE = Path(__file__).parents[1] / "data" / "cache"


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# ------------------------------------------------------------- labelled texts


def test_labelled_tsv_with_and_without_header(tmp_path):
    with_header = write(tmp_path / "a.tsv", "Label\tText\ncrude\toil prices rose\n\nearn\tprofit up\twith a tab\n")
    assert read_labelled_texts(with_header) == [
        LabelledText("oil prices rose", "crude"),
        LabelledText("profit up\twith a tab", "earn"),  # split at the first tab only
    ]
    without = write(tmp_path / "b.tsv", "crude\toil prices rose\r\n")
    assert read_labelled_texts(without) == [LabelledText("oil prices rose", "crude")]


@pytest.mark.parametrize(
    "content, line, problem",
    [
        ("crude\toil\nno tab here\n", "line 2", "no tab"),
        ("label\ttext\ncrude\t   \n", "line 2", "empty text"),
        ("crude\toil\n\n\tno label\n", "line 3", "empty label"),
    ],
)
def test_labelled_tsv_bad_lines_name_the_line(tmp_path, content, line, problem):
    path = write(tmp_path / "bad.tsv", content)
    with pytest.raises(InputError) as caught:
        read_labelled_texts(path)
    assert caught.value.where == line and problem in caught.value.problem
    assert str(caught.value).startswith(f"{path}: {line}: ")


def test_orange_tab_like_r8(tmp_path):
    # R8's own header: names, types, flags (the text column has no flag), then a blank line.
    path = write(tmp_path / "r8.tab", "Category\tText\nd\tstring\nclass\t\n\nearn\tprofit rose\nacq\tbuys unit\n")
    assert read_labelled_texts(path) == [LabelledText("profit rose", "earn"), LabelledText("buys unit", "acq")]
    # The class column need not come first; other columns are ignored.
    other = write(tmp_path / "o.tab", "id\tText\ttopic\nc\tstring\td\nmeta\t\tclass\n1\tship sank\tship\n")
    assert read_labelled_texts(other) == [LabelledText("ship sank", "ship")]


def test_orange_tab_errors_name_the_line(tmp_path):
    no_class = write(tmp_path / "a.tab", "Category\tText\nd\tstring\n\t\nearn\tx\n")
    with pytest.raises(InputError, match="line 3: expected exactly one column flagged 'class'"):
        read_labelled_texts(no_class)
    empty_text = write(tmp_path / "b.tab", "Category\tText\nd\tstring\nclass\t\n\nearn\tok\nacq\t\n")
    with pytest.raises(InputError, match=r"b\.tab: line 6: empty text"):
        read_labelled_texts(empty_text)
    short_row = write(tmp_path / "c.tab", "Category\tText\nd\tstring\nclass\t\nearn\n")
    with pytest.raises(InputError, match="line 4: expected 2 tab-separated fields, found 1"):
        read_labelled_texts(short_row)


def test_missing_file_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="no such"):
        read_labelled_texts(tmp_path / "nope.tsv")


# --------------------------------------------------------------- scored pairs


def test_scored_pairs_sts_b_layout(tmp_path):
    header = "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore\n"
    row = ('0\tmain-captions\tMSRvid\t2012test\t0001\tnone\tnone\tA "plane is taking off.\t'
           'An air plane is taking off.\t5.000\n')
    path = write(tmp_path / "sts.tsv", header + row + "\n")
    # Quotes are text: STS-B is read without quoting, so an unbalanced quote stays.
    assert read_scored_pairs(path) == [ScoredPair('A "plane is taking off.', "An air plane is taking off.", 5.0)]


def test_scored_pairs_errors(tmp_path):
    bad_score = write(tmp_path / "a.tsv", "sentence1\tsentence2\tscore\nA\tB\t1\nC\tD\thigh\n")
    with pytest.raises(InputError, match=r"a\.tsv: line 3: score 'high' is not a finite number"):
        read_scored_pairs(bad_score)
    no_score = write(tmp_path / "b.tsv", "sentence1\tsentence2\tlabel\nA\tB\t1\n")
    with pytest.raises(InputError, match="line 1: the header must name .* missing score"):
        read_scored_pairs(no_score)
    short = write(tmp_path / "c.tsv", "score\tsentence1\tsentence2\n0.5\tA\n")
    with pytest.raises(InputError, match="line 2: expected at least 3 tab-separated fields, found 2"):
        read_scored_pairs(short)


# ----------------------------------------------------------- tagged sentences


def test_word_tag_splits_at_the_last_slash(tmp_path):
    path = write(tmp_path / "t.txt", "Pierre/NNP owns/VBZ 1/2/CD of/IN it/PRP ./.\n\nHi/UH\n")
    assert read_word_tag(path) == [
        TaggedSentence(("Pierre", "owns", "1/2", "of", "it", "."), ("NNP", "VBZ", "CD", "IN", "PRP", ".")),
        TaggedSentence(("Hi",), ("UH",)),
    ]


@pytest.mark.parametrize("token", ["runs", "runs/", "/VBZ"])
def test_word_tag_bad_token_names_the_line(tmp_path, token):
    path = write(tmp_path / "t.txt", f"John/NNP runs/VBZ\nJohn/NNP {token}\n")
    with pytest.raises(InputError, match=r"t\.txt: line 2: token"):
        read_word_tag(path)


CONLLU = """# sent_id = 1
# text = Don't go.
1-2\tDon't\t_\t_\t_\t_\t_\t_\t_\t_
1\tDo\tdo\tAUX\tVBP\t_\t3\taux\t_\t_
2\tn't\tnot\tPART\tRB\t_\t3\tadvmod\t_\t_
3\tgo\tgo\tVERB\tVB\t_\t0\troot\t_\t_
3.1\tgone\tgo\tVERB\tVBN\t_\t_\t_\t3:conj\t_
4\t.\t.\tPUNCT\t.\t_\t3\tpunct\t_\t_

# sent_id = 2
1\tYes\tyes\tINTJ\tUH\t_\t0\troot\t_\t_"""


def test_conllu_skips_multiword_tokens_and_empty_nodes(tmp_path):
    path = write(tmp_path / "ud.conllu", CONLLU)  # no blank line at the end: the last sentence still counts
    upos = read_conllu(path)
    assert upos == [
        TaggedSentence(("Do", "n't", "go", "."), ("AUX", "PART", "VERB", "PUNCT")),
        TaggedSentence(("Yes",), ("INTJ",)),
    ]
    assert read_conllu(path, "xpos")[0].tags == ("VBP", "RB", "VB", ".")
    with pytest.raises(ValueError):
        read_conllu(path, "deprel")  # type: ignore[arg-type]


def test_conllu_errors_name_the_line(tmp_path):
    short = write(tmp_path / "a.conllu", "1\tHi\thi\tINTJ\n")
    with pytest.raises(InputError, match=r"a\.conllu: line 1: expected 10 tab-separated fields, found 4"):
        read_conllu(short)
    no_xpos = write(tmp_path / "b.conllu", "# c\n1\tHi\thi\tINTJ\t_\t_\t0\troot\t_\t_\n")
    with pytest.raises(InputError, match="line 2: no xpos tag"):
        read_conllu(no_xpos, "xpos")
    bad_id = write(tmp_path / "c.conllu", "x\tHi\thi\tINTJ\tUH\t_\t0\troot\t_\t_\n")
    with pytest.raises(InputError, match="line 1: token id 'x'"):
        read_conllu(bad_id)


def test_wsj_lines_split_into_sentences():
    line = parse_word_tag_line(
        "Nov./NNP 29/CD ./. Mr./NNP Vinken/NNP ./. ``/`` Why/WRB ?/. ''/'' he/PRP asked/VBD ./. "
        "``/`` No/DT !/. ''/'' Then/RB ./.",
        "wsj",
        1,
    )
    assert [s.words for s in split_sentences(line)] == [
        ("Nov.", "29", "."),
        ("Mr.", "Vinken", "."),
        ("``", "Why", "?", "''", "he", "asked", "."),  # the quote runs on into its attribution
        ("``", "No", "!", "''"),  # the closing quote stays with its sentence
        ("Then", "."),
    ]


# ---------------------------------------------------------------------- SQuAD


def squad_examples() -> list[QAExample]:
    context1 = "Ann met Bob in Paris. Bob said hi."
    context2 = "Later, Ann left Paris for Rome."
    return [
        QAExample("q1", context1, "Who met Bob?", (Answer("Ann", 0),), "Article A"),
        QAExample("q2", context1, "Where?", (Answer("Paris", 15), Answer("Paris", 15)), "Article A"),
        QAExample("q3", context2, "Where did Ann go?", (Answer("Rome", 26),), "Article A"),
        QAExample("q4", "Émile était là.", "Qui?", (Answer("Émile", 0),), "Article B"),
    ]


def test_squad_round_trip(tmp_path):
    path = tmp_path / "out" / "squad.json"
    write_squad(squad_examples(), path)
    assert read_squad(path) == squad_examples()
    document = json.loads(path.read_text(encoding="utf-8"))
    assert document["version"] == "1.1"
    assert [a["title"] for a in document["data"]] == ["Article A", "Article B"]
    assert [len(a["paragraphs"]) for a in document["data"]] == [2, 1]  # grouped by doc, then context
    assert not list(path.parent.glob(".*tmp*"))  # written through a renamed temporary


def test_write_squad_titles_and_grouping(tmp_path):
    a, b, c, d = squad_examples()
    path = tmp_path / "s.json"
    write_squad([a, d, c, b], path, title_of=lambda doc_id: doc_id.upper())
    read = read_squad(path)
    # by document in order of first appearance, then by context: q2 joins q1, q3 follows
    assert [e.qid for e in read] == ["q1", "q2", "q3", "q4"]
    assert {e.doc_id for e in read} == {"ARTICLE A", "ARTICLE B"}
    with pytest.raises(ValueError, match="duplicate question id"):
        write_squad([a, a], path)


def test_read_squad_checks_answers_against_the_context(tmp_path):
    qa = {"id": "5733be28", "question": "Where?", "answers": [{"text": "Pari", "answer_start": 16}]}
    document = {"version": "1.1",
                "data": [{"title": "T", "paragraphs": [{"context": "Ann met Bob in Paris.", "qas": [qa]}]}]}
    path = write(tmp_path / "bad.json", json.dumps(document))
    with pytest.raises(InputError, match=r"bad\.json: question '5733be28': answer 0 'Pari' is not the context at 16"):
        read_squad(path)
    broken = write(tmp_path / "broken.json", '{"data": [\n{"title": "T",\n]}')
    with pytest.raises(InputError, match=r"broken\.json: line 3: invalid JSON"):
        read_squad(broken)
    no_answers = write(tmp_path / "v2.json", json.dumps({"data": [{"title": "T", "paragraphs": [
        {"context": "x", "qas": [{"id": "q9", "question": "?", "answers": []}]}]}]}))
    with pytest.raises(InputError, match="question 'q9': no answers"):
        read_squad(no_answers)


# --------------------------------------------------------------------- quotes

ARTICLE = (
    '"We will win this," Donald Trump said on Monday. "Not yet," he said. '
    '"It is hard to imagine a worse choice," Sen. Elizabeth Warren, D-Mass., said before the vote. '
    '"The talks go on," said Sean Spicer, the White House press secretary. '
    '"No comment," the minister told reporters. "Talks are over," Kremlin spokesman Dmitry Peskov told reporters. '
    '"Ask them," a spokesman for Pfizer said. "Really?" she asked. "We are ready!" Russian Foreign Minister '
    "Sergei Lavrov added."
)


def test_quote_questions_take_named_speakers_with_exact_offsets():
    examples = quote_questions([Article("42", "t", ARTICLE)])
    got = [(e.question, e.answers[0].text) for e in examples]
    assert got == [
        ('Who said "We will win this"?', "Donald Trump"),
        ('Who said "It is hard to imagine a worse choice"?', "Elizabeth Warren"),
        ('Who said "The talks go on"?', "Sean Spicer"),
        ('Who said "Talks are over"?', "Dmitry Peskov"),
        ('Who said "We are ready!"?', "Sergei Lavrov"),
    ]
    for example in examples:
        (answer,) = example.answers
        assert example.context[answer.start : answer.end] == answer.text
        assert example.doc_id == "42" and example.context == ARTICLE
    assert [e.qid for e in examples] == ["q42-1", "q42-2", "q42-3", "q42-4", "q42-5"]


def test_dropped_quotes_say_why():
    dropped = {q.quote: q.dropped for q in find_quotes(ARTICLE) if q.dropped}
    assert dropped == {
        "Not yet": "pronoun speaker",
        "No comment": "lowercase speaker",
        "Ask them": "lowercase speaker",  # Pfizer is named, but did not speak
    }


def test_long_quotes_are_cut_and_repeated_quotes_merged():
    long_quote = " ".join(f"w{i}" for i in range(60))
    text = f'"{long_quote}," Ann Lee said. "Again," Bo Li said. Then: "Again," Bo Li said.'
    long, again = quote_questions([Article("7", "t", text)])
    assert long.question == 'Who said "' + " ".join(f"w{i}" for i in range(40)) + ' …"?'
    assert [text[a.start : a.end] for a in again.answers] == ["Bo Li", "Bo Li"] and again.answers[0] != again.answers[1]
    ambiguous = '"Again," Bo Li said. "Again," Ann Lee said.'
    assert quote_questions([Article("8", "t", ambiguous)]) == []
    copies = [Article("1", "t", '"Hi," Ann Lee said.'), Article("2", "t", '"Hi," Ann Lee said.')]
    assert [e.doc_id for e in quote_questions(copies)] == ["1"]  # identical texts are kept once


def test_passages_keep_the_quote_and_its_speaker_at_varying_offsets():
    filler = " ".join(f"f{i}." for i in range(200))
    text = f'{filler} "We will win this time," Ann Lee said. "Again," Bo Li said. {filler} "Again," Bo Li said.'
    examples = quote_questions([Article("7", "t", text)])
    for seed in range(5):
        win, again = crop_to_passages(examples, words=20, seed=seed)
        assert len(win.context.split()) == 20 and text.count(win.context) == 1
        assert '"We will win this time," Ann Lee' in win.context
        assert [win.context[a.start : a.end] for a in win.answers] == ["Ann Lee"]
        assert [again.context[a.start : a.end] for a in again.answers] == ["Bo Li"]  # the far copy falls outside
    offsets = {crop_to_passages(examples, words=20, seed=seed)[0].answers[0].start for seed in range(5)}
    assert len(offsets) > 1  # the answer is not always in the same place
    assert crop_to_passages(examples, 20, seed=3) == crop_to_passages(examples, 20, seed=3)
    tight = crop_to_passages(examples, words=2)[0]  # too few words: the passage grows to hold quote and name
    assert tight.context.startswith('"We will win') and tight.context.endswith("Ann Lee")


def test_split_by_document_holds_out_whole_documents():
    examples = [QAExample(f"q{i}", "Ann ran.", "Who ran?", (Answer("Ann", 0),), f"d{i % 10}") for i in range(50)]
    train, test = split_by_document(examples, test_fraction=0.2, seed=13)
    assert len(train) + len(test) == 50
    test_docs = {e.doc_id for e in test}
    assert len(test_docs) == 2 and not test_docs & {e.doc_id for e in train}
    assert split_by_document(list(reversed(examples)), 0.2, 13)[1] == list(reversed(test))  # order-free choice
    assert [e.qid for e in train] == [e.qid for e in examples if e.doc_id not in test_docs]  # order kept
    with pytest.raises(ValueError):
        split_by_document(examples, test_fraction=1.0)


# ------------------------------------------------------------ real data (slow)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_real_r8():
    from ranker.data.datasets.r8 import load_r8

    train, test = load_r8(CACHE)
    assert (len(train), len(test)) == (5485, 2189)
    labels = Counter(r.label for r in train)
    assert set(labels) == {r.label for r in test} == {"earn", "acq", "crude", "trade", "money-fx", "interest", "ship",
                                                      "grain"}
    assert labels["earn"] == 2840 and labels["grain"] == 41
    assert all(r.text.strip() for r in train + test)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_real_lee():
    from ranker.data.datasets.lee import load_lee, load_lee_background

    documents, pairs = load_lee(CACHE)
    assert len(documents) == 50 and len(pairs) == 1225
    assert all(0.2 <= p.score <= 1.0 for p in pairs)
    assert (pairs[0].a_id, pairs[0].b_id, pairs[-1].a_id, pairs[-1].b_id) == ("0", "1", "48", "49")
    assert pairs[0].text_a == documents[0] and pairs[-1].text_b == documents[49]
    assert documents[0].startswith("The national executive of the strife-torn Democrats")
    assert sum(p.score == 1.0 for p in pairs) == 3
    assert "£" in " ".join(documents)  # decoded as latin-1
    background = load_lee_background(CACHE)
    assert len(background) == 300

    def words(text: str) -> set[str]:
        return set(text.lower().split())

    # silver pairs come from these: none may be (a near-copy of) a rated document
    overlap = max(len(words(d) & words(b)) / len(words(d) | words(b)) for d in documents for b in background)
    assert overlap < 0.2


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_real_wsj_sample():
    from ranker.data.datasets.treebank import load_wsj_pos

    sentences = load_wsj_pos(CACHE)
    assert len(sentences) == 1061
    assert sum(len(s.words) for s in sentences) == 25026
    assert len({tag for s in sentences for tag in s.tags}) == 44
    assert sentences[0].words[:2] == ("Pierre", "Vinken") and sentences[1].words[:2] == ("Mr.", "Vinken")


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_real_quote_questions(tmp_path):
    from ranker.data.datasets.news import build_news_benchmark
    from ranker.data.readers import read_articles

    news = Path(__file__).parents[1] / "data" / "news"
    if not (news / "corpus.jsonl").exists():
        news = tmp_path / "news"
        build_news_benchmark(news, CACHE)
    articles = read_articles(news).records
    reasons = Counter(q.dropped or "kept" for a in articles for q in find_quotes(a.text))
    assert reasons == Counter({"kept": 3940, "pronoun speaker": 2145, "lowercase speaker": 962, "not a name": 137})
    examples = quote_questions(articles)
    assert len(examples) == 3935 and len({e.doc_id for e in examples}) == 1729
    assert len({e.qid for e in examples}) == len(examples)
    assert all(e.context[a.start : a.end] == a.text for e in examples for a in e.answers)
    passages = crop_to_passages(examples, words=150)
    assert all(p.answers and p.context[a.start : a.end] == a.text for p in passages for a in p.answers)
    assert max(len(p.context.split()) for p in passages) == 150
    train, test = split_by_document(examples)
    assert not {e.doc_id for e in train} & {e.doc_id for e in test}
