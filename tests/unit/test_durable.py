"""The one atomic-write helper (aicreative.durable). The kill test that proves
it end to end is tests/unit/test_store.py::test_sigkilled_writer_never_corrupts_the_file
(the store writes only through it); these check its pieces."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from aicreative import durable


def test_write_replaces_whole_with_the_mode(tmp_path: Path) -> None:
    target = tmp_path / "f.txt"
    durable.write_bytes(target, b"one")
    assert (target.stat().st_mode & 0o777) == 0o600
    durable.write_bytes(target, b"two", mode=0o644)
    assert target.read_bytes() == b"two" and (target.stat().st_mode & 0o777) == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"]


def test_a_failed_write_leaves_the_old_file_and_no_temp(tmp_path: Path, monkeypatch) -> None:
    target = tmp_path / "f.txt"
    durable.write_bytes(target, b"old")

    def full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)  # a full disk cannot be caused for real here
    with pytest.raises(OSError, match="No space"):
        durable.write_bytes(target, b"new")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"]


def test_orphans_files_and_folders_are_removed(tmp_path: Path) -> None:
    (tmp_path / ".f.txt.abc.tmp").write_text("half")
    (tmp_path / ".model.tmp-xyz").mkdir()
    (tmp_path / ".model.tmp-xyz" / "weights").write_text("half")
    (tmp_path / "keep.txt").write_text("kept")
    removed = durable.remove_orphans(tmp_path, ".f.txt.")
    removed += durable.remove_orphans(tmp_path, ".model.tmp-", suffix="")
    assert sorted(p.name for p in removed) == [".f.txt.abc.tmp", ".model.tmp-xyz"]
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]


def test_replace_folder_publishes_a_whole_folder(tmp_path: Path) -> None:
    work = tmp_path / ".export.tmp-1"
    (work / "sub").mkdir(parents=True)
    (work / "sub" / "a.bin").write_bytes(b"x" * 10)
    durable.replace_folder(work, tmp_path / "export")
    assert (tmp_path / "export" / "sub" / "a.bin").read_bytes() == b"x" * 10
    assert not work.exists()


def test_fsync_dir_raises_on_a_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        durable.fsync_dir(tmp_path / "nope")
