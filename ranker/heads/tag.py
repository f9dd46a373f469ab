"""Token tagging: one label per word (part of speech), from each token's BERT vector.

The seed's token-level case: every token's final vector feeds one fully
connected layer with an output per tag (``AutoModelForTokenClassification``).
Words are split into word pieces; the first piece of each word carries the
word's tag and the others are ignored (label -100, which the cross-entropy
skips), as in BERT's own tagging experiments.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ranker.data.labelled import TaggedSentence
from ranker.heads.base import ExampleTask, head_outputs, inference, new_head

IGNORE = -100


@dataclass(frozen=True)
class TagConfig:
    """The backbone and the longest input in word pieces (longer sentences are tagged in windows).

    Example:
        >>> TagConfig().max_length
        128
    """

    model: str = "all-MiniLM-L6-v2"
    max_length: int = 128

    def __post_init__(self) -> None:
        if self.max_length < 8:
            raise ValueError(f"max_length must be >= 8, not {self.max_length}")


def align_labels(word_ids: list[int | None], word_labels: list[int]) -> list[int]:
    """A label per word piece: the word's label on its first piece, -100 elsewhere.

    ``word_ids`` is what a fast tokenizer's ``word_ids()`` gives: the word each
    piece came from, ``None`` for [CLS], [SEP] and padding.

    Example:
        >>> align_labels([None, 0, 1, 1, 2, None], [5, 6, 7])
        [-100, 5, 6, -100, 7, -100]
    """
    labels, previous = [], None
    for word in word_ids:
        labels.append(IGNORE if word is None or word == previous else word_labels[word])
        previous = word
    return labels


def first_pieces(word_ids: list[int | None]) -> dict[int, int]:
    """The position of each word's first piece (words cut off by truncation are absent).

    Example:
        >>> first_pieces([None, 0, 1, 1, 2, None])
        {0: 1, 1: 2, 2: 4}
    """
    found: dict[int, int] = {}
    for position, word in enumerate(word_ids):
        if word is not None and word not in found:
            found[word] = position
    return found


def tag_label_set(sentences: list[TaggedSentence]) -> list[str]:
    """The tags in ``sentences``, sorted.

    Example:
        >>> tag_label_set([TaggedSentence(("a", "cat"), ("DT", "NN"))])
        ['DT', 'NN']
    """
    return sorted({t for s in sentences for t in s.tags})


def tag_words(net, tokenizer, sentences: list[list[str]], max_length: int, batch_size: int = 32,
              show_progress: bool = False) -> list[list[str]]:
    """The predicted tag of every word of every sentence.

    A sentence longer than ``max_length`` pieces is cut into consecutive
    windows (the tokenizer's overflow); each word is tagged from the window
    holding its first piece.

    Example:
        >>> net, tok = new_head(tiny_bert, "token", seed=13, labels=["JJ", "NN", "NNP", "POS", "VBZ"])  # untrained here
        >>> tags = tag_words(net, tok, [["John", "Smith", "'s", "car", "is", "new"]], 128)
        >>> len(tags[0]), set(tags[0]) <= {"JJ", "NN", "NNP", "POS", "VBZ"}  # trained: NNP NNP POS NN VBZ JJ
        (6, True)
        >>> long = ["the", "dam", "broke"] * 10  # 30 words, read in windows of 8 pieces
        >>> all(tag_words(net, tok, [long], 8)[0])  # every word tagged
        True
    """
    from tqdm import tqdm

    names = net.config.id2label
    out: list[list[str]] = [[""] * len(words) for words in sentences]
    order = sorted(range(len(sentences)), key=lambda i: -sum(len(w) for w in sentences[i]))
    with inference(net), tqdm(total=len(order), desc="tag", unit="sentence", disable=not show_progress) as bar:
        for start in range(0, len(order), batch_size):
            chunk = [i for i in order[start : start + batch_size] if sentences[i]]
            if not chunk:
                bar.update(len(order[start : start + batch_size]))
                continue
            encoded = tokenizer([sentences[i] for i in chunk], is_split_into_words=True, truncation=True,
                                max_length=max_length, return_overflowing_tokens=True, padding=True,
                                return_tensors="pt")
            rows = encoded.pop("overflow_to_sample_mapping").tolist()
            inputs = {k: v for k, v in encoded.items() if k in ("input_ids", "attention_mask", "token_type_ids")}
            best = head_outputs(net, inputs)["logits"].argmax(-1)
            for row, sentence in enumerate(rows):
                for word, position in first_pieces(encoded.word_ids(row)).items():
                    if not out[chunk[sentence]][word]:
                        out[chunk[sentence]][word] = names[int(best[row, position])]
            bar.update(len(order[start : start + batch_size]))
    return out


def tagging_metrics(gold: list[tuple[str, ...]], predicted: list[list[str]]) -> dict[str, Any]:
    """Token accuracy overall and per gold tag, and the commonest confusions.

    Example:
        >>> m = tagging_metrics([("NN", "VB")], [["NN", "NN"]])
        >>> m["accuracy"], m["per_tag"]["VB"]
        (0.5, {'accuracy': 0.0, 'support': 1})
    """
    right: Counter[str] = Counter()
    seen: Counter[str] = Counter()
    confused: Counter[tuple[str, str]] = Counter()
    for tags, guesses in zip(gold, predicted, strict=True):
        for tag, guess in zip(tags, guesses, strict=True):
            seen[tag] += 1
            if tag == guess:
                right[tag] += 1
            else:
                confused[(tag, guess)] += 1
    total = sum(seen.values())
    return {
        "accuracy": sum(right.values()) / total if total else 0.0,
        "tokens": total,
        "per_tag": {tag: {"accuracy": right[tag] / n, "support": n}
                    for tag, n in sorted(seen.items(), key=lambda x: -x[1])},
        "confusions": [{"gold": g, "predicted": p, "count": n} for (g, p), n in confused.most_common(10)],
    }


class TagTask(ExampleTask):
    """Token tagging as a :class:`ranker.train.loop.Task` (primary: dev token accuracy)."""

    primary = "accuracy"

    def __init__(self, examples: list[TaggedSentence], net, tokenizer, config: TagConfig, batch_size: int,
                 dev: list[TaggedSentence] | None = None) -> None:
        super().__init__(examples, net, tokenizer, batch_size, length=lambda s: sum(len(w) + 1 for w in s.words))
        self.config = config
        self.dev = dev
        self.tag_ids = {tag: i for i, tag in net.config.id2label.items()}

    def features(self, examples: list[TaggedSentence]) -> dict:
        import torch

        inputs = self.tokenizer([list(s.words) for s in examples], is_split_into_words=True, truncation=True,
                                max_length=self.config.max_length, padding=True, return_tensors="pt")
        labels = [align_labels(inputs.word_ids(i), [self.tag_ids[t] for t in s.tags]) for i, s in enumerate(examples)]
        inputs["labels"] = torch.tensor(labels)
        return dict(inputs)

    def evaluate(self) -> dict[str, float]:
        if not self.dev:
            return {}
        predicted = tag_words(self.net, self.tokenizer, [list(s.words) for s in self.dev], self.config.max_length)
        return {"accuracy": tagging_metrics([s.tags for s in self.dev], predicted)["accuracy"]}

    def about(self) -> dict[str, Any]:
        return {"task": "tag", "max_length": self.config.max_length, "base_model": self.config.model}


def train_tagger(train: list[TaggedSentence], out: str | Path, config: TagConfig, train_config,
                 dev: list[TaggedSentence] | None = None, resume: bool = False, stop_after: int | None = None,
                 show_progress: bool = True) -> dict[str, Any]:
    """Fine-tune a tagger; the model goes to ``out/model``, the evaluations to ``out/metrics.json``.

    Example:
        >>> from ranker.train.loop import TrainConfig
        >>> sentences = [TaggedSentence(("John", "'s", "car", "is", "new"), ("NNP", "POS", "NN", "VBZ", "JJ"))]
        >>> config = TagConfig(model=tiny_bert, max_length=16)  # all-MiniLM-L6-v2 by default
        >>> metrics = train_tagger(sentences, "runs/pos", config, TrainConfig(epochs=3), dev=sentences,
        ...                        show_progress=False)
        >>> metrics["train"]["steps"], sorted(metrics["best"])
        (3, ['accuracy', 'eval_seconds', 'step'])
    """
    from ranker.train.loop import fit

    labels = tag_label_set(train)
    net, tokenizer = new_head(config.model, "token", train_config.seed, train_config.device, labels=labels)
    task = TagTask(train, net, tokenizer, config, train_config.batch_size, dev)
    return fit(task, train_config, out, resume=resume, stop_after=stop_after, show_progress=show_progress)


def predict_rows(net, tokenizer, config: TagConfig, sentences: list[list[str]]) -> list[dict[str, Any]]:
    """``ranker predict tag``: every word's tag."""
    tags = tag_words(net, tokenizer, sentences, config.max_length)
    return [{"words": words, "tags": t} for words, t in zip(sentences, tags, strict=True)]


def evaluate_examples(net, tokenizer, config: TagConfig, examples: list[TaggedSentence],
                      show_progress: bool = False) -> dict[str, Any]:
    """``ranker eval tag``: token accuracy overall and per gold tag."""
    predicted = tag_words(net, tokenizer, [list(s.words) for s in examples], config.max_length,
                          show_progress=show_progress)
    return tagging_metrics([s.tags for s in examples], predicted)


def show_row(row: dict[str, Any]) -> str:
    return " ".join(f"{w}/{t}" for w, t in zip(row["words"], row["tags"], strict=True))


def summary(metrics: dict[str, Any]) -> str:
    from ranker.core.display import format_table

    head = f"token accuracy {metrics['accuracy']:.4f} on {metrics['tokens']} tokens\n"
    rows = [[tag, f"{v['accuracy']:.3f}", str(v["support"])] for tag, v in metrics["per_tag"].items()]
    return head + format_table(["tag", "accuracy", "support"], rows)
