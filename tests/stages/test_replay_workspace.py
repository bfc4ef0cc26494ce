"""replay deletes only a workspace a replay made, and only once it has started."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from stockpredictor.errors import OverwriteRefusedError, UnknownTickerError, UsageError
from stockpredictor.stages.replay import WORKSPACE_MARKER, replay
from tests.support.overrides import repo_params, tickers

START, END = date(2012, 10, 23), date(2012, 10, 24)


def test_a_folder_not_made_by_a_replay_is_refused_and_kept(tmp_path: Path) -> None:
    keep = tmp_path / "workspace" / "notes.txt"
    keep.parent.mkdir()
    keep.write_text("mine")
    with pytest.raises(UsageError, match="was not made by a replay"):
        replay(repo_params(), START, END, tmp_path)
    assert keep.read_text() == "mine"


def test_a_replay_that_cannot_start_leaves_the_previous_workspace(tmp_path: Path) -> None:
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    (workspace / WORKSPACE_MARKER).write_text("")
    (workspace / "store.db").write_text("the previous replay's store")
    with pytest.raises(UnknownTickerError, match="NOPE"):
        replay(repo_params(tickers("AAPL", "NOPE")), START, END, tmp_path)
    assert (workspace / "store.db").read_text() == "the previous replay's store"


def test_a_workspace_that_is_a_symbolic_link_is_refused_and_its_target_kept(tmp_path: Path) -> None:
    """Even a link to a folder a replay made: the replay would delete where it points."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / WORKSPACE_MARKER).write_text("")
    (elsewhere / "keep.txt").write_text("mine")
    output = tmp_path / "output"
    output.mkdir()
    (output / "workspace").symlink_to(elsewhere)
    with pytest.raises(
        OverwriteRefusedError, match=f"{output / 'workspace'} is a symbolic link \\(to {elsewhere}\\)"
    ):
        replay(repo_params(), START, END, output)
    assert (elsewhere / "keep.txt").read_text() == "mine" and (output / "workspace").is_symlink()
