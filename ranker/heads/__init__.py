"""The task heads on the BERT core besides the reranker, one module each.

:data:`TASKS` maps a head's name (as in ``ranker train/predict/eval NAME``) to
its settings class and functions, so the CLI and the pipelines drive all four
the same way. Every module follows one shape: a frozen ``*Config``, pure pre-
and post-processing functions, a task class for :func:`ranker.train.loop.fit`, a
``train_*`` entry point, ``predict_rows`` and ``evaluate_examples``.
"""

from __future__ import annotations

import dataclasses
import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: name -> (module, transformers head kind, config class, training function, task class)
_TASKS = {
    "classify": ("ranker.heads.classify", "sequence", "ClassifyConfig", "train_classifier", "ClassifyTask"),
    "pairs": ("ranker.heads.pairs", "sequence", "PairsConfig", "train_pair_regressor", "PairsTask"),
    "tag": ("ranker.heads.tag", "token", "TagConfig", "train_tagger", "TagTask"),
    "qa": ("ranker.heads.qa", "span", "QAConfig", "train_reader", "QATask"),
}

#: name -> (what the head does, the data it reads, what ``ranker eval`` reports):
#: the help texts, here so that ``ranker --help`` needs no task module imported.
_HELP = {
    "classify": ("single-text classification ([CLS] text [SEP] -> class)",
                 "a TSV of label<TAB>text lines (or Orange .tab)", "accuracy, macro-F1"),
    "pairs": ("text-pair regression ([CLS] a [SEP] b [SEP] -> score)",
              "an STS-B style TSV with sentence1, sentence2 and score columns", "Pearson, Spearman"),
    "tag": ("token tagging, e.g. part of speech (every word -> tag)",
            "word/TAG sentences, one per line, or a CoNLL-U file (.conllu)", "token accuracy, per tag"),
    "qa": ("extractive question answering (question + passage -> answer span)", "a SQuAD v1.1 JSON file",
           "exact match, F1"),
}


@dataclass(frozen=True)
class TaskSpec:
    """One head's entry points, bound lazily (the modules import torch only when run).

    Example:
        >>> TASKS["tag"].head
        'token'
    """

    name: str
    module: str
    head: str
    config_name: str
    train_name: str
    task_name: str

    @property
    def help(self) -> str:
        """What the head does, in a line."""
        return _HELP[self.name][0]

    @property
    def data_help(self) -> str:
        """The labelled data it reads."""
        return _HELP[self.name][1]

    @property
    def metrics_help(self) -> str:
        """What ``ranker eval`` reports for it."""
        return _HELP[self.name][2]

    def read(self, path: str | Path) -> list:
        """The labelled examples of ``path``, in the format this head reads.

        Raises:
            InputError: a missing file, or a line or field that does not fit the format.

        Example:
            >>> _ = (tmp / "wsj.txt").write_text("The/DT dam/NN broke/VBD ./.\\n")
            >>> TASKS["tag"].read(tmp / "wsj.txt")[0].tags
            ('DT', 'NN', 'VBD', '.')
        """
        from ranker.core.errors import InputError
        from ranker.data import labelled_files as formats
        from ranker.data.squad import read_squad

        path = Path(path)
        if not path.is_file():
            raise InputError(path, None, "no such file")
        readers = {"classify": formats.read_labelled_texts, "pairs": formats.read_scored_pairs,
                   "tag": formats.read_conllu if path.suffix == ".conllu" else formats.read_word_tag,
                   "qa": read_squad}
        return readers[self.name](path)

    def predict_inputs(self, given: dict[str, Any]) -> list:
        """The model's inputs from what ``ranker predict`` was given (texts; a pair;
        sentences split on spaces; a question and its passage).

        Example:
            >>> TASKS["tag"].predict_inputs({"sentences": ["John 's car"]})
            [['John', "'s", 'car']]
        """
        if self.name == "classify":
            return list(given["texts"])
        if self.name == "pairs":
            return [(given["text_a"], given["text_b"])]
        if self.name == "tag":
            return [s.split() for s in given["sentences"]]
        context = given.get("context")
        if given.get("context_file") is not None:
            from ranker.core.errors import InputError

            try:
                context = Path(given["context_file"]).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as err:
                raise InputError(given["context_file"], None, f"unreadable ({err})") from None
        return [(given["question"], context)]

    @property
    def primary_metric(self) -> str:
        """The dev metric the best model is kept by (the task class's ``primary``)."""
        return getattr(self._module, self.task_name).primary

    @property
    def _module(self):
        return importlib.import_module(self.module)

    @property
    def config(self) -> type:
        return getattr(self._module, self.config_name)

    @property
    def train(self):
        return getattr(self._module, self.train_name)

    def train_on_files(self, train: str | Path, out: str | Path, config, train_config, dev: str | Path | None = None,
                       resume: bool = False, show_progress: bool = True) -> dict[str, Any]:
        """``ranker train HEAD``: fine-tune this head on the labelled file ``train``
        (and keep the best model by ``dev``'s metric); the metrics written.

        Raises:
            InputError: a file that does not fit the head's format, or data the head
                cannot train on (named by the training file).

        Example:
            >>> from ranker.train.loop import TrainConfig
            >>> _ = (tmp / "wsj.txt").write_text("The/DT dam/NN broke/VBD ./.\\n")
            >>> config, train = TASKS["tag"].config(model=tiny_bert, max_length=16), TrainConfig(max_steps=1)
            >>> metrics = TASKS["tag"].train_on_files(tmp / "wsj.txt", tmp / "pos", config, train, show_progress=False)
            >>> metrics["train"]["steps"]
            1
        """
        from ranker.core.errors import InputError

        examples = self.read(train)
        held_out = self.read(dev) if dev is not None else None
        try:
            return self.train(examples, out, config, train_config, dev=held_out, resume=resume,
                              show_progress=show_progress)
        except InputError:  # already names its file
            raise
        except ValueError as err:
            raise InputError(train, None, str(err)) from None

    def load(self, model: str | Path, runtime: str = "torch", precision: str = "auto"):
        """(net, tokenizer, config) of a model trained for this head; the config
        is rebuilt from the settings saved in its ``ranker.json``. ``runtime`` and
        ``precision``: see :mod:`ranker.models.runtime` (the torch runtime runs heads in fp32)."""
        from ranker.core.errors import InputError
        from ranker.models.checkpoints import load_tokenizer, load_trained, read_trained
        from ranker.models.runtime import resolve_runtime

        if resolve_runtime(runtime) == "openvino":
            from ranker.models.exported import load_compiled
            from ranker.models.tokenizer import FastTokenizer

            about = read_trained(model)
            net = load_compiled(model, self.head, precision)
            # tagging and QA map pieces back to words and characters: transformers' tokenizer does that
            tokenizer = FastTokenizer(model) if self.head == "sequence" else load_tokenizer(str(model))
        else:
            net, tokenizer, about = load_trained(model, self.head)
        if about.get("task", self.name) != self.name:
            raise InputError(model, None, f"was trained for '{about['task']}', not '{self.name}'")
        fields = {f.name for f in dataclasses.fields(self.config)} - {"model"}
        return net, tokenizer, self.config(**{k: v for k, v in about.items() if k in fields})

    def predict(self, model: str | Path, inputs: list, runtime: str = "auto",
                precision: str = "auto") -> list[dict[str, Any]]:
        net, tokenizer, config = self.load(model, runtime, precision)
        return self._module.predict_rows(net, tokenizer, config, inputs)

    def evaluate(self, model: str | Path, examples: list, show_progress: bool = False,
                 runtime: str = "auto", precision: str = "auto") -> dict[str, Any]:
        net, tokenizer, config = self.load(model, runtime, precision)
        return self._module.evaluate_examples(net, tokenizer, config, examples, show_progress=show_progress)

    def show(self, row: dict[str, Any]) -> str:
        return self._module.show_row(row)

    def summary(self, metrics: dict[str, Any]) -> str:
        return self._module.summary(metrics)


TASKS = {name: TaskSpec(name, *spec) for name, spec in _TASKS.items()}
