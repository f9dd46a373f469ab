"""Single-text classification: [CLS] text [SEP] → one of n classes.

The seed's sequence-level case: the [CLS] vector feeds one fully connected layer
with an output per class (transformers' ``AutoModelForSequenceClassification``,
cross-entropy loss). On Reuters R8 (news topics) it is trained by
``ranker train classify`` and ``python -m pipelines.heads``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ranker.data.labelled import LabelledText
from ranker.heads.base import ExampleTask, new_head, sequence_logits


@dataclass(frozen=True)
class ClassifyConfig:
    """The backbone and how much of each text it reads.

    Example:
        >>> ClassifyConfig(max_length=64).model
        'all-MiniLM-L6-v2'
    """

    model: str = "all-MiniLM-L6-v2"
    max_length: int = 128

    def __post_init__(self) -> None:
        if self.max_length < 8:
            raise ValueError(f"max_length must be >= 8, not {self.max_length}")


def label_set(examples: list[LabelledText]) -> list[str]:
    """The classes in ``examples``, sorted (their order is the head's output order).

    Example:
        >>> label_set([LabelledText("a", "earn"), LabelledText("b", "acq"), LabelledText("c", "earn")])
        ['acq', 'earn']
    """
    return sorted({e.label for e in examples})


def classification_metrics(gold: list[str], predicted: list[str]) -> dict[str, Any]:
    """Accuracy, macro-F1 and each class's F1 and support (scikit-learn's).

    Example:
        >>> m = classification_metrics(["a", "a", "b"], ["a", "b", "b"])
        >>> round(m["accuracy"], 3), round(m["macro_F1"], 3)
        (0.667, 0.667)
    """
    from sklearn.metrics import accuracy_score, f1_score, precision_recall_fscore_support

    labels = sorted(set(gold) | set(predicted))
    _, _, f1, support = precision_recall_fscore_support(gold, predicted, labels=labels, zero_division=0)
    return {
        "accuracy": float(accuracy_score(gold, predicted)),
        "macro_F1": float(f1_score(gold, predicted, labels=sorted(set(gold)), average="macro", zero_division=0)),
        "n": len(gold),
        "per_label": {label: {"F1": float(f), "support": int(s)}
                      for label, f, s in zip(labels, f1, support, strict=True)},
    }


def classify_texts(net, tokenizer, texts: list[str], max_length: int, batch_size: int = 32,
                   show_progress: bool = False) -> tuple[list[str], np.ndarray]:
    """Each text's most probable class and its probability.

    Example:
        >>> net, tok = new_head(tiny_bert, "sequence", seed=13, labels=["acq", "crude", "earn"])  # untrained here
        >>> labels, probabilities = classify_texts(net, tok, ["crude oil prices rose", "net profit up 5 pct"], 128)
        >>> len(labels), set(labels) <= {"acq", "crude", "earn"}  # a trained model says ['crude', 'earn']
        (2, True)
        >>> bool(((1 / 3 <= probabilities) & (probabilities <= 1)).all())  # the best of three classes
        True
    """
    import torch

    logits = sequence_logits(net, tokenizer, texts, None, max_length, batch_size, show_progress, desc="classify")
    probs = torch.softmax(torch.from_numpy(logits), dim=-1).numpy()
    names = net.config.id2label
    best = probs.argmax(axis=1)
    return [names[int(i)] for i in best], probs[np.arange(len(texts)), best]


class ClassifyTask(ExampleTask):
    """Single-text classification as a :class:`ranker.train.loop.Task` (primary: dev accuracy)."""

    primary = "accuracy"

    def __init__(self, examples: list[LabelledText], net, tokenizer, config: ClassifyConfig, batch_size: int,
                 dev: list[LabelledText] | None = None) -> None:
        super().__init__(examples, net, tokenizer, batch_size, length=lambda e: min(len(e.text), 8 * config.max_length))
        self.config = config
        self.dev = dev
        self.label_ids = {label: i for i, label in net.config.id2label.items()}

    def features(self, examples: list[LabelledText]) -> dict:
        import torch

        inputs = self.tokenizer([e.text for e in examples], truncation=True, max_length=self.config.max_length,
                                padding=True, return_tensors="pt")
        inputs["labels"] = torch.tensor([self.label_ids[e.label] for e in examples])
        return dict(inputs)

    def evaluate(self) -> dict[str, float]:
        if not self.dev:
            return {}
        predicted, _ = classify_texts(self.net, self.tokenizer, [e.text for e in self.dev], self.config.max_length)
        metrics = classification_metrics([e.label for e in self.dev], predicted)
        return {"accuracy": metrics["accuracy"], "macro_F1": metrics["macro_F1"]}

    def about(self) -> dict[str, Any]:
        return {"task": "classify", "max_length": self.config.max_length, "base_model": self.config.model}


def train_classifier(train: list[LabelledText], out: str | Path, config: ClassifyConfig, train_config,
                     dev: list[LabelledText] | None = None, resume: bool = False, stop_after: int | None = None,
                     show_progress: bool = True) -> dict[str, Any]:
    """Fine-tune a text classifier; the model goes to ``out/model``, the evaluations to ``out/metrics.json``.

    With ``dev``, the model with the best dev accuracy is kept; without, the last.

    Example:
        >>> from ranker.train.loop import TrainConfig
        >>> train = [LabelledText("crude oil prices rose", "crude"), LabelledText("net profit up 5 pct", "earn")]
        >>> config = ClassifyConfig(model=tiny_bert, max_length=16)  # all-MiniLM-L6-v2 by default
        >>> metrics = train_classifier(train, "runs/r8", config, TrainConfig(epochs=1), dev=train, show_progress=False)
        >>> sorted(metrics["best"]), sorted(p.name for p in Path("runs/r8").iterdir())
        (['accuracy', 'eval_seconds', 'macro_F1', 'step'], ['metrics.json', 'model'])
    """
    from ranker.train.loop import fit

    labels = label_set(train)
    unknown = sorted({e.label for e in dev or []} - set(labels))
    if unknown:
        raise ValueError(f"dev labels not seen in training: {unknown}")
    net, tokenizer = new_head(config.model, "sequence", train_config.seed, train_config.device, labels=labels)
    task = ClassifyTask(train, net, tokenizer, config, train_config.batch_size, dev)
    return fit(task, train_config, out, resume=resume, stop_after=stop_after, show_progress=show_progress)


def predict_rows(net, tokenizer, config: ClassifyConfig, texts: list[str]) -> list[dict[str, Any]]:
    """``ranker predict classify``: each text's class and its probability."""
    labels, probs = classify_texts(net, tokenizer, texts, config.max_length)
    return [{"text": t, "label": label, "probability": round(float(p), 4)}
            for t, label, p in zip(texts, labels, probs, strict=True)]


def evaluate_examples(net, tokenizer, config: ClassifyConfig, examples: list[LabelledText],
                      show_progress: bool = False) -> dict[str, Any]:
    """``ranker eval classify``: accuracy, macro-F1 and per-class F1 on labelled texts."""
    predicted, _ = classify_texts(net, tokenizer, [e.text for e in examples], config.max_length,
                                  show_progress=show_progress)
    return classification_metrics([e.label for e in examples], predicted)


def show_row(row: dict[str, Any]) -> str:
    text = row["text"] if len(row["text"]) <= 70 else row["text"][:69] + "…"
    return f"{row['label']}\t{row['probability']:.3f}\t{text}"


def summary(metrics: dict[str, Any]) -> str:
    from ranker.core.display import format_table

    head = f"accuracy {metrics['accuracy']:.4f}, macro-F1 {metrics['macro_F1']:.4f} on {metrics['n']} texts\n"
    rows = [[label, f"{v['F1']:.3f}", str(v["support"])] for label, v in metrics["per_label"].items()]
    return head + format_table(["class", "F1", "support"], rows)
