"""A model folder's tokenizer run by the ``tokenizers`` library alone.

transformers' fast tokenizers are this same library underneath, but importing
transformers to reach it costs about 3 s of a query's cold start. Reading
``tokenizer.json`` directly gives the same word pieces (tests/test_runtime.py
compares them) for the few settings we use: pairs truncated longest first to
``max_length``, padded to the longest in the batch.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ranker.core.errors import InputError
from ranker.core.files import read_json


class FastTokenizer:
    """``tokenizer.json`` of ``folder``, returning NumPy batches.

    Example:
        >>> tok = FastTokenizer(tiny_bert)  # a folder with all-MiniLM-L6-v2's tokenizer.json
        >>> tok(["oil"], max_length=8)["input_ids"].tolist()
        [[101, 3514, 102]]
    """

    def __init__(self, folder: str | Path, lowercase: bool = False) -> None:
        from tokenizers import Tokenizer

        folder = Path(folder)
        path = folder / "tokenizer.json"
        if not path.is_file():
            raise InputError(folder, None, "no tokenizer.json (a slow tokenizer only): use --runtime torch")
        try:
            self._tokenizer = Tokenizer.from_file(str(path))
        except Exception as err:  # the Rust library raises its own Exception type for a bad file
            raise InputError(path, None, f"not a readable tokenizers file ({str(err).splitlines()[0]})") from None
        config_path = folder / "tokenizer_config.json"
        settings = read_json(config_path, dict) if config_path.is_file() else {}
        pad = settings.get("pad_token") or "[PAD]"
        pad = pad.get("content", "[PAD]") if isinstance(pad, dict) else str(pad)
        pad_id = self._tokenizer.token_to_id(pad)
        if pad_id is None:
            raise InputError(path, None, f"its padding token {pad!r} is not in the vocabulary: use --runtime torch")
        self._pad = {"pad_id": pad_id, "pad_token": pad, "pad_type_id": int(settings.get("pad_token_type_id", 0))}
        self._length: int | None = None
        self.lowercase = lowercase

    def __call__(self, texts: list[str], pairs: list[str] | None = None,
                 max_length: int = 128) -> dict[str, np.ndarray]:
        """``input_ids``, ``attention_mask`` and ``token_type_ids`` (int64, one row per
        text), each ``[CLS] text [SEP] pair [SEP]`` cut longest first to ``max_length``."""
        if self._length != max_length:
            self._tokenizer.enable_truncation(max_length, strategy="longest_first")
            self._tokenizer.enable_padding(**self._pad)
            self._length = max_length
        if self.lowercase:
            texts = [t.lower() for t in texts]
        inputs = list(zip(texts, pairs, strict=True)) if pairs is not None else list(texts)
        encoded = self._tokenizer.encode_batch(inputs)
        return {
            "input_ids": np.array([e.ids for e in encoded], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in encoded], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in encoded], dtype=np.int64),
        }
