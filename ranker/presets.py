"""Named recipes for mining and fine-tuning the reranker on a 2-core CPU.

``quick`` is what ``make demo`` runs (minutes); ``full`` trains on every
training query (about half an hour on 2 cores). The numbers each recipe
reaches on the news benchmark are in the README; the settings were chosen on
the dev split.
"""

from __future__ import annotations

from dataclasses import dataclass

from ranker.mine import MiningConfig
from ranker.train import TrainConfig
from ranker.train_reranker import RerankerTrainConfig


@dataclass(frozen=True)
class Preset:
    """A whole recipe: how many training queries, how negatives are mined, how the model trains.

    Example:
        >>> PRESETS["quick"].train.epochs
        1
    """

    name: str
    description: str
    train_queries: int | None
    mining: MiningConfig
    reranker: RerankerTrainConfig
    train: TrainConfig


PRESETS = {
    "quick": Preset(
        name="quick",
        description="800 training queries, 3 hybrid negatives each, the best 90-word window in 128 tokens, one epoch",
        train_queries=800,
        mining=MiningConfig(strategy="hybrid", num_negatives=3),
        reranker=RerankerTrainConfig(max_length=128, passage_words=90, dev_queries=150),
        train=TrainConfig(learning_rate=2e-4, epochs=1, batch_size=8, checkpoint_every=25),
    ),
    "full": Preset(
        name="full",
        description="every training query (titles and subtitles), 3 hybrid negatives each, the article's first 128 tokens, one epoch",
        train_queries=None,
        mining=MiningConfig(strategy="hybrid", num_negatives=3),
        reranker=RerankerTrainConfig(max_length=128, dev_queries=200),
        train=TrainConfig(learning_rate=1e-4, epochs=1, batch_size=8, eval_every=130, checkpoint_every=50),
    ),
}
