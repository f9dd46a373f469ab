"""The reranking pipeline's --seed reaches every stage that draws."""

from __future__ import annotations

import argparse

from pipelines.reranking import OVERRIDES, preset_from_args
from ranker.train.presets import PRESETS


def _args(**given) -> argparse.Namespace:
    return argparse.Namespace(preset="full", **{name: None for name in OVERRIDES}, **given)


def test_a_seed_reaches_mining_both_trainers_and_the_description():
    preset = preset_from_args(_args(seed=7))
    assert (preset.mining.seed, preset.train.seed, preset.embedder.train.seed) == (7, 7, 7)
    assert preset.description.endswith("; seed 7")
    # nothing else moves
    assert preset.train.learning_rate == PRESETS["full"].train.learning_rate
    assert preset.embedder.train.learning_rate == PRESETS["full"].embedder.train.learning_rate


def test_without_a_seed_the_preset_is_unchanged():
    assert preset_from_args(_args(seed=None)) == PRESETS["full"]
    assert preset_from_args(_args()) == PRESETS["full"]


def test_the_quick_preset_has_no_embedder_and_still_takes_a_seed():
    preset = preset_from_args(argparse.Namespace(preset="quick", **{name: None for name in OVERRIDES}, seed=3))
    assert preset.embedder is None and preset.train.seed == 3


def test_a_negative_seed_is_refused_before_any_work(capsys, tmp_path):
    import pytest

    from pipelines.reranking import main

    with pytest.raises(SystemExit) as stopped:
        main(["--seed", "-1", "--out", str(tmp_path / "run")])
    assert stopped.value.code == 2 and "--seed: must be a whole number of at least 0" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()
