"""Bad input: one line on stderr, exit code 2, never a traceback."""

import subprocess
import sys

import torch

from tests.conftest import FACES, NON_FACES, assert_one_line_error, run_cli


def test_train_fitness_missing_folder(tmp_path, capsys):
    code, err = run_cli(["train-fitness", "--faces", str(tmp_path / "nope"), "--negatives", str(NON_FACES),
                         "--out", str(tmp_path / "run")], capsys)
    assert_one_line_error(code, err, "folder not found")


def test_train_fitness_empty_and_non_image_folders(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    (tmp_path / "text").mkdir()
    (tmp_path / "text" / "readme.txt").write_text("hi")
    for folder in ("empty", "text"):
        code, err = run_cli(["train-fitness", "--faces", str(tmp_path / folder), "--negatives", str(NON_FACES),
                             "--out", str(tmp_path / f"run-{folder}")], capsys)
        assert_one_line_error(code, err, "no readable images")


def test_train_fitness_unwritable_out(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    code, err = run_cli(["train-fitness", "--faces", str(FACES), "--negatives", str(NON_FACES),
                         "--out", str(blocker / "run")], capsys)
    assert_one_line_error(code, err, "cannot write")


def test_train_fitness_size_out_of_range(tmp_path, capsys):
    code, err = run_cli(["train-fitness", "--faces", str(FACES), "--negatives", str(NON_FACES), "--size", "300",
                         "--out", str(tmp_path / "run")], capsys)
    assert_one_line_error(code, err, "--size")


def test_train_fitness_bad_init_checkpoints(tmp_path, capsys):
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"garbage")
    wrong = tmp_path / "wrong.pt"
    torch.save({"kind": "gan"}, wrong)
    for path, fragment in ((corrupt, "cannot read"), (wrong, "'gan' checkpoint")):
        code, err = run_cli(["train-fitness", "--faces", str(FACES), "--negatives", str(NON_FACES), "--max-images",
                             "20", "--init", str(path), "--out", str(tmp_path / f"run-{path.stem}")], capsys)
        assert_one_line_error(code, err, fragment)


def test_resume_of_a_folder_that_is_no_run(tmp_path, capsys):
    code, err = run_cli(["train-fitness", "--resume", str(tmp_path)], capsys)
    assert_one_line_error(code, err, "not a run directory")


def test_torchvision_source_without_download_is_an_input_error(tmp_path, capsys):
    code, err = run_cli(["train-fitness", "--faces", str(FACES), "--negatives", "torchvision:cifar10",
                         "--torchvision-root", str(tmp_path / "tv"), "--out", str(tmp_path / "run")], capsys)
    assert_one_line_error(code, err, "--download")


def test_console_script_exits_2_with_one_line(tmp_path):
    result = subprocess.run([sys.executable, "-m", "cli", "train-fitness", "--faces", str(tmp_path / "x"),
                             "--negatives", str(tmp_path / "y"), "--out", str(tmp_path / "run")],
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "folder not found" in result.stderr
