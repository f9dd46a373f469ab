"""``ranker generate``, ``ranker mine`` and ``ranker train reranker|embedder``: training
queries made from the corpus, hard negatives mined, then the cross-encoder and the
bi-encoder fine-tuned on them."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ranker.cli.common import dev_files, guard, judged_queries, runtime, say, train_config
from ranker.cli.options import BACKBONE_HELP, add_fields, add_mined_training, add_runtime, add_training
from ranker.core.errors import InputError
from ranker.core.flags import count, named_count, number


def add_commands(commands):
    """Add ``generate``, ``mine`` and ``train reranker|embedder``; returns ``train``'s subcommands, for the other
    heads."""
    _add_generate(commands)
    _add_mine(commands)
    train = commands.add_parser("train", help="fine-tune a model on the BERT core")
    heads = train.add_subparsers(dest="head", required=True, metavar="HEAD")
    reranker = heads.add_parser(
        "reranker", help="the cross-encoder reranker, on groups mined by 'ranker mine'",
        description="Fine-tune [CLS] query [SEP] article [SEP] -> score on mined groups. The best model (by "
        "dev MRR@10 of reranking the first stage's top results) is written to OUT/model, loadable with "
        "sentence_transformers.CrossEncoder; OUT/checkpoint holds a resumable state while training; "
        "OUT/metrics.json the evaluations.",
    )
    add_mined_training(reranker)
    reranker.add_argument("--dev-retriever", default="hybrid", choices=["bm25", "dense", "hybrid"],
                          help="the first stage reranked on dev (default: hybrid)")
    reranker.add_argument("--preset", choices=["quick", "full"], help="start from a named recipe's training settings")
    reranker.add_argument("--model", help=BACKBONE_HELP)
    reranker.add_argument("--loss", choices=["listwise", "pointwise"],
                          help="softmax over each group, or binary cross-entropy per pair (default: listwise)")
    reranker.add_argument("--max-length", type=count(1), help="tokens of query + article (default: 128)")
    reranker.add_argument("--passage-words", type=count(1), help="read the article's best-matching window of this "
                          "many words instead of its head (default: the head)")
    reranker.add_argument("--dev-queries", type=count(1), help="dev queries in the evaluation sample (default: 200)")
    reranker.add_argument("--weight-queries", type=count(1), help="once trained, tune the mixing weight on this many "
                          "dev queries (default: keep the evaluation sample's; the full preset uses every dev query)")
    add_training(reranker, "groups per step (default: 8)", "[reranker] and [train]")
    reranker.set_defaults(handler=reranker_command)
    embedder = heads.add_parser(
        "embedder", help="the dense retriever's bi-encoder, on groups mined by 'ranker mine'",
        description="Fine-tune the sentence embedder that dense retrieval uses: each query against its positive, "
        "the other queries' articles in the batch and its mined hard negatives (MultipleNegativesRankingLoss). "
        "The best model (by dev MRR@10 of dense retrieval over the whole index) is written to OUT/model, a "
        "SentenceTransformer folder: build an index with it by 'ranker index CORPUS --model OUT/model'.",
    )
    add_mined_training(embedder)
    embedder.add_argument("--preset", choices=["full"], help="start from a named recipe's embedder settings")
    embedder.add_argument("--model", help="the base: a SentenceTransformer (mean pooling) or BERT-family folder "
                          "(default: all-MiniLM-L6-v2, packaged)")
    embedder.add_argument("--max-length", type=count(1), help="tokens of each article while training (default: 128)")
    embedder.add_argument("--hard-negatives", type=count(0),
                          help="mined negatives per query beside the in-batch articles (default: 1)")
    embedder.add_argument("--dev-queries", type=count(1), help="dev queries in the evaluation sample (default: 200)")
    add_training(embedder, "queries per step (default: 32)", "[embedder] and [train]")
    embedder.set_defaults(handler=embedder_command)
    return heads


def _add_generate(commands) -> None:
    from ranker.train.corpus_queries import KINDS

    generate = commands.add_parser(
        "generate", help="make training queries from the corpus itself (no model needed)",
        description="Make training queries from a BEIR folder's articles: each article's lead sentence (for the "
        "rest of it), other sentences (for the article without them: the inverse cloze task), cropped spans, "
        "keywords drawn by tf-idf weight, and the packaged hand-written news questions. By default only articles "
        "relevant in qrels/SPLIT.tsv and judged in no other qrels file provide queries, so no dev or test "
        "article's text becomes one. Writes OUT/queries.jsonl, OUT/qrels/train.tsv and OUT/generated.json (how "
        "they were made); mine negatives for them with 'ranker mine INDEX --queries OUT --split train'.",
    )
    generate.add_argument("data", type=Path, help="a BEIR folder (corpus.jsonl, qrels/)")
    generate.add_argument("--out", type=Path, required=True, help="output folder")
    generate.add_argument("--split", default="train", help="the training qrels, qrels/SPLIT.tsv (default: train)")
    generate.add_argument("--per-article", type=named_count(KINDS), nargs="+", metavar="KIND=N",
                          help=f"queries of a kind per article, e.g. ict=4 span=0 (kinds: {', '.join(KINDS)}; "
                          "default: lead=1 ict=2 span=1 keywords=2 news_qa=1, where news_qa takes every question)")
    generate.add_argument("--whole-corpus", action="store_true",
                          help="let every article provide queries, dev and test ones too (adaptation to the corpus; "
                          "never compare the result on those splits with a model trained without it)")
    generate.add_argument("--seed", type=count(0), help="for every draw (default: 13)")
    generate.add_argument("--json", action="store_true", help="print generated.json")
    generate.set_defaults(handler=generate_command)


def generate_command(args: argparse.Namespace) -> int:
    """``ranker generate``: :func:`ranker.train.corpus_queries.generate_to_folder`."""
    from dataclasses import replace

    from ranker.core.outputs import GENERATED
    from ranker.train.corpus_queries import GenerationConfig, generate_to_folder

    out = guard(args, GENERATED)
    config = GenerationConfig()
    if args.per_article:
        config = replace(config, per_article={**config.per_article, **dict(args.per_article)})
    if args.seed is not None:
        config = replace(config, seed=args.seed)
    about = generate_to_folder(args.data, out, config, args.split, args.whole_corpus)
    if args.json:
        print(json.dumps(about, indent=2))
        return 0
    counts = ", ".join(f"{kind} {n}" for kind, n in about["counts"].items())
    say(f"{about['queries']} queries from {about['articles']} articles ({counts}) -> {args.out}")
    say(f"allowed: {about['allowed']}")
    say(f"next: ranker mine INDEX --queries {args.out} --split train --out MINED")
    return 0


def _add_mine(commands) -> None:
    mine = commands.add_parser(
        "mine", help="mine hard negatives for training queries from a retriever (parquet tables)",
        description="For each training query and its positive, take candidates from a retriever's rank window, "
        "remove the labelled positives and those scoring too close to the positive (likely unlabelled "
        "positives), optionally let a cross-encoder veto more, and sample negatives. Writes OUT/groups.parquet "
        "(one positive with its negatives per row), OUT/pairs.parquet (labelled pairs) and OUT/mining.json.",
    )
    mine.add_argument("index", type=Path, help="an index folder (the candidates come from its retrievers)")
    mine.add_argument("--queries", type=Path, required=True, help="a BEIR folder or a queries file")
    mine.add_argument("--split", help="with a BEIR folder: the training qrels qrels/SPLIT.tsv (e.g. train)")
    mine.add_argument("--qrels", type=Path, help="the training qrels (which article is each query's positive)")
    mine.add_argument("--out", type=Path, required=True, help="output folder for the tables")
    mine.add_argument("--preset", choices=["quick", "full"],
                      help="start from a named recipe's mining settings and query count")
    mine.add_argument("--strategy", choices=["random", "bm25", "dense", "hybrid"],
                      help="where candidates come from (default: hybrid)")
    mine.add_argument("--range-min", type=count(0), help="skip the retriever's first ranks (default: 0)")
    mine.add_argument("--range-max", type=count(1), help="last rank considered (default: 20)")
    mine.add_argument("--negatives", dest="num_negatives", type=count(1), help="negatives per positive (default: 3)")
    mine.add_argument("--sampling", choices=["top", "random"],
                      help="best-ranked candidates first, or at random (default: top)")
    mine.add_argument("--relative-margin", type=number(), help="drop candidates scoring >= (1 - M) x the positive's "
                      "score (default: 0.05); -1 turns it off")
    mine.add_argument("--absolute-margin", type=number(0),
                      help="drop candidates scoring >= the positive's score - M (default: off)")
    mine.add_argument("--limit", type=count(1), help="mine for a fixed random sample of this many training queries")
    mine.add_argument("--seed", type=count(0), help="for sampling (default: 13)")
    mine.add_argument("--denoise", type=Path,
                      help="a fine-tuned cross-encoder that vetoes candidates it scores near the positive")
    mine.add_argument("--denoise-margin", type=number(), default=0.0,
                      help="veto when the candidate scores above the positive minus this (default: 0)")
    mine.add_argument("--config", type=Path, help="a TOML file with a [mine] table; flags override it")
    add_runtime(mine, "encoding queries (dense, hybrid) and scoring with --denoise", precision=False)
    add_fields(mine, title=False)
    mine.add_argument("--json", action="store_true", help="print the mining report as JSON")
    mine.add_argument("--quiet", action="store_true", help="no progress bars")
    mine.set_defaults(handler=mine_command)


def _mining_config(args: argparse.Namespace, preset):
    """MiningConfig from the preset's, then --config's [mine] table, then the flags
    (a negative --relative-margin turns the margin off)."""
    from dataclasses import replace

    from ranker.core.config import resolve_config
    from ranker.train.mine import MiningConfig

    flags = {name: getattr(args, name) for name in (
        "strategy", "range_min", "range_max", "num_negatives", "sampling", "relative_margin", "absolute_margin",
        "seed")}
    no_margin = args.relative_margin is not None and args.relative_margin < 0
    if no_margin:
        flags["relative_margin"] = None
    config = resolve_config(MiningConfig, "mine", preset=preset.mining if preset else None, path=args.config,
                            flags=flags)
    return replace(config, relative_margin=None) if no_margin else config


def mine_command(args: argparse.Namespace) -> int:
    """``ranker mine``: :func:`ranker.train.mine.mine_to_folder`."""
    from ranker.core.outputs import MINED
    from ranker.index.folder import Index
    from ranker.train.mine import mine_to_folder
    from ranker.train.presets import PRESETS

    if args.qrels is None and args.split is None:
        raise InputError("command line", "--split", "say which qrels hold the positives: --split (BEIR folder) or "
                         "--qrels")
    out = guard(args, MINED)  # before the mining, not after it
    preset = PRESETS[args.preset] if args.preset else None
    config = _mining_config(args, preset)
    found = judged_queries(args)
    limit = args.limit if args.limit is not None else (preset.train_queries if preset else None)
    index = Index.open(args.index, **runtime(args))
    about, report = mine_to_folder(index, found.queries, found.qrels, config, out, limit, args.denoise,
                                   args.denoise_margin, args.runtime or "auto", not args.quiet,
                                   about={"index": str(args.index), "queries": str(args.queries)})
    if args.json:
        print(json.dumps(about, indent=2))
    else:
        say("\n".join(report.lines(config.num_negatives)))
        say(f"wrote {args.out}/groups.parquet, pairs.parquet and mining.json")
    return 0


def reranker_command(args: argparse.Namespace) -> int:
    """``ranker train reranker``: :func:`ranker.train.reranker.train_reranker`."""
    from ranker.core.config import resolve_config
    from ranker.core.outputs import TRAINING
    from ranker.train.presets import PRESETS
    from ranker.train.reranker import RerankerTrainConfig, train_reranker

    out = guard(args, TRAINING)
    preset = PRESETS[args.preset] if args.preset else None
    flags = {"model": args.model, "loss": args.loss, "max_length": args.max_length, "dev_queries": args.dev_queries,
             "passage_words": args.passage_words, "weight_queries": args.weight_queries}
    config = resolve_config(RerankerTrainConfig, "reranker", preset=preset.reranker if preset else None,
                            path=args.config, flags=flags)
    metrics = train_reranker(args.groups, args.index, out, config, train_config(args, preset.train if preset else None),
                             dev_files(args), args.dev_retriever, resume=args.resume, show_progress=not args.quiet)
    train = metrics["train"]
    say(f"trained {train['steps']} steps, {train['examples']} pairs in {train['seconds']:.0f}s "
        f"({train['examples_per_second']:.1f} pairs/s)")
    best = metrics["best"] or {}
    if "MRR@10" in best:
        say(f"best on dev (step {best['step']}): MRR@10 {best['MRR@10']:.4f} alone, "
            f"{best['mixed_MRR@10']:.4f} mixed with the first stage (weight {best['mixed_weight']}); "
            f"first stage alone {best['first_stage_MRR@10']:.4f}")
    if "weight" in metrics:
        tuned = metrics["weight"]
        say(f"mixing weight {tuned['weight']:g}, tuned on {tuned['queries']} dev queries: MRR@10 "
            f"{tuned['mixed_MRR@10']:.4f} mixed, {tuned['alone_MRR@10']:.4f} alone, first stage "
            f"{tuned['first_stage_MRR@10']:.4f}")
    say(f"model -> {args.out / 'model'}")
    return 0


def embedder_command(args: argparse.Namespace) -> int:
    """``ranker train embedder``: :func:`ranker.train.embedder.train_embedder`."""
    from ranker.core.config import resolve_config
    from ranker.core.outputs import TRAINING
    from ranker.train.embedder import EmbedderTrainConfig, train_embedder
    from ranker.train.loop import TrainConfig
    from ranker.train.presets import PRESETS

    out = guard(args, TRAINING)
    recipe = PRESETS[args.preset].embedder if args.preset else None
    flags = {"model": args.model, "max_length": args.max_length, "hard_negatives": args.hard_negatives,
             "dev_queries": args.dev_queries}
    config = resolve_config(EmbedderTrainConfig, "embedder", preset=recipe.config if recipe else None,
                            path=args.config, flags=flags)
    training = train_config(args, recipe.train if recipe else TrainConfig(batch_size=32))
    metrics = train_embedder(args.groups, args.index, out, config, training, dev_files(args), resume=args.resume,
                             show_progress=not args.quiet)
    train = metrics["train"]
    say(f"trained {train['steps']} steps, {train['examples']} queries in {train['seconds']:.0f}s "
        f"({train['examples_per_second']:.1f} queries/s)")
    best = metrics["best"] or {}
    if "MRR@10" in best:
        say(f"best on dev (step {best['step']}): dense retrieval MRR@10 {best['MRR@10']:.4f}, "
            f"nDCG@10 {best['nDCG@10']:.4f}, R@100 {best['R@100']:.4f}")
    say(f"model -> {args.out / 'model'}; index with it: ranker index CORPUS --out INDEX --model {args.out / 'model'}")
    return 0
