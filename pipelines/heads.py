"""Train and evaluate the four other heads on the BERT core, each on real data.

* ``classify``: Reuters R8 news topics (official train/test; a tenth of train is dev);
* ``pairs``: Lee news-document similarity, 5-fold cross-validation by document,
  against the embedder's zero-shot cosine;
* ``tag``: Penn Treebank WSJ part-of-speech tags (sentences split 70/10/20);
* ``qa``: extractive QA over the news corpus: quote attribution (whole articles held
  out) and the hand-written general questions (``ranker/data/datasets/news_qa``), trained
  together; tested on the quote test set, the general dev set, and both with whole
  articles as context.

Each task writes ``OUT/<task>/metrics.json`` (its training, dev and test
figures, the seconds it took) beside its model; a task already finished is
skipped, so a rerun picks up where it stopped. Run::

    python -m pipelines.heads --preset quick --out runs/heads
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from ranker.core.errors import InputError
from ranker.core.exits import run_reporting_errors
from ranker.core.files import atomic_write_text
from ranker.core.outputs import check_output, folder_of
from ranker.heads import TASKS
from ranker.heads.base import holdout
from ranker.train.presets import HEAD_PRESETS, HeadPreset

CACHE = Path("data/cache")
#: the passage length QA is tested at (quick trains on it too; full trains on whole articles)
TEST_PASSAGE_WORDS = 150
NEWS = Path("data/news")
ORDER = ("classify", "pairs", "tag", "qa")

#: The seed chapter's examples, shown after training.
SEED_SENTENCE = "John Smith 's car is new"
SEED_PASSAGE = ("Some experts report that a mask's efficacy is inconclusive. However, mask makers insist that "
                "their products, such as N95 respirator masks, can guard against the virus.")
SEED_QUESTIONS = ("Who say that N95 respirator masks can guard against the virus?",
                  'Who said "their products, such as N95 respirator masks, can guard against the virus"?')


def _split(examples: list, fraction: float, seed: int) -> tuple[list, list]:
    kept, held = holdout(len(examples), fraction, seed)
    return [examples[i] for i in kept], [examples[i] for i in held]


def run_classify(preset: HeadPreset, out: Path, quiet: bool) -> dict[str, Any]:
    from ranker.data.datasets.r8 import load_r8
    from ranker.heads.classify import evaluate_examples

    train, test = load_r8(CACHE)
    train, dev = _split(train, 0.1, preset.train.seed)
    metrics = TASKS["classify"].train(train, out, preset.config, preset.train, dev=dev, show_progress=not quiet)
    net, tokenizer, config = TASKS["classify"].load(out / "model")
    return {"data": {"train": len(train), "dev": len(dev), "test": len(test)}, **metrics,
            "test": evaluate_examples(net, tokenizer, config, test, show_progress=not quiet)}


def run_pairs(preset: HeadPreset, out: Path, quiet: bool, folds: int = 5) -> dict[str, Any]:
    from dataclasses import replace

    from ranker.data.datasets.lee import load_lee, load_lee_background
    from ranker.heads.pairs import (
        correlations,
        cross_validate,
        document_folds,
        embedding_cosines,
        silver_pairs,
        train_pair_regressor,
    )

    _, pairs = load_lee(CACHE)
    cosines = embedding_cosines([(p.text_a, p.text_b) for p in pairs])
    tested = sorted(r for _, test in document_folds(pairs, folds, preset.train.seed) for r in test)
    config, silver = preset.config, {}
    if preset.silver_train is not None:
        # Every fold starts from one model trained on silver pairs of other documents: the 300
        # unrated background articles share no document with the 50 rated ones.
        if not (out / "silver" / "metrics.json").is_file():  # a rerun does not embed the articles again
            silver_set = silver_pairs(load_lee_background(CACHE), seed=preset.train.seed)
            if not quiet:
                print(f"silver: training on {len(silver_set)} embedder-scored pairs of the background articles")
            train_pair_regressor(silver_set, out / "silver", config, preset.silver_train, show_progress=not quiet)
        trained = json.loads((out / "silver" / "metrics.json").read_text())["train"]
        # a symmetric task trains on both orders of each pair
        silver = {"pairs": trained["examples"] // (2 if config.symmetric else 1), "seconds": trained["seconds"]}
        config = replace(config, model=str(out / "silver" / "model"))
    found = cross_validate(pairs, out, config, preset.train, k=folds, show_progress=not quiet)
    return {
        "data": {"documents": 50, "pairs": len(pairs), "folds": folds, "tested_pairs": len(tested), "silver": silver},
        "test": found["pooled"],
        "cross_validation": found,
        "baseline_cosine": {"all_pairs": correlations([p.score for p in pairs], cosines),
                            "tested_pairs": correlations([pairs[r].score for r in tested], cosines[tested])},
    }


def run_tag(preset: HeadPreset, out: Path, quiet: bool) -> dict[str, Any]:
    from ranker.data.datasets.treebank import load_wsj_pos
    from ranker.heads.tag import evaluate_examples, predict_rows

    sentences = load_wsj_pos(CACHE)
    rest, test = _split(sentences, 0.2, preset.train.seed)
    train, dev = _split(rest, 0.125, preset.train.seed)
    metrics = TASKS["tag"].train(train, out, preset.config, preset.train, dev=dev, show_progress=not quiet)
    net, tokenizer, config = TASKS["tag"].load(out / "model")
    example = predict_rows(net, tokenizer, config, [SEED_SENTENCE.split()])[0]
    return {"data": {"train": len(train), "dev": len(dev), "test": len(test),
                     "test_tokens": sum(len(s.words) for s in test)}, **metrics,
            "test": evaluate_examples(net, tokenizer, config, test, show_progress=not quiet), "example": example}


def run_qa(preset: HeadPreset, out: Path, quiet: bool) -> dict[str, Any]:
    from ranker.data.datasets.news_qa import crop_around_answers, news_questions
    from ranker.data.datasets.quotes import crop_to_passages, quote_questions, split_by_document
    from ranker.data.readers import read_articles
    from ranker.data.squad import write_squad
    from ranker.heads.qa import evaluate_examples, predict_rows

    articles = read_articles(NEWS).records
    examples = quote_questions(articles)
    rest, test = split_by_document(examples, 0.2, preset.train.seed)
    # Several outlets quote the same sentence of the same story: a test question
    # asked in training too would test memory, not reading, so it is dropped.
    asked = {e.question for e in rest}
    leaked = sum(e.question in asked for e in test)
    test = [e for e in test if e.question not in asked]
    train, dev = split_by_document(rest, 0.1, preset.train.seed)
    # the hand-written questions (ranker/data/datasets/news_qa): never over an article of the quote test
    held_out = {e.doc_id for e in test}
    general = news_questions(articles, "train")
    general_train = [e for e in general if e.doc_id not in held_out]
    general_dev = news_questions(articles, "dev")
    whole = {"quotes_test": test, "general_dev": general_dev}
    seed, words = preset.train.seed, preset.passage_words
    # every preset is tested on the same passages, whatever it trained on, so presets compare
    passages = {"test": crop_to_passages(test, TEST_PASSAGE_WORDS, seed),
                "general_dev": crop_around_answers(general_dev, TEST_PASSAGE_WORDS, seed)}
    if words:  # else training and its dev set keep whole articles
        train, dev = (crop_to_passages(part, words, seed) for part in (train, dev))
        general_train, general_dev = (crop_around_answers(part, words, seed) for part in (general_train, general_dev))
    metrics = TASKS["qa"].train(train + general_train, out, preset.config, preset.train, dev=dev + general_dev,
                                show_progress=not quiet)
    test, general_dev = passages["test"], passages["general_dev"]
    # the sets as SQuAD files beside the model, for 'ranker eval qa' (written once the training folder exists)
    for name, part in (("train", train), ("dev", dev), ("test", test), ("general-train", general_train),
                       ("general-dev", general_dev), ("test-articles", whole["quotes_test"]),
                       ("general-dev-articles", whole["general_dev"])):
        write_squad(part, out / "data" / f"{name}.json")
    net, tokenizer, config = TASKS["qa"].load(out / "model")
    examples_shown = predict_rows(net, tokenizer, config, [(q, SEED_PASSAGE) for q in SEED_QUESTIONS])
    results = {"test": evaluate_examples(net, tokenizer, config, test, show_progress=not quiet),
               "general_dev": evaluate_examples(net, tokenizer, config, general_dev, show_progress=not quiet)}
    for name, part in whole.items():  # the whole article as context: choosing the window is part of the task
        results[f"{name}_whole_articles"] = evaluate_examples(net, tokenizer, config, part, show_progress=not quiet,
                                                              compare_windows=True)
    return {"data": {"train": len(train), "dev": len(dev), "test": len(test),
                     "test_dropped_as_asked_in_training": leaked, "test_articles": len({e.doc_id for e in test}),
                     "passage_words": words,
                     "test_passage_words": TEST_PASSAGE_WORDS,
                     "general_train": len(general_train), "general_train_left_out_as_quote_test_articles":
                         len(general) - len(general_train), "general_dev": len(general_dev)},
            **metrics, **results, "example": examples_shown}


RUNNERS = {"classify": run_classify, "pairs": run_pairs, "tag": run_tag, "qa": run_qa}
HEADLINE = {"classify": ("accuracy", "macro_F1"), "pairs": ("Pearson", "Spearman"),
            "tag": ("accuracy",), "qa": ("exact_match", "F1")}


def headline(task: str, metrics: dict[str, Any]) -> str:
    """The test figures of one task, in a line (for qa, the general dev set's too)."""
    line = ", ".join(f"{name} {metrics['test'][name]:.4f}" for name in HEADLINE[task])
    if "general_dev" in metrics:
        line += "; general questions (dev): " + ", ".join(f"{name} {metrics['general_dev'][name]:.4f}"
                                                          for name in HEADLINE[task])
    return line


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", choices=sorted(HEAD_PRESETS), default="quick")
    parser.add_argument("--out", type=Path, default=Path("runs/heads"))
    parser.add_argument("--tasks", default=",".join(ORDER), help=f"comma-separated, from {','.join(ORDER)}")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    unknown = [t for t in tasks if t not in RUNNERS]
    if unknown:
        parser.error(f"unknown tasks {unknown}; choose from {','.join(ORDER)}")
    return run_reporting_errors(lambda: run(args, tasks))


def run(args: argparse.Namespace, tasks: list[str]) -> int:
    """Train and test each of ``tasks`` into ``args.out/<task>`` (one already done is skipped)."""
    check_output(args.out, folder_of("a heads pipeline folder", "|".join(ORDER)))
    for task in tasks:
        out = args.out / task
        done = out / "metrics.json"
        finished = json.loads(done.read_text()) if done.is_file() else {}
        if "test" in finished:
            # a folder holding another preset's result would print that result as this preset's
            if finished.get("preset", args.preset) != args.preset:
                raise InputError(done, None, f"holds the {finished['preset']} preset's result, not the {args.preset} "
                                 f"preset's; give another --out (e.g. runs/heads-{args.preset})")
            print(f"[{task}] already done: {headline(task, finished)} ({done})")
            continue
        preset = HEAD_PRESETS[args.preset][task]
        print(f"[{task}] {preset.description}")
        started = time.perf_counter()
        metrics = RUNNERS[task](preset, out, args.quiet)
        metrics["seconds"] = round(time.perf_counter() - started, 1)
        metrics["preset"] = args.preset
        atomic_write_text(done, json.dumps(metrics, indent=2, default=_plain) + "\n")
        print(f"[{task}] test: {headline(task, metrics)} in {metrics['seconds'] / 60:.1f} min -> {done}")
    return 0


def _plain(value):
    """JSON for numpy scalars and dataclasses in the metrics."""
    if isinstance(value, np.generic):
        return value.item()
    from dataclasses import asdict, is_dataclass

    if is_dataclass(value):
        return asdict(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


if __name__ == "__main__":
    raise SystemExit(main())
