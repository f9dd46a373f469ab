"""Extractive question answering: the answer is a span of the passage.

The seed's span case: every passage token's final vector gets a start score
s_i and an end score e_i from one fully connected layer with two outputs
(``AutoModelForQuestionAnswering``), trained with cross-entropy over the
positions; the predicted span maximises s_i + e_j over i ≤ j within a maximum
answer length. Passages longer than the model's input are read in overlapping
windows (``stride`` tokens of overlap), each window's tokens keep their
character offsets, and the best span over all windows is mapped back to the
passage's characters — the pre- and post-processing of transformers'
``run_qa.py``/``utils_qa.py``, kept here as small functions.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ranker.data.labelled import QAExample
from ranker.heads.base import ExampleTask, head_outputs, inference, new_head

#: How an answer is chosen among the windows of a context longer than one window:
#: ``score``, the window whose best span scores highest (s_i + e_j); ``margin``, the
#: window whose best span beats that window's own no-answer score ([CLS]: s_0 + e_0)
#: by the most, as transformers' SQuAD 2.0 post-processing weighs each window's
#: null score. A context of one window answers the same either way.
WINDOW_CHOICES = ("score", "margin")


@dataclass(frozen=True)
class QAConfig:
    """Window length and overlap, the longest answer, and which windows train.

    ``answerless_windows``: the share of training windows that do not hold the
    answer (their target is [CLS]) kept for training. All of them (1.0) is
    ``run_qa.py``'s behaviour; fewer trains faster on long passages.

    Example:
        >>> QAConfig(max_length=256, stride=64).max_answer_length
        30
    """

    model: str = "all-MiniLM-L6-v2"
    max_length: int = 384
    stride: int = 128
    max_answer_length: int = 30
    answerless_windows: float = 1.0
    n_best: int = 20
    #: how the answer is chosen across a long context's windows (:data:`WINDOW_CHOICES`):
    #: ``margin`` did better on whole articles, 67.1 F1 against 62.9 on the general dev
    #: set with the quick preset's model (docs/heads.md)
    choose_window: str = "margin"

    def __post_init__(self) -> None:
        if self.choose_window not in WINDOW_CHOICES:
            raise ValueError(f"choose_window must be one of {', '.join(WINDOW_CHOICES)}, not '{self.choose_window}'")
        if not 0 <= self.stride < self.max_length // 2:
            raise ValueError(f"stride must be in [0, max_length / 2), not {self.stride}")
        if not 0.0 <= self.answerless_windows <= 1.0:
            raise ValueError(f"answerless_windows is a share in [0, 1], not {self.answerless_windows}")
        if self.max_answer_length < 1:
            raise ValueError(f"max_answer_length must be >= 1, not {self.max_answer_length}")


@dataclass(frozen=True)
class Prediction:
    """A predicted answer: its text, where it starts in the passage, its score s_i + e_j."""

    text: str
    start: int
    score: float


def encode_windows(tokenizer, questions: list[str], contexts: list[str], max_length: int, stride: int):
    """``[CLS] question [SEP] window [SEP]`` for every window of every context, with
    ``offset_mapping``, ``overflow_to_sample_mapping`` and ``sequence_ids``.

    Example:
        >>> from ranker.models.checkpoints import load_tokenizer
        >>> tok = load_tokenizer(tiny_bert)  # all-MiniLM-L6-v2's
        >>> enc = encode_windows(tok, ["Who?"], ["Ann said hi."], 384, 128)
        >>> tok.decode(enc["input_ids"][0]), enc.sequence_ids(0)
        ('[CLS] who? [SEP] ann said hi. [SEP]', [None, 0, 0, None, 1, 1, 1, 1, None])
        >>> enc = encode_windows(tok, ["Who said hi?"], ["Ann said hi to Bob. " * 20], 32, 8)
        >>> enc["overflow_to_sample_mapping"]  # a long context: seven windows of 32 tokens, all of question 0
        [0, 0, 0, 0, 0, 0, 0]
    """
    return tokenizer(questions, contexts, truncation="only_second", max_length=max_length, stride=stride,
                     return_overflowing_tokens=True, return_offsets_mapping=True, padding=False)


def answer_positions(offsets: list[tuple[int, int]], sequence_ids: list[int | None], start_char: int,
                     end_char: int) -> tuple[int, int]:
    """The first and last token of the answer ``[start_char, end_char)`` in one window,
    or ``(0, 0)`` — the [CLS] token — if the window does not hold all of it.

    Example:
        >>> answer_positions([(0, 0), (0, 3), (0, 0), (0, 3), (4, 8), (9, 11), (0, 0)],
        ...                  [None, 0, None, 1, 1, 1, None], 4, 8)
        (4, 4)
    """
    context = [i for i, s in enumerate(sequence_ids) if s == 1]
    if not context:
        return 0, 0
    first, last = context[0], context[-1]
    if offsets[first][0] > start_char or offsets[last][1] < end_char:
        return 0, 0
    start = first
    while start <= last and offsets[start][1] <= start_char:
        start += 1
    end = last
    while end >= first and offsets[end][0] >= end_char:
        end -= 1
    return start, end


def best_span(start_logits: np.ndarray, end_logits: np.ndarray, offsets: list[tuple[int, int] | None],
              max_answer_length: int, n_best: int = 20) -> tuple[float, int, int] | None:
    """The span maximising start_logits[i] + end_logits[j] with i ≤ j < i + max_answer_length,
    over passage tokens only (``offsets[i] is None`` elsewhere); returns
    (score, start character, end character) or ``None`` when no span is valid.

    Like ``utils_qa.py``, only the ``n_best`` highest starts and ends are
    combined: the best valid span is almost always among them, and it keeps
    the search at n_best² pairs.

    Example:
        >>> best_span(np.array([9., 1., 5., 0.]), np.array([9., 0., 1., 6.]),
        ...           [None, (0, 3), (4, 7), (8, 12)], max_answer_length=3)
        (11.0, 4, 12)
    """
    starts = np.argsort(start_logits)[::-1][:n_best]
    ends = np.argsort(end_logits)[::-1][:n_best]
    best = None
    for i in starts:
        if offsets[i] is None:
            continue
        for j in ends:
            if offsets[j] is None or j < i or j - i + 1 > max_answer_length:
                continue
            score = float(start_logits[i] + end_logits[j])
            if best is None or score > best[0]:
                best = (score, offsets[i][0], offsets[j][1])
    return best


def context_offsets(encoded, row: int) -> list[tuple[int, int] | None]:
    """A window's offsets with everything that is not passage (question, specials) set to ``None``."""
    sequence = encoded.sequence_ids(row)
    return [tuple(o) if sequence[k] == 1 else None for k, o in enumerate(encoded["offset_mapping"][row])]


def window_candidates(net, tokenizer, questions: list[str], contexts: list[str], config: QAConfig,
                      batch_size: int = 16, show_progress: bool = False) -> list[list[tuple[float, float, int, int]]]:
    """Each window's best span for each (question, context): (span score, the window's
    no-answer score, start character, end character), in window order."""
    from tqdm import tqdm

    found: list[list[tuple[float, float, int, int]]] = [[] for _ in questions]
    with inference(net), tqdm(total=len(questions), desc="answer", unit="question", disable=not show_progress) as bar:
        for start in range(0, len(questions), batch_size):
            rows = list(range(start, min(start + batch_size, len(questions))))
            encoded = encode_windows(tokenizer, [questions[i] for i in rows], [contexts[i] for i in rows],
                                     config.max_length, config.stride)
            names = [k for k in ("input_ids", "attention_mask", "token_type_ids") if k in encoded]
            padded = tokenizer.pad({k: encoded[k] for k in names}, return_tensors="pt")
            output = head_outputs(net, padded)
            starts, ends = output["start_logits"], output["end_logits"]
            for window, sample in enumerate(encoded["overflow_to_sample_mapping"]):
                n = len(encoded["input_ids"][window])
                best = best_span(starts[window, :n], ends[window, :n], context_offsets(encoded, window),
                                 config.max_answer_length, config.n_best)
                if best:
                    null = float(starts[window, 0] + ends[window, 0])
                    found[rows[sample]].append((best[0], null, best[1], best[2]))
            bar.update(len(rows))
    return found


def choose_answer(candidates: list[tuple[float, float, int, int]], context: str, how: str) -> Prediction | None:
    """The answer among a context's window candidates, chosen as ``how`` says (:data:`WINDOW_CHOICES`).

    Example:
        >>> cands = [(9.0, 8.5, 0, 3), (7.0, 1.0, 4, 7)]  # window 1 scores higher, window 2 beats its null more
        >>> choose_answer(cands, "Ann Bob", "score").text, choose_answer(cands, "Ann Bob", "margin").text
        ('Ann', 'Bob')
    """
    if not candidates:
        return None
    key = (lambda c: c[0]) if how == "score" else (lambda c: c[0] - c[1])
    score, _, begin, end = max(candidates, key=key)
    return Prediction(context[begin:end], begin, score)


def answer_questions(net, tokenizer, questions: list[str], contexts: list[str], config: QAConfig,
                     batch_size: int = 16, show_progress: bool = False) -> list[Prediction | None]:
    """The best answer span for each (question, context), over all the context's windows
    (chosen across windows as ``config.choose_window`` says).

    Example:
        >>> net, tok = new_head(tiny_bert, "span", seed=13)  # untrained here: see train_reader
        >>> passage = "Health officials say N95 respirators protect wearers against the virus."
        >>> [answer] = answer_questions(net, tok, ["Who says N95 respirators protect?"], [passage], QAConfig())
        >>> type(answer).__name__, passage[answer.start : answer.start + len(answer.text)] == answer.text
        ('Prediction', True)
    """
    found = window_candidates(net, tokenizer, questions, contexts, config, batch_size, show_progress)
    return [choose_answer(c, context, config.choose_window) for c, context in zip(found, contexts, strict=True)]


def normalize_answer(text: str) -> str:
    """SQuAD v1.1's answer normalisation: lower case, no punctuation, no articles, single spaces.

    Written out because the official script is not a package; this is its
    ``normalize_answer``, unchanged.

    Example:
        >>> normalize_answer("The  Prime Minister,")
        'prime minister'
    """
    text = text.lower()
    text = "".join(ch for ch in text if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def token_f1(prediction: str, truth: str) -> float:
    """SQuAD's F1 between the normalised tokens of a prediction and one gold answer.

    Example:
        >>> round(token_f1("Sean Spicer said", "Sean Spicer"), 3)
        0.8
    """
    predicted, gold = normalize_answer(prediction).split(), normalize_answer(truth).split()
    common = Counter(predicted) & Counter(gold)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision, recall = same / len(predicted), same / len(gold)
    return 2 * precision * recall / (precision + recall)


def squad_metrics(examples: list[QAExample], predicted: list[str]) -> dict[str, float]:
    """Exact match and F1 (percent, as SQuAD reports them), each the best over an example's gold answers.

    Example:
        >>> from ranker.data.labelled import Answer
        >>> ex = QAExample("q", "Ann said hi.", "Who said hi?", (Answer("Ann", 0),))
        >>> squad_metrics([ex], ["ann"])
        {'exact_match': 100.0, 'F1': 100.0, 'n': 1}
    """
    exact = f1 = 0.0
    for example, guess in zip(examples, predicted, strict=True):
        truths = [a.text for a in example.answers]
        exact += max(float(normalize_answer(guess) == normalize_answer(t)) for t in truths)
        f1 += max(token_f1(guess, t) for t in truths)
    n = max(len(examples), 1)
    return {"exact_match": 100.0 * exact / n, "F1": 100.0 * f1 / n, "n": len(examples)}


@dataclass(frozen=True)
class Window:
    """One training input: a window's token ids and its answer's token positions."""

    input_ids: list[int]
    token_type_ids: list[int]
    start: int
    end: int


def training_windows(tokenizer, examples: list[QAExample], config: QAConfig, seed: int = 13) -> list[Window]:
    """Every example's windows with their answer positions (the first gold answer);
    windows without the answer are kept at the rate ``config.answerless_windows``.

    Example:
        >>> from ranker.data.labelled import Answer
        >>> from ranker.models.checkpoints import load_tokenizer
        >>> tok = load_tokenizer(tiny_bert)  # all-MiniLM-L6-v2's
        >>> examples = [QAExample("q1", "Ann said hi to Bob. " * 20, "Who said hi?", (Answer("Ann", 0),))]
        >>> [(w.start, w.end) for w in training_windows(tok, examples, QAConfig(max_length=32, stride=8))]
        [(6, 6), (0, 0), (0, 0), (0, 0), (0, 0), (0, 0), (0, 0)]
        >>> len(training_windows(tok, examples, QAConfig(max_length=32, stride=8, answerless_windows=0.0)))
        1
    """
    rng = np.random.default_rng(seed)
    encoded = encode_windows(tokenizer, [e.question for e in examples], [e.context for e in examples],
                             config.max_length, config.stride)
    windows = []
    for row, sample in enumerate(encoded["overflow_to_sample_mapping"]):
        answer = examples[sample].answers[0]
        start, end = answer_positions(encoded["offset_mapping"][row], encoded.sequence_ids(row), answer.start,
                                      answer.end)
        if start == 0 and rng.random() >= config.answerless_windows:
            continue
        types = encoded["token_type_ids"][row] if "token_type_ids" in encoded else [0] * len(encoded["input_ids"][row])
        windows.append(Window(encoded["input_ids"][row], types, start, end))
    return windows


class QATask(ExampleTask):
    """Extractive QA as a :class:`ranker.train.loop.Task` over training windows (primary: dev F1)."""

    primary = "F1"

    def __init__(self, examples: list[QAExample], net, tokenizer, config: QAConfig, batch_size: int, seed: int,
                 dev: list[QAExample] | None = None) -> None:
        windows = training_windows(tokenizer, examples, config, seed)
        super().__init__(windows, net, tokenizer, batch_size, length=lambda w: len(w.input_ids))
        self.config = config
        self.dev = dev

    def features(self, windows: list[Window]) -> dict:
        import torch

        inputs = self.tokenizer.pad({"input_ids": [w.input_ids for w in windows],
                                     "token_type_ids": [w.token_type_ids for w in windows]}, return_tensors="pt")
        inputs["start_positions"] = torch.tensor([w.start for w in windows])
        inputs["end_positions"] = torch.tensor([w.end for w in windows])
        return dict(inputs)

    def evaluate(self) -> dict[str, float]:
        if not self.dev:
            return {}
        questions, contexts = [e.question for e in self.dev], [e.context for e in self.dev]
        found = answer_questions(self.net, self.tokenizer, questions, contexts, self.config)
        metrics = squad_metrics(self.dev, [p.text if p else "" for p in found])
        return {"F1": metrics["F1"], "exact_match": metrics["exact_match"]}

    def about(self) -> dict[str, Any]:
        return {"task": "qa", "max_length": self.config.max_length, "stride": self.config.stride,
                "max_answer_length": self.config.max_answer_length, "base_model": self.config.model}


def train_reader(train: list[QAExample], out: str | Path, config: QAConfig, train_config,
                 dev: list[QAExample] | None = None, resume: bool = False, stop_after: int | None = None,
                 show_progress: bool = True) -> dict[str, Any]:
    """Fine-tune an extractive QA reader; the model goes to ``out/model``, the evaluations to ``out/metrics.json``.

    Example:
        >>> from ranker.data.labelled import Answer
        >>> from ranker.train.loop import TrainConfig
        >>> examples = [QAExample("q1", "Ann said hi to Bob.", "Who said hi?", (Answer("Ann", 0),))]
        >>> config = QAConfig(model=tiny_bert, max_length=64, stride=16)  # all-MiniLM-L6-v2 by default
        >>> metrics = train_reader(examples, "runs/qa", config, TrainConfig(epochs=2), dev=examples,
        ...                        show_progress=False)
        >>> metrics["train"]["steps"], sorted(metrics["best"])
        (2, ['F1', 'eval_seconds', 'exact_match', 'step'])
    """
    from ranker.train.loop import fit

    net, tokenizer = new_head(config.model, "span", train_config.seed, train_config.device)
    task = QATask(train, net, tokenizer, config, train_config.batch_size, train_config.seed, dev)
    return fit(task, train_config, out, resume=resume, stop_after=stop_after, show_progress=show_progress)


def predict_rows(net, tokenizer, config: QAConfig, inputs: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """``ranker predict qa``: each (question, passage)'s answer span."""
    found = answer_questions(net, tokenizer, [q for q, _ in inputs], [c for _, c in inputs], config)
    return [{"question": q, "answer": p.text if p else "", "start": p.start if p else None,
             "score": round(p.score, 4) if p else None} for (q, _), p in zip(inputs, found, strict=True)]


def evaluate_examples(net, tokenizer, config: QAConfig, examples: list[QAExample],
                      show_progress: bool = False, compare_windows: bool = False) -> dict[str, Any]:
    """``ranker eval qa``: SQuAD exact match and F1 (with ``compare_windows``, also
    under ``by_window_choice`` for each of :data:`WINDOW_CHOICES`, from one pass)."""
    contexts = [e.context for e in examples]
    found = window_candidates(net, tokenizer, [e.question for e in examples], contexts, config,
                              show_progress=show_progress)

    def metrics(how: str) -> dict[str, Any]:
        chosen = [choose_answer(c, context, how) for c, context in zip(found, contexts, strict=True)]
        return squad_metrics(examples, [p.text if p else "" for p in chosen])

    result = metrics(config.choose_window)
    if compare_windows:
        result["by_window_choice"] = {how: metrics(how) for how in WINDOW_CHOICES}
    return result


def show_row(row: dict[str, Any]) -> str:
    if not row["answer"]:
        return "(no answer span found)"
    return f"{row['answer']}\t(characters {row['start']}–{row['start'] + len(row['answer'])}, score {row['score']:.2f})"


def summary(metrics: dict[str, Any]) -> str:
    return f"exact match {metrics['exact_match']:.1f}, F1 {metrics['F1']:.1f} on {metrics['n']} questions"
