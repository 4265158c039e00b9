"""Each class of failure a user can meet gives one `error:` line (exit 2) and leaves runs where they belong, resumable
or restartable: bad numbers, wrong-kind or copied runs, options that may not change on resume, killed starts, partial
metrics, old or incomplete checkpoints, failed writes, bad side files."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from cli import main
from evoface.core.checkpoints import load_checkpoint, save_atomic
from evoface.core.configs import RunConfig, bounded, check_fields, new_config, resume_config
from evoface.core.errors import InputError
from evoface.core.options import field_option

EVOLVE = ["--mu", "6", "--q", "2", "--genome-size", "8", "--device", "cpu", "--snapshot-every", "1",
          "--mutation", "reset", "--prior", "none"]  # tiny 8x8 genomes, plain pixel resets


def make_images(folder: Path, n: int, size: int = 32, seed: int = 0) -> Path:
    """n random-noise PNGs: enough for the loaders and a one-epoch training."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(folder / f"{i:03d}.png")
    return folder


def cli(args, capsys) -> tuple[int, str, str]:
    """Run ``evoface ARGS`` in this process: (exit code, stdout, stderr)."""
    with pytest.raises(SystemExit) as done:
        main([str(a) for a in args])
    captured = capsys.readouterr()
    return done.value.code or 0, captured.out, captured.err


def one_error(code: int, err: str, fragment: str) -> str:
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert code == 2 and len(errors) == 1 and "Traceback" not in err, err
    assert fragment in errors[0], errors[0]
    return errors[0]


def generations(run: Path) -> list[int]:
    return [json.loads(line)["generation"] for line in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("data")
    make_images(root / "faces", 24, seed=1)
    make_images(root / "negatives", 24, seed=2)
    return root


@pytest.fixture
def evolve_run(tmp_path, capsys) -> Path:
    run = tmp_path / "ga"
    assert cli(["evolve", "--out", run, "--generations", "4", "--checkpoint-every", "2", *EVOLVE], capsys)[0] == 0
    return run


@pytest.fixture(scope="module")
def fitness_run(tmp_path_factory, data) -> Path:
    run = tmp_path_factory.mktemp("fit") / "run"
    with pytest.raises(SystemExit) as done:
        main(["train-fitness", "--faces", str(data / "faces"), "--negatives", str(data / "negatives"), "--out",
              str(run), "--size", "32", "--epochs", "1", "--batch-size", "8", "--width", "4", "--device", "cpu"])
    assert done.value.code in (None, 0)
    return run


# numbers -----------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("option, value, fragment", [
    ("--sigma", "nan", "not a finite number"), ("--sigma", "inf", "not a finite number"),
    ("--tv-weight", "nan", "not a finite number"), ("--blur-sigma", "-1", "not in the range"),
    ("--target-fitness", "nan", "not a finite number"), ("--seed", "-1", "not in the range"),
    ("--seed", str(2**70), "not in the range"), ("--mu", "1000000000", "not in the range"),
    ("--time-limit", "1e400", "not a positive duration"),
])
def test_bad_numbers_are_one_line_errors_and_leave_no_folder(tmp_path, capsys, option, value, fragment):
    code, _, err = cli(["evolve", "--out", tmp_path / "run", "--generations", "2", *EVOLVE, option, value], capsys)
    one_error(code, err, fragment)
    assert not (tmp_path / "run").exists()


def test_sample_n_has_an_upper_bound_and_a_jpg_out_is_a_grid_image(tmp_path, capsys, evolve_run):
    code, _, err = cli(["sample", "--model", evolve_run, "-n", "1000000000", "--out", tmp_path / "s"], capsys)
    one_error(code, err, "-n")
    code, out, _ = cli(["sample", "--model", evolve_run, "-n", "1", "--out", tmp_path / "s.jpg"], capsys)
    assert code == 0 and (tmp_path / "s.jpg").is_file() and "1 image " in out
    assert Image.open(tmp_path / "s.jpg").format == "JPEG"


def test_help_shows_the_dataclass_defaults_and_ranges(capsys):
    code, out, _ = cli(["evolve", "--help"], capsys)
    assert code == 0
    assert "[default: 100; 2<=x<=100000]" in " ".join(out.split())  # --mu, from EvolveConfig's field
    code, out, _ = cli(["train-gan", "--help"], capsys)
    assert "[default: 0.5; 0.0<=x<1.0]" in " ".join(out.split())  # --beta1


@dataclass
class Toy(RunConfig):
    """A config as someone might add one later: only its fields' declarations."""

    kind = "toy"
    command = "toy"
    resume_changeable = ("steps",)

    out: str
    steps: int = bounded(10, 1, 100)
    rate: float = 0.5          # no declared range: still finite
    width: int = 8             # no declared range: still 64-bit


def test_a_field_added_later_is_validated_offered_and_resumable_from_its_declaration_alone():
    assert field_option(Toy, "steps").type.max == 100 and field_option(Toy, "steps").default == 10
    for bad in (dict(steps=0), dict(rate=float("nan")), dict(rate=float("inf")), dict(width=2**70)):
        with pytest.raises(InputError):
            check_fields(Toy(out="x", **bad))
    assert new_config(Toy, {"out": "x"}).steps == 10
    stored = {"out": "elsewhere", "steps": 10, "rate": 0.5, "width": 8, "kind": "toy"}
    resumed = resume_config(Toy, "here", {"steps": 20}, stored, "toy")
    assert (resumed.out, resumed.steps) == ("here", 20)  # the folder from the caller, never the stored one
    with pytest.raises(InputError, match="--rate cannot change on --resume"):
        resume_config(Toy, "here", {"rate": 0.1}, stored, "toy")
    with pytest.raises(InputError, match="not a toy run"):
        resume_config(Toy, "here", {}, stored, "evolve")


# resume ------------------------------------------------------------------------------------------------------------
def test_resume_rejects_options_that_may_not_change_and_applies_those_that_may(tmp_path, capsys, evolve_run):
    before = (evolve_run / "checkpoints" / "last.pt").read_bytes()
    code, _, err = cli(["evolve", "--resume", evolve_run, "--mu", "50"], capsys)
    one_error(code, err, "--mu cannot change on --resume")
    code, _, err = cli(["evolve", "--resume", evolve_run, "--out", tmp_path / "x"], capsys)
    one_error(code, err, "--out cannot be combined with --resume")
    assert (evolve_run / "checkpoints" / "last.pt").read_bytes() == before
    assert cli(["evolve", "--resume", evolve_run, "--generations", "6", "--indpb", "0.01"], capsys)[0] == 0
    ckpt = load_checkpoint(evolve_run / "checkpoints" / "last.pt", "evolve")
    assert ckpt["generation"] == 6 and ckpt["config"]["indpb"] == 0.01 and ckpt["config"]["mu"] == 6
    assert generations(evolve_run) == list(range(1, 7))


def test_resume_trains_the_folder_given_not_the_stored_one(tmp_path, capsys, evolve_run):
    backup = tmp_path / "backup"
    shutil.copytree(evolve_run, backup)
    original = (evolve_run / "checkpoints" / "last.pt").read_bytes()
    assert cli(["evolve", "--resume", backup, "--generations", "6"], capsys)[0] == 0
    assert (evolve_run / "checkpoints" / "last.pt").read_bytes() == original
    assert load_checkpoint(backup / "checkpoints" / "last.pt", "evolve")["generation"] == 6


def test_train_fitness_resume_applies_typed_options_and_refuses_others(tmp_path, capsys, fitness_run):
    copy = tmp_path / "fit"
    shutil.copytree(fitness_run, copy)
    code, _, err = cli(["train-fitness", "--resume", copy, "--lr", "0.5"], capsys)
    one_error(code, err, "--lr cannot change on --resume")
    assert cli(["train-fitness", "--resume", copy, "--epochs", "2"], capsys)[0] == 0
    assert [json.loads(line)["epoch"] for line in (copy / "metrics.jsonl").read_text().splitlines()] == [1, 2]


def test_resuming_a_run_of_another_kind_names_both(capsys, evolve_run, fitness_run):
    code, _, err = cli(["evolve", "--resume", fitness_run], capsys)
    one_error(code, err, "not an evolve run")
    code, _, err = cli(["train-gan", "--resume", evolve_run], capsys)
    one_error(code, err, "not a train-gan run")
    code, _, err = cli(["train-fitness", "--resume", evolve_run], capsys)
    one_error(code, err, "not a train-fitness run")


def test_broken_configs_and_incomplete_checkpoints_are_one_line_errors(tmp_path, capsys, evolve_run):
    run = tmp_path / "copy"
    shutil.copytree(evolve_run, run)
    ckpt = torch.load(run / "checkpoints" / "last.pt", weights_only=True)
    del ckpt["elapsed"]
    torch.save(ckpt, run / "checkpoints" / "last.pt")
    one_error(*cli(["evolve", "--resume", run], capsys)[::2], "lacks elapsed")
    torch.save({**ckpt, "format": 99}, run / "checkpoints" / "last.pt")
    one_error(*cli(["evolve", "--resume", run], capsys)[::2], "format 99")
    (run / "checkpoints" / "last.pt").write_bytes(b"\x80\x02garbage")
    one_error(*cli(["evolve", "--resume", run], capsys)[::2], "not an evoface checkpoint")
    for text in ("", "[1, 2]", "{\"out\": 3"):
        (run / "config.json").write_text(text)
        (run / "checkpoints" / "last.pt").unlink(missing_ok=True)
        one_error(*cli(["evolve", "--resume", run], capsys)[::2], "config.json")


def test_checkpoints_carry_their_format_and_old_ones_are_upgraded(tmp_path):
    path = tmp_path / "gan.pt"
    generator = {"w": torch.zeros(2)}
    torch.save({"kind": "gan", "model_config": {}, "generator": generator, "epoch": 1}, path)  # evoface 0.1
    ckpt = load_checkpoint(path, "gan")
    assert ckpt["format"] == 2 and torch.equal(ckpt["trained_generator"]["w"], generator["w"])
    save_atomic({"kind": "gan", "model_config": {}, "generator": generator}, path)
    raw = torch.load(path, weights_only=True)
    assert raw["format"] == 2 and raw["evoface_version"] not in ("", None)


# run folders -------------------------------------------------------------------------------------------------------
def test_a_start_killed_before_its_first_checkpoint_can_be_retried_either_way(tmp_path, capsys, evolve_run):
    run = tmp_path / "killed"
    run.mkdir()
    shutil.copy(evolve_run / "config.json", run / "config.json")  # what a start killed before its checkpoint leaves
    (run / "metrics.jsonl").write_text('{"generation": 1}\n{"generation": 2')
    (run / "checkpoints").mkdir()
    (run / "checkpoints" / "last.pt.abc123.tmp").write_bytes(b"")
    (run / ".lock").write_text("999999999")  # a dead process's lock
    code, _, err = cli(["evolve", "--resume", run], capsys)
    assert code == 0 and "holds no checkpoint yet: starting it again" in err, err
    assert generations(run) == [1, 2, 3, 4] and not list(run.glob("checkpoints/*.tmp")) and not (run / ".lock").exists()
    shutil.rmtree(run / "checkpoints")  # and again, this time with --out
    assert cli(["evolve", "--out", run, "--generations", "3", *EVOLVE], capsys)[0] == 0
    assert generations(run) == [1, 2, 3]


def test_a_folder_in_use_or_holding_something_else_is_refused(tmp_path, capsys, evolve_run):
    (evolve_run / ".lock").write_text(str(os.getppid()))  # a live process that is not this one
    try:
        one_error(*cli(["evolve", "--resume", evolve_run, "--generations", "6"], capsys)[::2], "in use by process")
    finally:
        (evolve_run / ".lock").unlink()
    one_error(*cli(["evolve", "--out", evolve_run, *EVOLVE], capsys)[::2], "already holds a run")
    other = tmp_path / "photos"
    other.mkdir()
    (other / "holiday.jpg").write_bytes(b"x")
    one_error(*cli(["evolve", "--out", other, *EVOLVE], capsys)[::2], "holds no evoface run")
    assert [p.name for p in other.iterdir()] == ["holiday.jpg"]


def test_a_partial_last_metrics_line_is_dropped_with_a_warning(capsys, evolve_run):
    with (evolve_run / "metrics.jsonl").open("a") as handle:
        handle.write('{"generation": 5, "max": 0.')  # what a crash mid-write leaves
    code, _, err = cli(["evolve", "--resume", evolve_run, "--generations", "6"], capsys)
    assert code == 0 and "warning:" in err and "dropped 1 unreadable line" in err
    assert generations(evolve_run) == [1, 2, 3, 4, 5, 6]


def test_a_failed_checkpoint_write_is_one_line_and_keeps_the_last_checkpoint(capsys, monkeypatch, evolve_run):
    import evoface.core.checkpoints as checkpoints

    def full_disk(obj, handle):
        raise RuntimeError("[enforce fail at inline_container.cc:603] . PytorchStreamWriter failed writing file")

    monkeypatch.setattr(checkpoints.torch, "save", full_disk)
    code, _, err = cli(["evolve", "--resume", evolve_run, "--generations", "8"], capsys)
    one_error(code, err, "the previous last.pt is intact")
    monkeypatch.undo()
    assert load_checkpoint(evolve_run / "checkpoints" / "last.pt", "evolve")["generation"] == 4
    assert not list((evolve_run / "checkpoints").glob("*.tmp"))
    assert cli(["evolve", "--resume", evolve_run, "--generations", "8"], capsys)[0] == 0
    assert generations(evolve_run) == list(range(1, 9))


def test_failed_metrics_write_says_the_checkpoint_is_intact(capsys, monkeypatch, evolve_run):
    from evoface.core.rundir import RunDir

    def read_only(self, mode="r", *args, **kwargs):
        if mode == "a":
            raise PermissionError(13, "Permission denied", str(self))
        return original(self, mode, *args, **kwargs)

    original = Path.open
    monkeypatch.setattr(Path, "open", read_only)
    code, _, err = cli(["evolve", "--resume", evolve_run, "--generations", "6"], capsys)
    monkeypatch.undo()
    one_error(code, err, "the last checkpoint is intact")
    assert RunDir(evolve_run, create=False).has_checkpoint


# side files and data -----------------------------------------------------------------------------------------------
def test_generative_inputs_are_checked_before_the_folder_is_made(tmp_path, capsys, data):
    base = ["train-gan", "--data", data / "faces", "--out", tmp_path / "gan", "--size", "32", "--batch-size", "4",
            "--device", "cpu"]
    hubs = set(Path(tempfile.gettempdir()).glob("evoface-hub-*"))
    one_error(*cli([*base, "--fid-every", "1"], capsys)[::2], "--fid-every needs --holdout")
    garbage = tmp_path / "weights.pth"
    garbage.write_bytes(os.urandom(256))
    one_error(*cli([*base, "--fid-every", "1", "--holdout", "0.2", "--inception-weights", garbage], capsys)[::2],
              "not the FID Inception state dict")
    one_error(*cli([*base, "--batch-size", "1000"], capsys)[::2], "fewer than --batch-size 1000")
    assert not (tmp_path / "gan").exists()
    assert set(Path(tempfile.gettempdir()).glob("evoface-hub-*")) == hubs  # the FID model's temporary hub is gone


def test_a_binary_meqfi_sheet_is_an_error(tmp_path, capsys):
    sheet = tmp_path / "sheet.csv"
    sheet.write_bytes(bytes(range(256)) * 4)
    one_error(*cli(["compare", "--meqfi-scores", sheet, "--out", tmp_path / "report"], capsys)[::2],
              "not an MEQFI sheet")
    assert not (tmp_path / "report").exists()


def test_tiny_images_are_skipped_with_a_warning(tmp_path, capsys):
    from fitness_data.folder import load_folder

    folder = make_images(tmp_path / "imgs", 3)
    Image.fromarray(np.zeros((1, 1, 3), np.uint8)).save(folder / "pixel.png")
    loaded = load_folder(folder, 32)
    assert len(loaded.images) == 3 and loaded.skipped == 1
    assert "skipped 1 file that" in capsys.readouterr().err


def test_messages_count_in_words(tmp_path, capsys):
    code, out, _ = cli(["evolve", "--out", tmp_path / "one", "--generations", "1", *EVOLVE], capsys)
    assert code == 0 and "reached 1 generation at" in out


@pytest.mark.slow
def test_the_console_script_never_prints_a_traceback_for_an_io_error(tmp_path, evolve_run):
    target = tmp_path / "grid.png"
    target.mkdir()  # a folder where the grid should go
    result = subprocess.run([sys.executable, "-m", "cli", "sample", "--model", str(evolve_run), "-n", "2",
                             "--out", str(target)], capture_output=True, text=True, cwd=Path(__file__).parents[1])
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.startswith("error:") and result.stderr.count("\n") == 1
