"""A start refused in a folder that holds no run of ours leaves every file in it alone."""

import os

import pytest

from evoface.core.errors import InputError
from evoface.core.rundir import RunDir, last_checkpoint, open_run, process_token


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


def started_run(path, checkpoint: bool = False):
    """A run folder as a start leaves it: config.json, and a last checkpoint once it reached one."""
    run = RunDir(path, create=None).begin()
    run.write_config({"seed": 0})
    if checkpoint:
        last_checkpoint(path).write_bytes(b"a checkpoint")
    run.release()
    return run


def test_open_run_resumes_a_run_with_a_checkpoint_and_starts_one_without_again(tmp_path, capsys):
    started_run(tmp_path / "kept", checkpoint=True)
    run, resume = open_run(tmp_path / "kept", resume=True)
    assert resume and (run.path / ".lock").is_file() and run.has_checkpoint
    run.release()
    started_run(tmp_path / "killed")  # a start killed before its first checkpoint
    run, resume = open_run(tmp_path / "killed", resume=True)
    assert not resume and "holds no checkpoint yet: starting it again" in capsys.readouterr().err
    run.begin()  # the command's new start clears what the killed one left
    assert not run.config_path.exists() and (run.path / ".lock").is_file()
    run.release()
    run, resume = open_run(tmp_path / "new", resume=False)
    assert not resume and not run.path.exists()  # claimed by ``begin`` once the inputs are checked


def test_a_folder_holding_runs_in_subfolders_is_never_cleared_for_a_new_run(tmp_path):
    started_run(tmp_path / "loop")
    started_run(tmp_path / "loop" / "round0" / "ga", checkpoint=True)  # refine-rounds' first child run
    with pytest.raises(InputError, match="holds runs in its subfolders"):
        open_run(tmp_path / "loop", resume=False)
    run, resume = open_run(tmp_path / "loop", resume=True)  # what a re-run of refine-rounds does
    assert resume and run.holds_checkpoint and not run.has_checkpoint
    run.release()
    assert last_checkpoint(tmp_path / "loop" / "round0" / "ga").is_file()


def test_a_lock_whose_process_id_was_reused_is_stale(tmp_path):
    started_run(tmp_path / "run", checkpoint=True)
    lock = tmp_path / "run" / ".lock"
    lock.write_text(process_token(os.getppid()))  # the live process that wrote it
    with pytest.raises(InputError, match=f"in use by process {os.getppid()}"):
        open_run(tmp_path / "run", resume=True)
    if process_token(os.getppid()) == str(os.getppid()):
        pytest.skip("this system tells no process start times (no /proc)")
    start = process_token(os.getppid()).split()[1]
    lock.write_text(f"{os.getppid()} {int(start) + 1}")  # a crashed run's lock, its id now another process's
    run, resume = open_run(tmp_path / "run", resume=True)
    assert resume and lock.read_text() == process_token()
    run.release()


@pytest.mark.parametrize("content", [b"\xff\xfe1234", b"-1", b"99999999999999999999", b"", b"not a pid"])
def test_an_unreadable_lock_is_stale(tmp_path, content):
    started_run(tmp_path / "run", checkpoint=True)
    (tmp_path / "run" / ".lock").write_bytes(content)
    run, resume = open_run(tmp_path / "run", resume=True)
    assert resume and (tmp_path / "run" / ".lock").read_text() == process_token()
    run.release()
