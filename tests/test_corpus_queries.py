"""Queries made from the corpus (ranker generate): only training articles provide them,
the same seed writes the same bytes, and a query's own words are cut from the positive
the models read, through mining and training as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ranker.cli import main
from ranker.train.corpus_queries import GenerationConfig, generate_to_folder, sentences

#: Eight articles of three sentences each; 1-5 are training articles, 6 dev, 7 and 8 test.
TOPICS = ["oil output", "dam spillway", "brexit letter", "travel ban", "nerve agent", "vienna talks",
          "harbour strike", "vaccine trial"]
SPLITS = {"train": ["1", "2", "3", "4", "5"], "dev": ["6"], "test": ["7", "8"]}


def article_text(i: int, topic: str) -> str:
    return (f"Reporters in city {i} followed the {topic} story closely all week long. "
            f"Officials said the {topic} decision would be announced before the weekend vote. "
            f"Critics of the {topic} plan gathered outside parliament on Thursday evening.")


@pytest.fixture
def split_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "beir"
    (folder / "qrels").mkdir(parents=True)
    with open(folder / "corpus.jsonl", "w") as handle:
        for i, topic in enumerate(TOPICS, start=1):
            handle.write(json.dumps({"_id": str(i), "title": topic.title(), "text": article_text(i, topic)}) + "\n")
    with open(folder / "queries.jsonl", "w") as handle:
        for i, topic in enumerate(TOPICS, start=1):
            handle.write(json.dumps({"_id": f"t{i}", "text": topic.title()}) + "\n")
    for split, docs in SPLITS.items():
        lines = "".join(f"t{d}\t{d}\t1\n" for d in docs)
        (folder / "qrels" / f"{split}.tsv").write_text("query-id\tcorpus-id\tscore\n" + lines)
    return folder


def generated(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "queries.jsonl").read_text().splitlines()]


def test_no_dev_or_test_article_provides_a_query(split_folder, tmp_path):
    about = generate_to_folder(split_folder, tmp_path / "gen")
    queries = generated(tmp_path / "gen")
    assert about["articles"] == 5 and about["queries"] == len(queries) > 0
    assert {q["metadata"]["target"] for q in queries} == set(SPLITS["train"])
    held_out_text = " ".join(article_text(int(d), TOPICS[int(d) - 1]) for d in SPLITS["dev"] + SPLITS["test"])
    for query in queries:
        assert query["text"] not in held_out_text
    qrels = (tmp_path / "gen" / "qrels" / "train.tsv").read_text().splitlines()[1:]
    assert {line.split("\t")[1] for line in qrels} <= set(SPLITS["train"])


def test_the_whole_corpus_only_when_asked(split_folder, tmp_path):
    about = generate_to_folder(split_folder, tmp_path / "gen", whole_corpus=True)
    assert about["articles"] == 8 and about["allowed"] == "every article"
    assert {q["metadata"]["target"] for q in generated(tmp_path / "gen")} == {str(i) for i in range(1, 9)}


def test_the_same_seed_writes_the_same_bytes_and_another_seed_other_queries(split_folder, tmp_path):
    for name, seed in (("a", 13), ("b", 13), ("c", 14)):
        assert main(["generate", str(split_folder), "--out", str(tmp_path / name), "--seed", str(seed)]) == 0
    for name in ("queries.jsonl", "qrels/train.tsv", "generated.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    assert (tmp_path / "a" / "queries.jsonl").read_bytes() != (tmp_path / "c" / "queries.jsonl").read_bytes()


def test_every_kind_is_made_and_counted(split_folder, tmp_path):
    about = generate_to_folder(split_folder, tmp_path / "gen", GenerationConfig(seed=13))
    assert about["counts"]["lead"] == 5 and about["counts"]["ict"] == 10  # two of the two sentences after the lead
    assert about["counts"]["span"] == 5 and about["counts"]["keywords"] >= 5
    assert about["counts"]["news_qa"] == 0  # the packaged questions are about the news benchmark's articles
    for query in generated(tmp_path / "gen"):
        kind, cut = query["metadata"]["kind"], query["metadata"]["cut"]
        target = int(query["metadata"]["target"])
        if kind in ("lead", "ict", "span"):
            assert cut == query["text"] and cut in article_text(target, TOPICS[target - 1])
        else:
            assert cut == ""


def test_a_sentence_used_as_a_query_is_cut_from_the_positive_the_model_reads(split_folder, tmp_path, tiny_model,
                                                                           tiny_bert):
    from ranker.index.folder import Index
    from ranker.train.groups import read_groups, text_groups

    index, gen, mined = tmp_path / "index", tmp_path / "gen", tmp_path / "mined"
    assert main(["index", str(split_folder), "--out", str(index), "--retrievers", "bm25", "--quiet"]) == 0
    assert main(["generate", str(split_folder), "--out", str(gen), "--per-article", "ict=1", "span=0", "keywords=0",
                 "lead=0"]) == 0
    assert main(["mine", str(index), "--queries", str(gen), "--split", "train", "--strategy", "bm25",
                 "--negatives", "1", "--relative-margin", "-1", "--out", str(mined), "--quiet"]) == 0
    rows = read_groups(mined)
    assert len(rows) == 5 and all(row.cut == row.query for row in rows)
    for group in text_groups(rows, Index.open(index).docs):
        assert group.query not in group.positive and group.positive  # the rest of the article is read
        assert all(group.query not in negative for negative in group.negatives)  # another article, whole

    # generated and labelled tables trained on as one
    labelled = tmp_path / "mined-labelled"
    assert main(["mine", str(index), "--queries", str(split_folder), "--split", "train", "--strategy", "bm25",
                 "--negatives", "1", "--relative-margin", "-1", "--out", str(labelled), "--quiet"]) == 0
    out = tmp_path / "model"
    assert main(["train", "reranker", "--groups", str(mined), str(labelled), "--index", str(index), "--model",
                 str(tiny_bert), "--out", str(out), "--max-steps", "2", "--batch-size", "5", "--max-length", "32",
                 "--quiet"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    both = read_groups([mined, labelled])  # ten groups: two steps of five hold every pair of both tables once
    assert len(both) == 10 and metrics["train"]["steps"] == 2
    assert metrics["train"]["examples"] == sum(1 + len(row.negatives) for row in both)


def test_sentences_keep_abbreviations_and_closing_quotes():
    text = 'U.S. officials met Mr. Smith. He said "no." John F. Kennedy airport closed! Why?'
    assert sentences(text) == ["U.S. officials met Mr. Smith.", 'He said "no."', "John F. Kennedy airport closed!",
                               "Why?"]


def test_bad_input_is_one_line_and_exit_2(split_folder, tmp_path, capsys):
    assert main(["generate", str(split_folder), "--out", str(tmp_path / "gen"), "--split", "training"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "qrels/training.tsv" in err and "--split" in err
    assert not (tmp_path / "gen").exists()
    # an output that is another kind of artifact is refused, not replaced
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "mine.txt").write_text("mine")
    assert main(["generate", str(split_folder), "--out", str(tmp_path / "notes")]) == 2
    assert (tmp_path / "notes" / "mine.txt").read_text() == "mine"
    # the same output twice replaces the first generation (an artifact of the same kind)
    assert main(["generate", str(split_folder), "--out", str(tmp_path / "gen")]) == 0
    assert main(["generate", str(split_folder), "--out", str(tmp_path / "gen"), "--seed", "2"]) == 0
