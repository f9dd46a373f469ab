"""``ranker train|predict|eval classify|pairs|tag|qa``: the other heads on the BERT core.

Each head's help and flags come from its entry in :data:`ranker.heads.TASKS`, which
imports no model library, so ``ranker --help`` stays fast.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ranker.cli.common import guard, runtime, say, train_config
from ranker.cli.options import BACKBONE_HELP, add_runtime, add_training
from ranker.core.display import json_text
from ranker.core.flags import count, number


def add_commands(commands, train_heads) -> None:
    """Add ``train HEAD`` (to ``train_heads``), ``predict HEAD`` and ``eval HEAD``."""
    from ranker.heads import TASKS

    for task, spec in TASKS.items():
        head = train_heads.add_parser(
            task, help=spec.help,
            description=f"Fine-tune {spec.help} on the BERT core. The best model (by the dev metric, or the last "
            "without --dev) goes to OUT/model, the evaluations to OUT/metrics.json; OUT/checkpoint holds a "
            "resumable state while training.",
        )
        head.add_argument("--train", type=Path, required=True, help=f"training data: {spec.data_help}")
        head.add_argument("--dev", type=Path, help="dev data in the same format, to keep the best model by")
        head.add_argument("--out", type=Path, required=True, help="output folder")
        head.add_argument("--preset", choices=["quick", "full"], help="start from a named recipe (see docs/heads.md)")
        head.add_argument("--model", help=BACKBONE_HELP)
        head.add_argument("--max-length", type=count(1), help="word pieces per input")
        _add_task_flags(head, task)
        add_training(head, "examples per step (default: 8)", f"[{task}] and [train]")
        head.set_defaults(handler=train_command, task=task)
    _add_predict(commands)
    score = commands.add_parser("eval", help="score a fine-tuned head on labelled data")
    score_heads = score.add_subparsers(dest="task", required=True, metavar="HEAD")
    for task, spec in TASKS.items():
        sub = score_heads.add_parser(task, help=f"{spec.help.split(' (')[0]}: {spec.metrics_help}")
        sub.add_argument("model", type=Path, help=f"OUT/model of 'ranker train {task}'")
        sub.add_argument("--data", type=Path, required=True, help=f"labelled data: {spec.data_help}")
        add_runtime(sub, "predicting")
        sub.add_argument("--json", action="store_true", help="print the metrics as JSON")
        sub.set_defaults(handler=eval_command)


#: The settings only some heads have, as (flag, what it sets) for ``ranker train HEAD``.
TASK_FLAGS = {"pairs": ("symmetric",), "qa": ("stride", "max_answer_length", "answerless_windows")}


def _add_task_flags(head: argparse.ArgumentParser, task: str) -> None:
    if task == "pairs":
        head.add_argument("--symmetric", action="store_true", default=None,
                          help="train on both orders; predict their mean")
    if task == "qa":
        head.add_argument("--stride", type=count(0),
                          help="tokens shared by consecutive windows of a long passage (default: 128)")
        head.add_argument("--max-answer-length", type=count(1), help="longest answer in tokens (default: 30)")
        head.add_argument("--answerless-windows", type=number(0, 1),
                          help="share of windows without the answer kept for training (default: 1)")


def _add_predict(commands) -> None:
    predict = commands.add_parser("predict", help="run a fine-tuned head on your input")
    predict_heads = predict.add_subparsers(dest="task", required=True, metavar="HEAD")
    one = predict_heads.add_parser("classify", help="the class of each text")
    one.add_argument("model", type=Path, help="OUT/model of 'ranker train classify'")
    one.add_argument("texts", nargs="+", help="texts to classify")
    pair = predict_heads.add_parser("pairs", help="the score of a pair of texts")
    pair.add_argument("model", type=Path, help="OUT/model of 'ranker train pairs'")
    pair.add_argument("text_a")
    pair.add_argument("text_b")
    tag = predict_heads.add_parser("tag", help="the tag of every word (words split on spaces)")
    tag.add_argument("model", type=Path, help="OUT/model of 'ranker train tag'")
    tag.add_argument("sentences", nargs="+",
                     help="sentences, words separated by spaces, e.g. \"John Smith 's car is new\"")
    qa = predict_heads.add_parser("qa", help="the answer span of a question in a passage")
    qa.add_argument("model", type=Path, help="OUT/model of 'ranker train qa'")
    qa.add_argument("question")
    source = qa.add_mutually_exclusive_group(required=True)
    source.add_argument("--context", help="the passage")
    source.add_argument("--context-file", type=Path, help="a UTF-8 file holding the passage")
    for sub in (one, pair, tag, qa):
        add_runtime(sub, "predicting")
        sub.add_argument("--json", action="store_true", help="print JSON")
        sub.set_defaults(handler=predict_command)


def train_command(args: argparse.Namespace) -> int:
    """``ranker train HEAD``: :meth:`ranker.heads.TaskSpec.train_on_files`."""
    from ranker.core.config import resolve_config
    from ranker.core.outputs import TRAINING
    from ranker.heads import TASKS
    from ranker.train.presets import HEAD_PRESETS

    out = guard(args, TRAINING)
    task = TASKS[args.task]
    preset = HEAD_PRESETS[args.preset][args.task] if args.preset else None
    flags = {"model": args.model, "max_length": args.max_length}
    flags.update({name: getattr(args, name) for name in TASK_FLAGS.get(args.task, ())})
    config = resolve_config(task.config, args.task, preset=preset.config if preset else None, path=args.config,
                            flags=flags)
    metrics = task.train_on_files(args.train, out, config, train_config(args, preset.train if preset else None),
                                  dev=args.dev, resume=args.resume, show_progress=not args.quiet)
    done = metrics["train"]
    say(f"trained {done['steps']} steps, {done['examples']} examples in {done['seconds']:.0f}s "
        f"({done['examples_per_second']:.1f}/s)")
    best = {k: v for k, v in (metrics["best"] or {}).items() if isinstance(v, float) and k != "eval_seconds"}
    if best:
        say(f"dev (step {metrics['best']['step']}): " + ", ".join(f"{k} {v:.4f}" for k, v in best.items()))
    say(f"model -> {args.out / 'model'}")
    return 0


def predict_command(args: argparse.Namespace) -> int:
    """``ranker predict HEAD``: :meth:`ranker.heads.TaskSpec.predict`."""
    from ranker.heads import TASKS

    task = TASKS[args.task]
    rows = task.predict(args.model, task.predict_inputs(vars(args)), **runtime(args))
    if args.json:
        print(json_text(rows, indent=2))
        return 0
    for row in rows:
        say(task.show(row))
    return 0


def eval_command(args: argparse.Namespace) -> int:
    """``ranker eval HEAD``: :meth:`ranker.heads.TaskSpec.evaluate` on labelled data."""
    from ranker.heads import TASKS

    task = TASKS[args.task]
    metrics = task.evaluate(args.model, task.read(args.data), **runtime(args))
    if args.json:
        print(json.dumps(metrics, indent=2))
        return 0
    say(task.summary(metrics))
    return 0
