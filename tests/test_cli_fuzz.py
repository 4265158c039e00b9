"""Property: whatever number or path a user types into any numeric or path option of any command, evoface exits 0 or 2;
on 2 it prints exactly one `error:` line and no traceback, leaves no new folder behind, and leaves existing runs as
they were. The options are read from the commands themselves, so options added later are fuzzed too.

The same holds, within seconds and with a retry that nothing blocks, for Ray cluster addresses, the studio's ports
and hosts, and run folders of every kind whose config.json is damaged. Network traffic goes to loopback addresses
only; a host name that must not resolve meets a test double of the resolver, never a lookup."""

from __future__ import annotations

import dataclasses
import importlib
import ipaddress
import json
import os
import shutil
import socket
import time
import uuid
from pathlib import Path

import click
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cli
from conftest import assert_one_line_error, run_cli
from evoface.core import network
from evoface.core.checkpoints import save_atomic
from evoface.core.configs import run_config
from evoface.core.options import Duration
from evoface.core.rundir import RunDir
from tests.test_run_safety import make_images

NUMBERS = ["nan", "inf", "-inf", "-1", "0", "-0", "1e15", str(2**70), "abc", ""]
PATHS = ["garbage", "text", "missing", "empty_dir", "evolve_run", "fitness_run", ""]
NOT_FUZZED = {"studio": "serves a web page until stopped: its numbers and paths belong to the studio's own tests, its "
                        "ports and hosts are fuzzed below (test_studio_ports_and_hosts_...)"}
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
        "illuminate": ["--out", str(out), "--evaluations", "8", "--batch", "4", "--emitter-count", "2", "--cells",
                       "3x3", "--device", "cpu"],
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


COMMANDS = ["evolve", "train-fitness", "train-gan", "train-vae", "sample", "compare", "refine-rounds", "train-prior",
            "illuminate"]


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


# cluster addresses, ports and hosts --------------------------------------------------------------------------------
UNRESOLVABLE = "no-such-host.invalid"
FAIL_WITHIN_S = 30


@pytest.fixture
def resolver(monkeypatch):
    """The resolver's test double: UNRESOLVABLE does not resolve, loopback addresses do, anything else fails the
    test (nothing is looked up, and no traffic leaves this machine)."""
    real = network.lookup

    def lookup(host: str, port: int, passive: bool = False) -> list[tuple]:
        if host == UNRESOLVABLE:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        assert network.is_ip(host) and ipaddress.ip_address(host).is_loopback, f"a test looked up {host}"
        return real(host, port, passive)

    monkeypatch.setattr(network, "lookup", lookup)


@pytest.fixture
def busy_port():
    """A loopback port another socket listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then closed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def check_refused(args: list[str], fragment: str, out: Path, capsys) -> float:
    """``evoface ARGS`` exits 2 with one error line holding ``fragment`` and writes no ``out``; run again, it gives the
    same error (nothing of the first call blocks a retry). Returns the seconds the first call took."""
    seconds = []
    for _ in range(2):
        started = time.perf_counter()
        code, err = run_cli(args, capsys)
        seconds.append(time.perf_counter() - started)
        assert_one_line_error(code, err, fragment)
        assert not out.exists(), err
    return seconds[0]


@pytest.mark.parametrize("address, fragment", [
    ("127.0.0.1:{closed}", "ray start --head"),
    ("127.0.0.1", "HOST:PORT"), ("127.0.0.1:0", "HOST:PORT"), ("127.0.0.1:70000", "HOST:PORT"),
    ("[::1]:x", "HOST:PORT"), ("bad host!:6379", "not a host name"), (f"{UNRESOLVABLE}:6379", "cannot resolve")])
def test_ray_cluster_addresses_that_cannot_be_joined_are_one_error_line(address, fragment, tmp_path, capsys,
                                                                        resolver):
    address = address.format(closed=closed_port())
    out = tmp_path / "run"
    args = ["evolve", "--out", str(out), *EVOLVE, "--islands", "2", "--ray-address", address]
    assert check_refused(args, fragment, out, capsys) < FAIL_WITHIN_S


def test_an_unreachable_cluster_is_named_with_how_to_start_a_head(tmp_path, capsys, resolver):
    address = f"127.0.0.1:{closed_port()}"
    code, err = run_cli(["evolve", "--out", str(tmp_path / "run"), *EVOLVE, "--islands", "2", "--ray-address",
                         address], capsys)
    assert_one_line_error(code, err, address)
    assert "refused" in err and "ray start --head" in err


@pytest.mark.parametrize("case", ["busy port", "unresolvable host", "malformed host", "empty host"])
def test_studio_ports_and_hosts_that_cannot_be_served_leave_nothing_behind(case, busy_port, tmp_path, capsys,
                                                                           resolver):
    options, fragment = {
        "busy port": (["--port", str(busy_port)], "--port 0 for any free port"),
        "unresolvable host": (["--host", UNRESOLVABLE], f"cannot resolve --host {UNRESOLVABLE}"),
        "malformed host": (["--host", "bad host!"], "not a host name"),
        "empty host": (["--host", ""], "not a host name"),
    }[case]
    out = tmp_path / "session"
    assert check_refused(["studio", "--out", str(out), "--genome", "pixel", *options], fragment, out,
                         capsys) < FAIL_WITHIN_S


def test_a_studio_session_resumed_on_a_busy_port_is_left_as_it_was(runs, busy_port, tmp_path, capsys):
    session = copy_run(runs["studio"], tmp_path)
    before = snapshot(session)
    code, err = run_cli(["studio", "--resume", str(session), "--port", str(busy_port)], capsys)
    assert_one_line_error(code, err, "in use by another program")
    assert snapshot(session) == before and not (session / ".lock").exists()


# damaged config files of every kind -------------------------------------------------------------------------------
# per kind: the command line that resumes a run of it, and a field that a resume may not change
RESUMES = {
    "evolve": (["evolve", "--resume", "{run}", "--generations", "3"], "mu"),
    "islands": (["evolve", "--resume", "{run}", "--generations", "3"], "mu"),
    "train-fitness": (["train-fitness", "--resume", "{run}", "--epochs", "2"], "width"),
    "train-gan": (["train-gan", "--resume", "{run}", "--epochs", "2"], "nz"),
    "train-vae": (["train-vae", "--resume", "{run}", "--epochs", "2"], "latent"),
    "studio": (["studio", "--resume", "{run}"], "grid"),
}
DAMAGES = {"not JSON": "{", "a list": "[]"}


def config_type(kind: str) -> type:
    """The config class of a kind, as its command declares it."""
    command = cli.evoface.commands[RESUMES[kind][0][0]]
    module, _, name = command.callback.__config_options__[0][0].partition(":")
    return getattr(importlib.import_module(module), name)


def copy_run(run: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(run, tmp_path / run.name))


@pytest.fixture(scope="module")
def runs(world, tmp_path_factory) -> dict[str, Path]:
    """A run of every kind with a checkpoint: the world's evolve and train-fitness runs, tiny train-gan, train-vae and
    train-prior runs, a studio session, and an island run's checkpoint (the evolve run's, combined as two islands;
    made without Ray)."""
    from evoface.island_state import combine_states
    from evoface.studio.session import StudioConfig, StudioSession

    root = tmp_path_factory.mktemp("kinds")
    made = {"evolve": world["evolve_run"], "train-fitness": world["fitness_run"]}
    for kind in ("train-gan", "train-vae", "train-prior"):
        made[kind] = root / kind
        with pytest.raises(SystemExit) as done:
            cli.main([kind, *base_args(kind, world, made[kind])])
        assert done.value.code in (None, 0)
    made["studio"] = root / "studio"
    StudioSession(StudioConfig(out=str(made["studio"]), genome="pixel")).close()
    evolve_run = RunDir(world["evolve_run"], create=False)
    made["islands"] = root / "islands"
    islands = dataclasses.replace(evolve_run.read_config(config_type("evolve")), out=str(made["islands"]), islands=2)
    state = torch.load(evolve_run.last_checkpoint, weights_only=True)
    run = RunDir.unclaimed(made["islands"]).begin()
    run.write_config(islands)
    save_atomic(combine_states([state, state], islands, elapsed=1.0), run.last_checkpoint)
    run.release()
    return made


def damage(run: Path, field: str, how: str) -> None:
    """Damage config.json: empty it, drop ``field``, change ``field``, or write what is no config."""
    path = run / "config.json"
    stored = json.loads(path.read_text())
    if how == "empty":
        stored = {}
    elif how == "missing":
        del stored[field]
    elif how == "disagrees":
        stored[field] += 1
    else:
        path.write_text(DAMAGES[how])
        return
    path.write_text(json.dumps(stored))


@pytest.mark.parametrize("kind", sorted(RESUMES))
@pytest.mark.parametrize("how", ["disagrees", *DAMAGES])
def test_a_damaged_config_is_one_error_line_and_the_run_stays_as_it_was(kind, how, runs, tmp_path, capsys):
    run = copy_run(runs[kind], tmp_path)
    args, field = RESUMES[kind]
    damage(run, field, how)
    before = snapshot(run)
    for _ in range(2):  # a retry meets the same error: nothing was left locked
        code, err = run_cli([arg.format(run=run) for arg in args], capsys)
        assert_one_line_error(code, err, "config.json")
        if how == "disagrees":
            assert f"{field} is" in err and "in the checkpoint" in err
        assert snapshot(run) == before and not (run / ".lock").exists()


@pytest.mark.parametrize("kind", sorted(RESUMES))
@pytest.mark.parametrize("how", ["empty", "missing"])
def test_what_a_damaged_config_lacks_is_taken_from_the_checkpoint(kind, how, runs, tmp_path, capsys):
    run = copy_run(runs[kind], tmp_path)
    field = RESUMES[kind][1]
    saved = torch.load(run / "checkpoints" / "last.pt", weights_only=True)["config"]
    damage(run, field, how)
    config, resume = run_config(config_type(kind), {}, run)
    assert resume and getattr(config, field) == saved[field]
    assert {k: v for k, v in vars(config).items() if k != "out"} == {k: v for k, v in saved.items() if k != "out"}
    warning = capsys.readouterr().err
    assert "config.json lacks" in warning and "checkpoint" in warning
    if how == "missing":
        assert field in warning


def test_an_evolve_run_whose_config_is_empty_resumes_with_its_checkpoint_population(runs, tmp_path, capsys):
    """The issue's case: config.json holds {}; the run goes on with the checkpoint's own population size."""
    run = copy_run(runs["evolve"], tmp_path)
    mu = len(torch.load(run / "checkpoints" / "last.pt", weights_only=True)["genes"])
    damage(run, "mu", "empty")
    with pytest.raises(SystemExit) as done:
        cli.main(["evolve", "--resume", str(run), "--generations", "3"])
    assert done.value.code in (None, 0), capsys.readouterr().err
    ckpt = torch.load(run / "checkpoints" / "last.pt", weights_only=True)
    assert ckpt["generation"] == 3 and len(ckpt["genes"]) == mu


@pytest.mark.parametrize("how", ["empty", "disagrees", *DAMAGES])
def test_a_train_prior_folder_with_a_damaged_config_is_left_as_it_was(how, runs, world, tmp_path, capsys):
    run = copy_run(runs["train-prior"], tmp_path)
    damage(run, "components", how)
    before = snapshot(run)
    code, err = run_cli(["train-prior", *base_args("train-prior", world, run)], capsys)
    assert_one_line_error(code, err, str(run))
    assert snapshot(run) == before
