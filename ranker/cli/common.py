"""What the commands share: turning flags into the library's settings, the output
guard every command passes first, and printing for a person.

Example:
    >>> import argparse
    >>> runtime(argparse.Namespace(runtime=None, precision="int8"))
    {'runtime': 'auto', 'precision': 'auto'}
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ranker.core.display import visible
from ranker.core.errors import InputError

#: Arguments that name what a command writes, not what it reads.
OUTPUT_ARGS = frozenset({"out", "shards"})


def say(text: str, stream=None) -> None:
    """Print a line (or lines) for a person: control characters made visible, so a
    path or a title cannot move the cursor or recolour the terminal.

    Example:
        >>> say("oil\\x1b[2Jprices")
        oil\\x1b[2Jprices
    """
    print("\n".join(visible(line) for line in str(text).split("\n")), file=stream or sys.stdout)


def warn(text: str) -> None:
    """:func:`say` on standard error."""
    say(text, sys.stderr)


def runtime(args: argparse.Namespace) -> dict[str, str]:
    """``runtime`` and ``precision`` for a query encoder from the flags (``auto`` when
    not given; int8 is the cross-encoder's alone)."""
    precision = getattr(args, "precision", None) or "auto"
    return {"runtime": getattr(args, "runtime", None) or "auto",
            "precision": "auto" if precision == "int8" else precision}


def fields(args: argparse.Namespace, title: bool = True):
    """The record fields --id-field, --title-field and --text-field name."""
    from ranker.data.records import Fields

    return Fields(id=args.id_field, title=args.title_field if title else "", text=args.text_field)


def on_invalid(args: argparse.Namespace) -> str:
    """What a reader does with an invalid row: ``skip`` with --skip-invalid, else ``raise``."""
    return "skip" if getattr(args, "skip_invalid", False) else "raise"


def inputs(args: argparse.Namespace) -> list[tuple[str, Path]]:
    """(flag, path) of every file or folder the command reads, for :func:`ranker.core.outputs.check_output`.

    Every Path-valued argument counts (each of a list of them too), and a --model or --queries string that names
    an existing path; report's run files too.
    """
    from ranker.eval.report.build import parse_systems

    found = []
    for name, value in vars(args).items():
        flag = f"--{name.replace('_', '-')}"
        if name in OUTPUT_ARGS:
            continue
        if isinstance(value, Path):
            found.append((flag, value))
        elif isinstance(value, list) and value and all(isinstance(v, Path) for v in value):  # --groups A B
            found += [(flag, v) for v in value]
        elif name in ("model", "queries") and isinstance(value, str) and value != "-" and Path(value).exists():
            found.append((flag, Path(value)))
        elif name == "runs" and isinstance(value, list):
            found += [("run", path) for paths in parse_systems(value, check=False).values() for path in paths]
    return found


def guard(args: argparse.Namespace, artifact) -> Path:
    """Check --out (see :mod:`ranker.core.outputs`) against the command's inputs; the path to write."""
    from ranker.core.outputs import check_output

    return check_output(args.out, artifact, inputs(args))


def rejects_path(args: argparse.Namespace, out: Path, read: list[tuple[str, Path]]) -> Path | None:
    """Where --skip-invalid writes rejected rows (OUT.rejects.jsonl), checked like any output."""
    if not getattr(args, "skip_invalid", False):
        return None
    from ranker.core.outputs import REJECTS, check_output, sibling

    return check_output(sibling(out, ".rejects.jsonl"), REJECTS, read)


def report_rejects(reading, target: Path | None) -> None:
    """Write the rows a reader skipped, once the command's own output is written."""
    from ranker.data.readers import write_rejects

    if reading.rejects and target is not None:
        write_rejects(target, reading.rejects)
        warn(f"skipped {len(reading.rejects)} invalid rows; reasons in {target}")


def judged_queries(args: argparse.Namespace):
    """--queries, judged in --split or --qrels when given (:func:`ranker.data.qrels.read_judged_queries`)."""
    from ranker.data.qrels import read_judged_queries

    found = read_judged_queries(args.queries, args.split, args.qrels, fields(args, title=False), on_invalid(args))
    if found.missing:
        warn(f"warning: {found.missing} judged queries in {found.qrels_path} are not in {args.queries}")
    return found


def hybrid_config(args: argparse.Namespace):
    """The [hybrid] settings of --config and the flags: checked before the index opens."""
    from ranker.core.config import resolve_config
    from ranker.retrieve.hybrid import HybridConfig

    return resolve_config(HybridConfig, "hybrid", path=args.config, flags={"method": args.method,
                                                                           "weights": args.weights})


def rerank_config(args: argparse.Namespace):
    """The reranker's settings from the flags (checked before anything loads), or None."""
    if args.reranker is None:
        return None
    from ranker.rerank.reranker import RerankConfig

    try:
        return RerankConfig(model=str(args.reranker), depth=args.depth, weight=args.weight, precision=args.precision,
                            runtime=args.runtime or "auto")
    except ValueError as err:
        raise InputError("command line", "--reranker", str(err)) from None


def open_reranker(args: argparse.Namespace, config):
    """The :class:`~ranker.rerank.reranker.Reranker` of ``config`` (on a Ray pool with --engine ray), or None."""
    if config is None:
        return None
    from ranker.rerank.reranker import Reranker

    ray = ray_config(args) if "engine" in args else None
    scorer = None
    if ray is not None:
        from ranker.models.ray_engine import pair_scorer

        scorer = pair_scorer(ray)
    try:
        return Reranker(config, score_elsewhere=scorer)
    except ValueError as err:
        raise InputError("command line", "--reranker", str(err)) from None


def ray_config(args: argparse.Namespace, has_work: bool = True):
    """The RayConfig the flags ask for (connected at once, so a missing Ray or an
    unreachable cluster stops the job before any work), or None for the local engine."""
    if args.engine != "ray":
        return None
    if not has_work:
        warn("--engine ray: nothing here runs a model (no dense index to encode, no --reranker), so it runs locally")
        return None
    from ranker.models.ray_engine import RayConfig, connect

    try:
        config = RayConfig(workers=args.workers, cpus_per_worker=args.cpus_per_worker,
                           gpus_per_worker=args.gpus_per_worker)
    except ValueError as err:
        raise InputError("command line", "--workers", str(err)) from None
    connect(config, show_progress=not args.quiet)
    return config


def train_config(args: argparse.Namespace, base):
    """TrainConfig from a preset's, then the file's [train] table, then the flags."""
    from ranker.core.config import resolve_config
    from ranker.train.loop import TrainConfig

    flags = {name: getattr(args, name) for name in (
        "learning_rate", "epochs", "max_steps", "batch_size", "eval_every", "checkpoint_every", "seed", "device",
        "precision")}
    return resolve_config(TrainConfig, "train", preset=base, path=args.config, flags=flags)


def dev_files(args: argparse.Namespace) -> tuple[Path, Path] | None:
    """(--dev folder, its DEV-SPLIT qrels file), or None without --dev."""
    return (args.dev, args.dev / "qrels" / f"{args.dev_split}.tsv") if args.dev is not None else None
