"""Named recipes for mining and fine-tuning the reranker on a 2-core CPU.

``quick`` is what ``make demo`` runs (minutes); ``full`` fine-tunes the
embedder and the cross-encoder on every training query. What each recipe reaches
on the news benchmark, how long it takes, and the experiments behind each setting
are in docs/reranker.md; the settings were chosen on the dev split.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ranker.train.embedder import EmbedderTrainConfig
from ranker.train.loop import TrainConfig
from ranker.train.mine import MiningConfig
from ranker.train.reranker import RerankerTrainConfig


@dataclass(frozen=True)
class EmbedderRecipe:
    """How the dense retriever's embedder is fine-tuned before the index is rebuilt with it.

    Example:
        >>> EmbedderRecipe(EmbedderTrainConfig(), TrainConfig(batch_size=32)).train.batch_size
        32
    """

    config: EmbedderTrainConfig
    train: TrainConfig


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
    #: Fine-tune the embedder on the mined groups and rebuild the index with it
    #: before mining again for the cross-encoder; None keeps the index as it is.
    embedder: EmbedderRecipe | None = None


PRESETS = {
    "quick": Preset(
        name="quick",
        description="1,000 training queries, 3 hybrid negatives each, the article's first 128 tokens, 125 steps; "
                    "the mixing weight tuned on every dev query",
        train_queries=1000,
        mining=MiningConfig(strategy="hybrid", num_negatives=3),
        # more steps over the article's head beat 100 steps over the best 90-word window, and a weight
        # tuned on 150 dev queries was noise (0.05); all 595 settle it. The one evaluation during training
        # only picks the last step, so it looks at 50 (docs/reranker.md, the quick preset)
        reranker=RerankerTrainConfig(max_length=128, dev_queries=50, weight_queries=10_000),
        # bf16 where the CPU has it: faster, and the same quality on dev (docs/reranker.md, precision)
        train=TrainConfig(learning_rate=2e-4, epochs=1, batch_size=8, checkpoint_every=25, precision="auto"),
    ),
    "full": Preset(
        name="full",
        description="every training query (titles and subtitles); the embedder fine-tuned on them and the index "
                    "rebuilt with it; 3 hybrid negatives each, the article's first 128 tokens, one epoch",
        train_queries=None,
        mining=MiningConfig(strategy="hybrid", num_negatives=3),
        # the mixing weight tuned on every dev query (595 here) once training ends
        reranker=RerankerTrainConfig(max_length=128, dev_queries=200, weight_queries=10_000),
        train=TrainConfig(learning_rate=1e-4, epochs=1, batch_size=8, eval_every=130, checkpoint_every=50,
                          precision="auto"),
        # the learning rate that did best on dev, and what tuning gains (docs/reranker.md, the embedder)
        embedder=EmbedderRecipe(
            EmbedderTrainConfig(max_length=128, hard_negatives=1),
            TrainConfig(learning_rate=3e-5, epochs=1, batch_size=32, checkpoint_every=25, precision="auto"),
        ),
    ),
}


@dataclass(frozen=True)
class HeadPreset:
    """A recipe for one of the other heads: its task settings and the optimisation.

    Example:
        >>> HEAD_PRESETS["quick"]["tag"].task
        'tag'
    """

    task: str
    description: str
    config: Any
    train: TrainConfig
    passage_words: int | None = None  # qa only: contexts cut to this many words around the answer
    silver_train: TrainConfig | None = None  # pairs only: first learn embedder-scored pairs of unrated documents


def _head_presets() -> dict[str, dict[str, HeadPreset]]:
    from ranker.heads.classify import ClassifyConfig
    from ranker.heads.pairs import PairsConfig
    from ranker.heads.qa import QAConfig
    from ranker.heads.tag import TagConfig

    return {
        "quick": {
            "classify": HeadPreset("classify", "R8: the first 64 word pieces, one epoch", ClassifyConfig(max_length=64),
                                   TrainConfig(learning_rate=1e-4, epochs=1, batch_size=16)),
            "pairs": HeadPreset("pairs", "Lee: 128 word pieces per pair (about the first 45 words of each); one epoch "
                                "on 2,569 silver pairs of the 300 background articles, then one epoch per fold",
                                PairsConfig(max_length=128), TrainConfig(learning_rate=5e-5, epochs=1, batch_size=8),
                                silver_train=TrainConfig(learning_rate=1e-4, epochs=1, batch_size=8)),
            "tag": HeadPreset("tag", "WSJ POS: 5 epochs",
                              TagConfig(max_length=128), TrainConfig(learning_rate=2e-4, epochs=5, batch_size=16)),
            "qa": HeadPreset("qa", "QA: the quote questions and the hand-written general ones, in 150-word passages "
                             "around the answer (one 256-token window), one epoch",
                             QAConfig(max_length=256, stride=64),
                             TrainConfig(learning_rate=2e-4, epochs=1, batch_size=16), passage_words=150),
        },
        "full": {
            "classify": HeadPreset("classify", "R8: 256 word pieces, three epochs", ClassifyConfig(max_length=256),
                                   TrainConfig(learning_rate=5e-5, epochs=3, batch_size=16)),
            # Measured on the 225 pairs of unseen documents (docs/heads.md): both documents
            # whole (320 word pieces) scored Pearson 0.61, below quick's 0.71; both orders of
            # quick's 128, predicting their mean, 0.77. (Whole and both orders and 2 epochs,
            # the recipe first written, is 25,876 pairs at 3.8 pairs/s: two hours here.)
            "pairs": HeadPreset("pairs", "Lee: 128 word pieces per pair, both orders (the prediction is their mean); "
                                "one epoch on the 2,569 silver pairs, then one epoch per fold",
                                PairsConfig(max_length=128, symmetric=True),
                                TrainConfig(learning_rate=5e-5, epochs=1, batch_size=8),
                                silver_train=TrainConfig(learning_rate=1e-4, epochs=1, batch_size=8)),
            "tag": HeadPreset("tag", "WSJ POS: 10 epochs",
                              TagConfig(max_length=128), TrainConfig(learning_rate=1e-4, epochs=10, batch_size=16)),
            # Every window of every article for 3 epochs is 17M tokens, over four hours here;
            # the windows that hold the answer and a tenth of the others (to train the
            # no-answer score that choosing a window reads) are 2.5M, 40 minutes here (docs/heads.md).
            "qa": HeadPreset("qa", "QA: the quote and general questions over whole articles in 384-token windows: "
                             "every window that holds the answer and a tenth of the others, one epoch",
                             QAConfig(max_length=384, stride=128, answerless_windows=0.1),
                             TrainConfig(learning_rate=2e-4, epochs=1, batch_size=16)),
        },
    }


#: Recipes for the other heads by name and task (``quick`` is minutes per head on
#: 2 CPU cores; docs/heads.md has what each reaches and how long it takes).
HEAD_PRESETS = _head_presets()
