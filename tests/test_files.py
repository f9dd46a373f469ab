"""Atomic writes: a failure leaves what was there before."""

from __future__ import annotations

import pytest

from ranker.core.files import atomic_directory, atomic_write_text


def test_failed_directory_build_keeps_previous_and_leaves_no_temp(tmp_path):
    target = tmp_path / "index"
    with atomic_directory(target) as tmp:
        (tmp / "a").write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_directory(target) as tmp:
            (tmp / "a").write_text("half")
            raise RuntimeError("crash mid-build")
    assert (target / "a").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["index"]


def test_successful_rebuild_replaces_whole_folder(tmp_path):
    target = tmp_path / "index"
    with atomic_directory(target) as tmp:
        (tmp / "stale").write_text("x")
    with atomic_directory(target) as tmp:
        (tmp / "fresh").write_text("y")
    assert [p.name for p in target.iterdir()] == ["fresh"]
    atomic_write_text(tmp_path / "f.txt", "one")
    atomic_write_text(tmp_path / "f.txt", "two")
    assert (tmp_path / "f.txt").read_text() == "two" and len(list(tmp_path.iterdir())) == 2
