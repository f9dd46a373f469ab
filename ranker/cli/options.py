"""The flags several commands share, each defined once.

Example:
    >>> import argparse
    >>> parser = argparse.ArgumentParser()
    >>> add_reranker(parser)
    >>> parser.parse_args(["--reranker", "models/demo/model/model"]).depth
    10
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ranker.core.flags import count, number, weights
from ranker.rerank import DEFAULT_DEPTH

#: --runtime's help, shared by every command that scores or encodes
RUNTIME_HELP = ("auto (default): openvino on a CPU (about 2x faster than PyTorch there, same ranking; the model is "
                "exported on first use and kept beside it or in ~/.cache/ranker), torch on a GPU; openvino; torch")
#: --model's help wherever it names the backbone a head is fine-tuned from
BACKBONE_HELP = "the backbone: a local BERT-family folder (default: all-MiniLM-L6-v2, packaged)"


def add_fields(parser: argparse.ArgumentParser, title: bool = True) -> None:
    """Which fields of a record hold the id, title and text (:class:`ranker.data.records.Fields`)."""
    parser.add_argument("--id-field", default="_id", help="field holding the id (default: _id)")
    if title:
        parser.add_argument("--title-field", default="title", help="field holding the title (default: title)")
    parser.add_argument("--text-field", default="text", help="field holding the text (default: text)")
    parser.add_argument(
        "--skip-invalid",
        action="store_true",
        help="leave out invalid rows instead of stopping; they are written with their reasons to a rejects file",
    )


def add_retriever(parser: argparse.ArgumentParser) -> None:
    """Which retriever answers, and how hybrid fuses (:class:`ranker.retrieve.hybrid.HybridConfig`)."""
    parser.add_argument(
        "--retriever", choices=["bm25", "dense", "hybrid"],
        help="which retriever answers (default: hybrid when the index has both kinds, else the one it has)",
    )
    parser.add_argument("--model",
                        help="dense query model; must be the model that built the index (default: that model)")
    parser.add_argument("--fusion", dest="method", choices=["rrf", "weighted"],
                        help="hybrid: how rankings are fused (default: weighted)")
    parser.add_argument("--fusion-weights", dest="weights", type=weights,
                        help="hybrid: BM25 and dense weights, e.g. 0.4,0.6 (default: 0.6,0.4 over titles and text, "
                             "0.7,0.3 over bodies alone; see docs/realistic.md)")
    parser.add_argument("--config", type=Path, help="a TOML file with a [hybrid] table; flags override it")
    add_runtime(parser, "encoding queries (and reranking, with --reranker)", precision=False)


def add_runtime(parser: argparse.ArgumentParser, what: str, precision: bool = True) -> None:
    """--runtime (and --precision) of the model that does ``what``."""
    parser.add_argument("--runtime", choices=["auto", "openvino", "torch"],
                        help=f"what runs the model {what}: {RUNTIME_HELP}")
    if precision:
        parser.add_argument("--precision", choices=["auto", "fp32", "bf16"],
                            help="the number format: auto (default): bf16 where the CPU has it (AVX512-BF16 or AMX), "
                                 "else fp32; fp32 gives the same vectors and scores on every machine")


def add_reranker(parser: argparse.ArgumentParser) -> None:
    """The cross-encoder that reranks the first stage (:class:`ranker.rerank.reranker.RerankConfig`)."""
    parser.add_argument("--reranker", type=Path,
                        help="a fine-tuned cross-encoder folder (from 'ranker train reranker': OUT/model)")
    parser.add_argument("--depth", type=count(1), default=DEFAULT_DEPTH,
                        help=f"with --reranker: how many first-stage results are reranked (default: {DEFAULT_DEPTH})")
    parser.add_argument(
        "--weight", type=number(0, 1),
        help="with --reranker: the cross-encoder's share of the final score, 0-1 (default: the weight tuned on dev "
             "when it was trained)",
    )
    parser.add_argument("--precision", choices=["auto", "fp32", "bf16", "int8"], default="auto",
                        help="the number format of the query encoder and the cross-encoder. auto (default): bf16 "
                             "where the CPU or GPU has it (faster, same ranking), else fp32; int8: the cross-encoder "
                             "in torch's dynamic quantisation (CPU, --runtime torch), scores move more (see "
                             "benchmarks/RESULTS.md)")


def add_engine(parser: argparse.ArgumentParser, work: str) -> None:
    """--engine and the Ray actor pool's shape (:class:`ranker.models.ray_engine.RayConfig`)."""
    parser.add_argument("--engine", choices=["local", "ray"], default="local",
                        help=f"where the model's work ({work}) runs: this process, or a Ray actor pool, on the cluster "
                             "RAY_ADDRESS names or else a local Ray (needs 'ranker[ray]'; default: local)")
    parser.add_argument("--workers", type=count(1), default=2, help="ray: actors, one model each (default: 2)")
    parser.add_argument("--cpus-per-worker", type=number(0, open_low=True), default=1.0,
                        help="ray: CPU threads per actor (default: 1)")
    parser.add_argument("--gpus-per-worker", type=number(0), default=0.0,
                        help="ray: GPUs per actor, e.g. 1 on a GPU cluster (default: 0)")


def add_training(parser: argparse.ArgumentParser, batch_help: str, tables: str) -> None:
    """The optimisation flags every ``ranker train`` command shares (:class:`ranker.train.loop.TrainConfig`)."""
    parser.add_argument("--learning-rate", type=number(0, open_low=True), help="peak learning rate")
    parser.add_argument("--epochs", type=count(1), help="passes over the training data")
    parser.add_argument("--max-steps", type=count(1), help="stop after this many steps")
    parser.add_argument("--batch-size", type=count(1), help=batch_help)
    parser.add_argument("--eval-every", type=count(1), help="evaluate on dev every N steps (default: only at the end)")
    parser.add_argument("--checkpoint-every", type=count(1),
                        help="write a resumable checkpoint every N steps (default: 50)")
    parser.add_argument("--seed", type=count(0), help="(default: 13)")
    parser.add_argument("--device", help="cpu, cuda or auto (default: auto)")
    parser.add_argument("--precision", choices=["fp32", "bf16", "auto"],
                        help="bf16: forward pass in bfloat16 autocast (about 1.6x faster on CPUs with AVX512-BF16); "
                             "auto: bf16 where the hardware has it (default: fp32, or the preset's)")
    parser.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint")
    parser.add_argument("--config", type=Path, help=f"a TOML file with {tables} tables; flags override it")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def add_mined_training(parser: argparse.ArgumentParser) -> None:
    """What every training on mined groups reads and writes (reranker, embedder)."""
    parser.add_argument("--groups", type=Path, nargs="+", required=True,
                        help="groups.parquet from 'ranker mine' (or its folder); several are trained on as one table, "
                        "shuffled together (e.g. generated queries and labelled ones)")
    parser.add_argument("--index", type=Path, required=True,
                        help="the index the groups were mined from (it holds the texts)")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--dev", type=Path, help="a BEIR folder to evaluate on (its queries and qrels/DEV-SPLIT.tsv)")
    parser.add_argument("--dev-split", default="dev", help="the dev qrels in the --dev folder (default: dev)")
