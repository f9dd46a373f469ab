"""One BERT core, the task heads on top of it.

Every head is a transformers ``AutoModelFor*`` class over the same backbone
checkpoint: the backbone's weights are loaded and fine-tuned, and one fully
connected layer (the head) is learned from scratch — the seed chapter's recipe.
The pair head with one output is the cross-encoder of the reranker:
``[CLS] query [SEP] article [SEP]`` → one relevance score.

Saved models are plain transformers folders (``config.json``,
``model.safetensors``, tokenizer files) plus ``ranker.json`` (how we trained
them), so transformers and sentence-transformers load them without us.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

from ranker.core.errors import InputError
from ranker.core.integrity import model_remedy, read_listed, write_listed
from ranker.models.loading import offline, quiet_transformers, resolve_model


def check_model_folder(path: str) -> None:
    """Refuse a local folder that is not a transformers model, or a model we trained
    whose files changed since (``ranker.json``'s sha256s).

    Raises:
        InputError: naming the folder and what to do.
    """
    local = Path(path)
    if not local.exists() and os.environ.get("HF_HUB_OFFLINE") == "1":
        raise InputError(local, None, "no such model folder (and no model hub is reachable)")
    if local.exists() and not (local / "config.json").is_file():
        raise InputError(local, None, "not a transformers model folder (no config.json)")
    read_about(local)  # a model we trained: its files against their sha256s


def load_tokenizer(model: str):
    """The backbone's tokenizer (a local folder, or ``all-MiniLM-L6-v2``).

    Example:
        >>> load_tokenizer(tiny_bert)("oil")["input_ids"]  # all-MiniLM-L6-v2's vocabulary
        [101, 3514, 102]
    """
    offline()
    from transformers import AutoTokenizer

    quiet_transformers()
    path = resolve_model(model)
    check_model_folder(path)
    return AutoTokenizer.from_pretrained(path)


#: The transformers head class for each kind of task: one fully connected layer
#: over the backbone's [CLS] vector (sequence), over every token's vector
#: (token), or two scores per token, span start and end (span).
HEAD_CLASSES = {
    "sequence": "AutoModelForSequenceClassification",
    "token": "AutoModelForTokenClassification",
    "span": "AutoModelForQuestionAnswering",
}


def load_head(model: str, head: str, labels: list[str] | None = None, num_labels: int | None = None):
    """A transformers head of kind ``head`` over ``model``'s backbone.

    A model fine-tuned for the same head loads as it was saved; a bare backbone
    (such as the default all-MiniLM-L6-v2, trained as a bi-encoder) gets a
    freshly initialised head — seed torch first for a reproducible one.

    Args:
        model: a local transformers folder, or ``all-MiniLM-L6-v2`` (packaged).
        head: ``sequence``, ``token`` or ``span`` (see :data:`HEAD_CLASSES`).
        labels: class names, in output order (sequence and token heads); saved in
            the model's config as ``id2label``.
        num_labels: outputs without names (``1`` for a score: the reranker, regression).

    Example:
        >>> net = load_head(tiny_bert, "token", labels=["NN", "VB"])
        >>> net.config.id2label
        {0: 'NN', 1: 'VB'}
    """
    offline()
    import transformers
    from transformers.utils import logging

    if head not in HEAD_CLASSES:
        raise ValueError(f"head must be one of {', '.join(HEAD_CLASSES)}, not '{head}'")
    quiet_transformers()
    path = resolve_model(model)
    check_model_folder(path)
    options: dict[str, Any] = {}
    if labels is not None:
        options = {"num_labels": len(labels), "id2label": dict(enumerate(labels)),
                   "label2id": {label: i for i, label in enumerate(labels)}}
    elif num_labels is not None:
        options = {"num_labels": num_labels}
    # A bare backbone has no head weights: transformers reports them as newly
    # initialised, which is the point here, so its warning is silenced.
    verbosity = logging.get_verbosity()
    logging.set_verbosity_error()
    try:
        # weights only from safetensors: a pickled checkpoint (pytorch_model.bin) can run code when read
        net = getattr(transformers, HEAD_CLASSES[head]).from_pretrained(path, use_safetensors=True, **options)
    except (OSError, ValueError) as err:
        raise InputError(path, None, f"cannot load a transformers model with safetensors weights ({err})") from None
    finally:
        logging.set_verbosity(verbosity)
    return net


def load_pair_scorer(model: str):
    """A sequence-classification model with one output over ``model``'s backbone:
    the cross-encoder (see :func:`load_head`).

    Example:
        >>> net = load_pair_scorer(tiny_bert)
        >>> net.config.num_labels
        1
    """
    return load_head(model, "sequence", num_labels=1)


def load_trained(folder: str | Path, head: str):
    """A model we fine-tuned, with its tokenizer and ``ranker.json``, ready to predict.

    Raises:
        InputError: ``folder`` is not a model folder, or was trained for another task.

    Example:
        >>> net, tokenizer, about = load_trained("models/demo/model/model", "sequence")
        >>> type(net).__name__, about["task"]
        ('BertForSequenceClassification', 'reranker')
    """
    about = read_trained(folder)
    net = load_head(str(folder), head)
    return net, load_tokenizer(str(folder)), about


def save_model(net, tokenizer, folder: Path, about: dict[str, Any],
               extra_files: Callable[[Path], None] | None = None) -> None:
    """Write a model folder that transformers and sentence-transformers both load.

    ``folder`` should be a fresh (temporary) directory: callers make the write
    atomic with :func:`ranker.core.files.atomic_directory`. For a one-output pair
    scorer, the config names the identity as its activation, so
    ``sentence_transformers.CrossEncoder(folder).predict`` returns our raw scores
    rather than a sigmoid of them. ``extra_files(folder)`` adds files before the
    sha256 list is written (the embedder's sentence-transformers modules).
    """
    quiet_transformers()
    if net.config.num_labels == 1:
        net.config.sentence_transformers = {"activation_fn": "torch.nn.modules.linear.Identity"}
    net.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    if extra_files is not None:
        extra_files(folder)
    # the sha256 of every file, checked whenever the model is loaded (ranker.core.integrity)
    write_listed(folder, "ranker.json", about)


def read_trained(folder: str | Path) -> dict[str, Any]:
    """``ranker.json`` of a model folder a ``ranker train`` run wrote, checked (see
    :func:`read_about`); a folder without ``config.json`` is refused with what to pass.

    Example:
        >>> read_trained("models/demo/model")  # doctest: +NORMALIZE_WHITESPACE
        Traceback (most recent call last):
        ranker.core.errors.InputError: models/demo/model: not a model folder (no config.json);
            pass OUT/model of a 'ranker train' run
    """
    folder = Path(folder)
    if not (folder / "config.json").is_file():
        raise InputError(folder, None, "not a model folder (no config.json); pass OUT/model of a 'ranker train' run")
    return read_about(folder)


def read_about(folder: str | Path) -> dict[str, Any]:
    """``ranker.json`` of a model we trained, or ``{}`` for any other model folder.

    The files it lists are checked against their sha256s first, so a model
    changed since training is refused before anything loads it.

    Example:
        >>> read_about("models/demo/model/model")["task"]
        'reranker'
    """
    return read_listed(folder, "ranker.json", model_remedy)
