"""The other heads on the BERT core: pre- and post-processing, and a smoke run of each.

Pure functions are checked against hand-worked answers and the real tokenizer;
each head then trains a few steps of a tiny random BERT, saves, reloads and
predicts exactly what the in-memory model predicted.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import NEWS
from ranker.cli import main
from ranker.data.labelled import Answer, LabelledText, QAExample, ScoredPair, TaggedSentence
from ranker.heads import TASKS
from ranker.heads.pairs import document_folds
from ranker.heads.qa import (
    QAConfig,
    answer_positions,
    answer_questions,
    best_span,
    encode_windows,
    normalize_answer,
    squad_metrics,
    training_windows,
)
from ranker.heads.tag import align_labels, first_pieces, tagging_metrics
from ranker.train.loop import TrainConfig

FEW_STEPS = TrainConfig(learning_rate=1e-3, epochs=1, max_steps=3, batch_size=2, checkpoint_every=0)


@pytest.fixture(scope="module")
def tokenizer():
    from ranker.models.checkpoints import load_tokenizer

    return load_tokenizer("all-MiniLM-L6-v2")


# -- tagging -----------------------------------------------------------------------


def test_only_the_first_piece_of_each_word_carries_its_tag(tokenizer):
    words = ["John", "Smith", "'s", "unbelievably", "new", "car"]
    encoded = tokenizer(words, is_split_into_words=True)
    word_ids = encoded.word_ids()
    labels = align_labels(word_ids, [10, 11, 12, 13, 14, 15])
    assert len(word_ids) > len(words) + 2  # "unbelievably" is several pieces
    assert [label for label in labels if label != -100] == [10, 11, 12, 13, 14, 15]
    for position, (word, label) in enumerate(zip(word_ids, labels, strict=True)):
        first = word is not None and (position == 0 or word_ids[position - 1] != word)
        assert (label != -100) == first
    assert labels[0] == labels[-1] == -100  # [CLS] and [SEP]
    assert first_pieces(word_ids) == {w: word_ids.index(w) for w in range(len(words))}


def test_tagging_metrics_count_tokens_per_gold_tag():
    m = tagging_metrics([("DT", "NN", "VBZ"), ("NN",)], [["DT", "NN", "NN"], ["NN"]])
    assert m["accuracy"] == 0.75 and m["tokens"] == 4
    assert m["per_tag"]["NN"] == {"accuracy": 1.0, "support": 2}
    assert m["confusions"] == [{"gold": "VBZ", "predicted": "NN", "count": 1}]


# -- pairs --------------------------------------------------------------------------


def test_document_folds_keep_every_document_on_one_side():
    pairs = [ScoredPair(f"t{a}", f"t{b}", 0.1, str(a), str(b)) for a in range(10) for b in range(a + 1, 10)]
    folds = document_folds(pairs, 5, seed=3)
    tested = []
    for train, test in folds:
        train_docs = {d for i in train for d in (pairs[i].a_id, pairs[i].b_id)}
        test_docs = {d for i in test for d in (pairs[i].a_id, pairs[i].b_id)}
        assert train_docs and test_docs and not train_docs & test_docs
        assert len(test) == 1 and len(train) == 28  # 2 documents held out: 1 pair; 8 left: 28 pairs
        tested += test
    assert len(set(tested)) == 5
    assert document_folds(pairs, 5, seed=3) == folds  # deterministic


def test_document_folds_need_document_ids():
    with pytest.raises(ValueError, match="a_id and b_id"):
        document_folds([ScoredPair("a", "b", 0.5)], 2)


# -- question answering --------------------------------------------------------------


CONTEXT = ("Talks went on all night in Brussels. " * 12 + '"We will not back down," said Jean-Claude Juncker, '
           "the commission's president, on Friday. " + "Markets were calm. " * 12)
START = CONTEXT.index("Jean-Claude Juncker")
QUESTION = 'Who said "We will not back down"?'


def test_answer_positions_cover_exactly_the_answer_in_the_window_that_holds_it(tokenizer):
    answer = Answer("Jean-Claude Juncker", START)
    encoded = encode_windows(tokenizer, [QUESTION], [CONTEXT], max_length=64, stride=16)
    assert len(encoded["input_ids"]) > 3  # several windows
    holding = 0
    for row in range(len(encoded["input_ids"])):
        offsets = encoded["offset_mapping"][row]
        start, end = answer_positions(offsets, encoded.sequence_ids(row), answer.start, answer.end)
        if (start, end) == (0, 0):
            continue
        holding += 1
        assert CONTEXT[offsets[start][0] : offsets[end][1]] == "Jean-Claude Juncker"
        assert tokenizer.decode(encoded["input_ids"][row][start : end + 1]).replace(" ", "") == "jean-claudejuncker"
    assert holding >= 1


def test_best_span_never_ends_before_it_starts_nor_leaves_the_passage():
    offsets = [None, None, (0, 4), (5, 9), (10, 14), None]
    start = np.array([50.0, 0.0, 1.0, 0.0, 5.0, 0.0])  # the best start (0) is in the question
    end = np.array([0.0, 0.0, 0.0, 6.0, 0.0, 40.0])  # the best end (5) is [SEP]
    score, first, last = best_span(start, end, offsets, max_answer_length=5)
    assert (first, last) == (0, 9) and score == 7.0  # 4 (s=5) > 3 (e=6) is not allowed
    assert best_span(start, end, offsets, max_answer_length=1) == (6.0, 5, 9)
    assert best_span(start, end, [None] * 6, max_answer_length=5) is None


def test_windows_train_on_the_answer_and_predictions_map_back_to_characters(tokenizer, tiny_bert):
    example = QAExample("q1", CONTEXT, QUESTION, (Answer("Jean-Claude Juncker", START),), "d1")
    config = QAConfig(model=str(tiny_bert), max_length=64, stride=16, answerless_windows=0.0)
    windows = training_windows(tokenizer, [example], config)
    assert windows and all(w.start > 0 for w in windows)
    everything = training_windows(tokenizer, [example], QAConfig(max_length=64, stride=16))
    assert len(everything) > len(windows) and any(w.start == 0 for w in everything)
    from ranker.heads.base import new_head

    net, tok = new_head(str(tiny_bert), "span", seed=0)
    (found,) = answer_questions(net, tok, [QUESTION], [CONTEXT], config)
    assert found is not None and found.text == CONTEXT[found.start : found.start + len(found.text)]


def test_squad_normalisation_and_metrics():
    assert normalize_answer("  The Jean-Claude   Juncker!") == "jeanclaude juncker"
    example = QAExample("q", CONTEXT, QUESTION, (Answer("Jean-Claude Juncker", START), Answer("Juncker", START + 12)))
    m = squad_metrics([example, example], ["juncker", "president Juncker said"])
    assert m["exact_match"] == 50.0
    assert m["F1"] == pytest.approx(100 * (1.0 + 0.5) / 2)  # 1/3 precision, full recall of 'Juncker'


def test_pair_scores_are_learned_standardised_and_predicted_on_the_users_scale(tmp_path, tiny_bert):
    import numpy as np

    from ranker.heads.base import sequence_logits
    from ranker.heads.pairs import PairsConfig, PairsTask, score_text_pairs, train_pair_regressor

    examples = _examples("pairs")
    scores = [p.score for p in examples]
    train_pair_regressor(examples, tmp_path, PairsConfig(model=str(tiny_bert), max_length=32), FEW_STEPS,
                         show_progress=False)
    net, tokenizer, config = TASKS["pairs"].load(tmp_path / "model")
    assert config.label_mean == pytest.approx(np.mean(scores)) and config.label_scale == pytest.approx(np.std(scores))
    labels = PairsTask(examples, net, tokenizer, config, 4).features(examples[:2])["labels"].tolist()
    assert labels == pytest.approx([(s - np.mean(scores)) / np.std(scores) for s in scores[:2]], abs=1e-5)
    pairs = [(examples[0].text_a, examples[1].text_b)]
    raw = sequence_logits(net, tokenizer, [pairs[0][0]], [pairs[0][1]], 32)[:, 0]
    assert score_text_pairs(net, tokenizer, pairs, config) == pytest.approx(raw * np.std(scores) + np.mean(scores),
                                                                            abs=1e-5)
    assert PairsConfig(standardize=False).fitted_to(scores) == PairsConfig(standardize=False)


def test_silver_pairs_take_each_texts_neighbours_and_random_partners_scored_by_cosine(tiny_model):
    import numpy as np

    from ranker.heads.pairs import silver_pairs
    from ranker.retrieve.embed import Embedder, EmbedderConfig

    texts = [text for _, _, text in NEWS]
    config = EmbedderConfig(model=str(tiny_model), max_length=64, batch_size=8)
    pairs = silver_pairs(texts, neighbours=1, random_pairs=1, seed=0, config=config)
    keys = [(p.a_id, p.b_id) for p in pairs]
    assert len(set(keys)) == len(keys) and all(int(a[1:]) < int(b[1:]) for a, b in keys)
    vectors = Embedder(config).encode(texts)
    for p in pairs:
        i, j = int(p.a_id[1:]), int(p.b_id[1:])
        assert (p.text_a, p.text_b) == (texts[i], texts[j])
        assert p.score == pytest.approx(float(vectors[i] @ vectors[j]), abs=1e-5)
    nearest = {i: int(np.argmax([vectors[i] @ vectors[j] if j != i else -9 for j in range(len(texts))]))
               for i in range(len(texts))}
    assert all((min(i, j), max(i, j)) in {(int(a[1:]), int(b[1:])) for a, b in keys} for i, j in nearest.items())
    assert len(texts) <= len(pairs) <= 2 * len(texts)


# -- each head: train, save, reload, predict -------------------------------------------


def _examples(task: str) -> list:
    texts = [text for _, _, text in NEWS]
    if task == "classify":
        return [LabelledText(t, "oil" if "oil" in t.lower() else "other") for t in texts]
    if task == "pairs":
        return [ScoredPair(a, b, float(i == j), str(i), str(j))
                for i, a in enumerate(texts) for j, b in enumerate(texts) if i <= j]
    if task == "tag":
        return [TaggedSentence(tuple(t.split()), tuple("CAP" if w[0].isupper() else "LOW" for w in t.split()))
                for t in texts]
    return [QAExample(f"q{i}", t, f"What about {t.split()[0]}?", (Answer(t.split()[0], 0),), str(i))
            for i, t in enumerate(texts)]


def _inputs(task: str) -> list:
    if task == "classify":
        return ["Oil prices rose", "A dam broke"]
    if task == "pairs":
        return [("Oil prices rose", "OPEC met in Vienna")]
    if task == "tag":
        return [["John", "Smith", "'s", "car", "is", "new"]]
    return [("Who met in Vienna?", "OPEC members met in Vienna on Monday.")]


@pytest.mark.parametrize("task", ["classify", "pairs", "tag", "qa"])
def test_each_head_trains_saves_reloads_and_predicts_the_same(task, tmp_path, tiny_bert):
    spec = TASKS[task]
    config = (spec.config(model=str(tiny_bert), max_length=64) if task != "qa"
              else spec.config(model=str(tiny_bert), max_length=64, stride=16))
    examples = _examples(task)
    metrics = spec.train(examples, tmp_path, config, FEW_STEPS, dev=examples[:3], show_progress=False)
    assert metrics["train"]["steps"] == 3
    assert (tmp_path / "metrics.json").is_file() and (tmp_path / "model" / "ranker.json").is_file()
    assert spec.primary_metric in metrics["best"]
    net, tokenizer, loaded = spec.load(tmp_path / "model")
    assert loaded.max_length == 64
    module = spec._module
    first = module.predict_rows(net, tokenizer, loaded, _inputs(task))
    again = spec.predict(tmp_path / "model", _inputs(task), runtime="torch")
    assert first == again and len(first) == len(_inputs(task))
    # the OpenVINO export in fp32 predicts what PyTorch does (probabilities to their 4 decimals)
    assert spec.predict(tmp_path / "model", _inputs(task), runtime="openvino", precision="fp32") == first
    assert json.loads(json.dumps(first)) == first  # plain JSON


def test_a_model_of_one_head_is_refused_by_another(tmp_path, tiny_bert):
    from ranker.core.errors import InputError

    spec = TASKS["classify"]
    spec.train(_examples("classify"), tmp_path, spec.config(model=str(tiny_bert), max_length=32), FEW_STEPS,
               show_progress=False)
    with pytest.raises(InputError, match="trained for 'classify', not 'pairs'"):
        TASKS["pairs"].load(tmp_path / "model")


def test_cli_train_predict_eval_classify(tmp_path, tiny_bert, capsys):
    data = tmp_path / "train.tsv"
    data.write_text("".join(f"{e.label}\t{e.text}\n" for e in _examples("classify")))
    out = tmp_path / "run"
    assert main(["train", "classify", "--train", str(data), "--out", str(out), "--model", str(tiny_bert),
                 "--max-length", "32", "--max-steps", "2", "--batch-size", "2", "--quiet"]) == 0
    assert "model ->" in capsys.readouterr().out
    assert main(["predict", "classify", str(out / "model"), "Oil prices rose", "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["label"] in {"oil", "other"} and 0 < row["probability"] <= 1
    assert main(["eval", "classify", str(out / "model"), "--data", str(data), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["n"] == len(NEWS)


def test_cli_predict_tag_prints_word_slash_tag(tmp_path, tiny_bert, capsys):
    data = tmp_path / "wsj.txt"
    data.write_text("".join(" ".join(f"{w}/{t}" for w, t in zip(s.words, s.tags, strict=True)) + "\n"
                            for s in _examples("tag")))
    out = tmp_path / "run"
    assert main(["train", "tag", "--train", str(data), "--out", str(out), "--model", str(tiny_bert),
                 "--max-steps", "2", "--batch-size", "2", "--quiet"]) == 0
    capsys.readouterr()
    assert main(["predict", "tag", str(out / "model"), "John Smith 's car is new"]) == 0
    printed = capsys.readouterr().out.split()
    assert [token.split("/")[0] for token in printed] == ["John", "Smith", "'s", "car", "is", "new"]
    assert all(token.split("/")[1] in {"CAP", "LOW"} for token in printed)


def test_cli_errors_name_the_file_and_line(tmp_path, capsys):
    bad = tmp_path / "bad.tsv"
    bad.write_text("earn\tprofits rose\nno tab on this line\n")
    assert main(["train", "classify", "--train", str(bad), "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("ranker: error:") and str(bad) in err and "line 2" in err and "\n" not in err


def test_cli_predict_qa_reads_the_passage_from_a_file(tmp_path, tiny_bert, capsys):
    squad = tmp_path / "train.json"
    from ranker.data.squad import write_squad

    write_squad(_examples("qa"), squad)
    out = tmp_path / "run"
    assert main(["train", "qa", "--train", str(squad), "--out", str(out), "--model", str(tiny_bert),
                 "--max-length", "48", "--stride", "8", "--max-steps", "2", "--batch-size", "2", "--quiet"]) == 0
    capsys.readouterr()
    passage = tmp_path / "passage.txt"
    passage.write_text(SEED := "Some experts report that a mask's efficacy is inconclusive. However, mask makers "
                       "insist that their products, such as N95 respirator masks, can guard against the virus.")
    assert main(["predict", "qa", str(out / "model"), "Who say that N95 masks guard against the virus?",
                 "--context-file", str(passage), "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["answer"] and SEED[row["start"] : row["start"] + len(row["answer"])] == row["answer"]
    assert main(["eval", "qa", str(out / "model"), "--data", str(squad)]) == 0
    assert "exact match" in capsys.readouterr().out


def test_the_heads_pipeline_refuses_a_folder_holding_another_presets_result(tmp_path, capsys):
    from pipelines.heads import main as heads

    done = tmp_path / "tag" / "metrics.json"
    done.parent.mkdir()
    done.write_text(json.dumps({"test": {"accuracy": 0.9495, "n": 5067}, "preset": "quick"}))
    assert heads(["--preset", "full", "--tasks", "tag", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "holds the quick preset's result, not the full preset's; give another --out (e.g. runs/heads-full)" in err
    assert heads(["--preset", "quick", "--tasks", "tag", "--out", str(tmp_path)]) == 0  # the same preset: already done
    assert "already done: accuracy 0.9495" in capsys.readouterr().out
