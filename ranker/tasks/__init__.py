"""The task heads on the BERT core besides the reranker, one module each.

:data:`TASKS` maps a head's name (as in ``ranker train/predict/eval NAME``) to
its settings class and functions, so the CLI and the pipelines drive all four
the same way. Every module follows one shape: a frozen ``*Config``, pure pre-
and post-processing functions, a task class for :func:`ranker.train.fit`, a
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
    "classify": ("ranker.tasks.classify", "sequence", "ClassifyConfig", "train_classifier", "ClassifyTask"),
    "pairs": ("ranker.tasks.pairs", "sequence", "PairsConfig", "train_pair_regressor", "PairsTask"),
    "tag": ("ranker.tasks.tag", "token", "TagConfig", "train_tagger", "TagTask"),
    "qa": ("ranker.tasks.qa", "span", "QAConfig", "train_reader", "QATask"),
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

    def load(self, model: str | Path):
        """(net, tokenizer, config) of a model trained for this head; the config
        is rebuilt from the settings saved in its ``ranker.json``."""
        from ranker.errors import InputError
        from ranker.heads import load_trained

        net, tokenizer, about = load_trained(model, self.head)
        if about.get("task", self.name) != self.name:
            raise InputError(model, None, f"was trained for '{about['task']}', not '{self.name}'")
        fields = {f.name for f in dataclasses.fields(self.config)} - {"model"}
        return net, tokenizer, self.config(**{k: v for k, v in about.items() if k in fields})

    def predict(self, model: str | Path, inputs: list) -> list[dict[str, Any]]:
        net, tokenizer, config = self.load(model)
        return self._module.predict_rows(net, tokenizer, config, inputs)

    def evaluate(self, model: str | Path, examples: list, show_progress: bool = False) -> dict[str, Any]:
        net, tokenizer, config = self.load(model)
        return self._module.evaluate_examples(net, tokenizer, config, examples, show_progress=show_progress)

    def show(self, row: dict[str, Any]) -> str:
        return self._module.show_row(row)

    def summary(self, metrics: dict[str, Any]) -> str:
        return self._module.summary(metrics)


TASKS = {name: TaskSpec(name, *spec) for name, spec in _TASKS.items()}
