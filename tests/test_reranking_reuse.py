"""The reranking pipeline says, and records, what an earlier run into its folder left and it reused."""

from __future__ import annotations

import json
from types import SimpleNamespace

from pipelines import reranking
from ranker.train.presets import PRESETS


def test_the_full_preset_says_what_it_reused_from_an_earlier_run(tmp_path, monkeypatch, capsys):
    import ranker.retrieve.embed as embed

    out = tmp_path / "run"
    (out / "embedder" / "model").mkdir(parents=True)
    (out / "embedder" / "model" / "ranker.json").write_text("{}")
    (out / "index").mkdir()
    (out / "index" / "manifest.json").write_text(json.dumps({"components": {"dense": {"fingerprint": [0.5, 0.5]}}}))

    class SameModel:  # the index holds this model's vectors: nothing to rebuild
        def __init__(self, config):
            pass

        def fingerprint(self):
            return [0.5, 0.5]

    monkeypatch.setattr(embed, "Embedder", SameModel)
    index = SimpleNamespace(path=tmp_path / "given-index", manifest={})
    rebuilt, reused = reranking.tune_embedder(index, tmp_path / "data", PRESETS["full"], out)
    assert rebuilt == out / "index" and reused == ["embedder/model", "index"]
    said = capsys.readouterr().out
    assert said.count("reusing ") == 2 and "give a new --out to train it again" in said
