"""A start refused in a folder that holds no run of ours leaves every file in it alone."""

import pytest

from evoface.core.errors import InputError
from evoface.core.rundir import RunDir


def test_a_refused_start_leaves_a_foreign_folder_untouched(tmp_path):
    (tmp_path / "keep.txt").write_text("a user's file")
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "code.py").write_text("print(1)")
    with pytest.raises(InputError, match="holds no evoface run"):
        RunDir(tmp_path, create=None).begin()
    assert (tmp_path / "keep.txt").read_text() == "a user's file" and (tmp_path / "src" / "code.py").is_file()
    assert not (tmp_path / ".lock").exists()


def test_an_empty_run_path_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "keep.txt").write_text("x")
    for create in (True, None, False):
        with pytest.raises(InputError, match="empty path"):
            RunDir("", create=create)
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]
