"""Property: whatever number or path a user types into any numeric or path option of any command, evoface exits 0 or 2;
on 2 it prints exactly one `error:` line and no traceback, leaves no new folder behind, and leaves existing runs as
they were. The options are read from the commands themselves, so options added later are fuzzed too."""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import click
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cli
from evoface.core.options import Duration
from tests.test_run_safety import make_images

NUMBERS = ["nan", "inf", "-inf", "-1", "0", "-0", "1e15", str(2**70), "abc", ""]
PATHS = ["garbage", "text", "missing", "empty_dir", "evolve_run", "fitness_run", ""]
NOT_FUZZED = {"studio": "serves a web page until stopped; its options belong to the studio's own tests"}
EVOLVE = ["--generations", "2", "--mu", "6", "--q", "2", "--genome-size", "8", "--checkpoint-every", "1",
          "--snapshot-every", "1", "--device", "cpu", "--mutation", "reset", "--prior", "none"]
TRAIN = ["--size", "32", "--epochs", "1", "--batch-size", "8", "--max-images", "12", "--device", "cpu"]


def base_args(command: str, world: dict[str, Path], out: Path) -> list[str]:
    """A tiny valid call of each command: a fuzzed option typed after it replaces its value."""
    faces, negatives = str(world["faces"]), str(world["negatives"])
    return {
        "evolve": ["--out", str(out), *EVOLVE],
        "train-fitness": ["--faces", faces, "--negatives", negatives, "--out", str(out), "--width", "4", *TRAIN],
        "train-gan": ["--data", faces, "--out", str(out), "--nz", "4", "--ngf", "4", "--ndf", "4", *TRAIN],
        "train-vae": ["--data", faces, "--out", str(out), "--latent", "4", "--width", "4", *TRAIN],
        "sample": ["--model", str(world["evolve_run"]), "-n", "2", "--out", str(out)],
        "compare": ["--ga", str(world["evolve_run"]), "--real", faces, "--out", str(out), "-n", "2"],
        "train-prior": ["--faces", faces, "--negatives", negatives, "--out", str(out), "--size", "32",
                        "--components", "4", "--max-images", "12"],
        "refine-rounds": ["--faces", faces, "--negatives", negatives, "--out", str(out), "--rounds", "1",
                          "--generations", "2", "--epochs", "1", "--max-images", "12", "--genome-size", "8",
                          "--device", "cpu"],
    }[command]


def command_options(command: str) -> tuple[list[str], list[str]]:
    """The command's numeric options and its path options (click.Path, or a DIR/RUN metavar), as flags."""
    cmd = cli.evoface.commands[command]
    params = [p for p in cmd.get_params(click.Context(cmd)) if isinstance(p, click.Option) and p.opts[0] != "--help"]
    numeric = [p.opts[0] for p in params if isinstance(p.type, (click.types.IntParamType, click.types.FloatParamType,
                                                                  Duration))
               or (isinstance(p.type, click.Choice) and all(isinstance(c, int) for c in p.type.choices))]
    paths = [p.opts[0] for p in params if isinstance(p.type, click.Path) or p.metavar in ("DIR", "RUN")]
    return numeric, paths


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module", autouse=True)
def _scratch_working_folder(tmp_path_factory):
    """Relative paths that a fuzzed option names (or "" for the current folder) land in a scratch folder, never in
    the repository the tests run from."""
    previous = os.getcwd()
    os.chdir(tmp_path_factory.mktemp("cwd"))
    yield
    os.chdir(previous)


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("fuzz")
    world = {"root": root, "faces": make_images(root / "faces", 16, seed=1),
             "negatives": make_images(root / "negatives", 16, seed=2)}
    for name, args in (("evolve_run", ["evolve", "--out", str(root / "evolve_run"), *EVOLVE]),
                       ("fitness_run", ["train-fitness", "--faces", str(world["faces"]), "--negatives",
                                        str(world["negatives"]), "--out", str(root / "fitness_run"), "--width", "4",
                                        *TRAIN])):
        with pytest.raises(SystemExit) as done:
            cli.main(args)
        assert done.value.code in (None, 0)
        world[name] = root / name
    return world


def path_value(kind: str, workspace: Path, world: dict[str, Path]) -> str:
    if kind in ("evolve_run", "fitness_run"):
        return str(world[kind])
    if kind == "garbage":
        (workspace / "garbage.pt").write_bytes(os.urandom(512))
        return str(workspace / "garbage.pt")
    if kind == "text":
        (workspace / "notes.txt").write_text("not an image, a run or a checkpoint\n")
        return str(workspace / "notes.txt")
    if kind == "empty_dir":
        (workspace / "empty").mkdir(exist_ok=True)
        return str(workspace / "empty")
    return "" if kind == "" else str(workspace / "missing" / "thing")


def check_call(command: str, option: str, value, world: dict[str, Path], capsys) -> None:
    """Run the command with ``option value`` (``value`` may be a function of a fresh workspace folder) and check
    the property."""
    workspace = world["root"] / f"ws-{uuid.uuid4().hex[:8]}"
    workspace.mkdir()
    try:
        value = value(workspace) if callable(value) else value
        before = {name: snapshot(world[name]) for name in ("evolve_run", "fitness_run")}
        entries = set(workspace.rglob("*"))
        out = workspace / "out"
        with pytest.raises(SystemExit) as done:
            cli.main([command, *base_args(command, world, out), option, value])
        code, err = done.value.code or 0, capsys.readouterr().err
        assert code in (0, 2), (command, option, value, err)
        assert "Traceback" not in err, err
        if code == 2:
            errors = [line for line in err.splitlines() if line.startswith("error:")]
            assert len(errors) == 1, (command, option, value, err)
            left = set(workspace.rglob("*")) - entries
            if command == "refine-rounds" and any(out.rglob("last.pt")):  # finished rounds stay: a re-run resumes
                left = {p for p in left if p != out and out not in p.parents}
            assert not left, (command, option, value, "left something behind")
            for name, files in before.items():
                assert snapshot(world[name]) == files, (command, option, value, f"touched {name}")
    finally:
        shutil.rmtree(workspace, ignore_errors=True)


COMMANDS = ["evolve", "train-fitness", "train-gan", "train-vae", "sample", "compare", "refine-rounds", "train-prior"]


def test_every_command_is_fuzzed():
    assert set(cli.evoface.commands) == set(COMMANDS) | set(NOT_FUZZED)


@pytest.mark.slow
@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("kind", ["numeric", "path"])
def test_options_never_crash(command, kind, world, capsys):
    """Numeric options get NUMBERS (most are rejected at once, so more examples); path options get PATHS."""
    numeric, paths = command_options(command)
    options, values, examples = (numeric, NUMBERS, 40) if kind == "numeric" else (paths, PATHS, 12)
    assert options, command

    @settings(max_examples=examples, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(option=st.sampled_from(options), value=st.sampled_from(values))
    def run(option, value):
        check_call(command, option, value if kind == "numeric" else
                   (lambda workspace: path_value(value, workspace, world)), world, capsys)

    run()
