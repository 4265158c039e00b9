"""evolve --islands: seeds, the combined checkpoint and migration without Ray; on a local Ray instance a run's
outputs, Ctrl-C, exact resume and a killed island; and a real two-node Ray cluster on this machine."""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import assert_one_line_error, run_cli
from evoface.core.checkpoints import load_checkpoint
from evoface.core.rundir import RunDir
from evoface.evolve import EvolveConfig
from evoface.island_state import combine_states, island_seed, ring_sources, split_state

HAS_RAY = importlib.util.find_spec("ray") is not None
needs_ray = pytest.mark.skipif(not HAS_RAY, reason='ray is not installed (pip install -e ".[distributed]")')
TINY = dict(mu=10, q=2, migration_every=5, migrants=2, checkpoint_every=5, snapshot_every=10, top_k=4)
TIMING = ("generations_per_s",)


def tiny_config(out, islands=2, generations=20, **overrides) -> EvolveConfig:
    return EvolveConfig(out=str(out), islands=islands, generations=generations, **{**TINY, **overrides})


def final_state(run_dir) -> dict:
    return load_checkpoint(Path(run_dir) / "checkpoints" / "last.pt", "evolve", for_resume=True)


def metrics_without_timing(run_dir) -> list[dict]:
    return [{k: v for k, v in row.items() if k not in TIMING} for row in RunDir(run_dir, create=False).read_metrics()]


def assert_same_run(a, b) -> None:
    """Two island runs ended in the same state: every island's genes, fitness, random sources; the same metrics."""
    first, second = final_state(a), final_state(b)
    assert first["generation"] == second["generation"]
    assert torch.equal(first["genes"], second["genes"])
    assert torch.equal(first["fitness"], second["fitness"])
    assert torch.equal(first["hof_fitness"], second["hof_fitness"])
    assert [s["seed_stream"] for s in first["islands"]] == [s["seed_stream"] for s in second["islands"]]
    assert metrics_without_timing(a) == metrics_without_timing(b)


# without Ray ------------------------------------------------------------------------------------------------
def test_island_seeds_are_distinct_and_reproducible():
    seeds = [island_seed(7, i) for i in range(64)]
    assert len(set(seeds)) == 64
    assert seeds == [island_seed(7, i) for i in range(64)]
    assert island_seed(8, 0) != island_seed(7, 0)


def test_ring_sends_each_island_best_to_the_next():
    assert ring_sources(4) == [3, 0, 1, 2]


def _fake_state(island: int, mu: int, length: int) -> dict:
    rng = np.random.default_rng(island)
    return {"kind": "evolve", "generation": 5, "image_size": 8, "genome": "pixel",
            "genes": torch.from_numpy(rng.integers(0, 256, (mu, length), dtype=np.uint8)),
            "fitness": torch.from_numpy(rng.random(mu)),
            "hof_genes": torch.full((2, length), island, dtype=torch.uint8),
            "hof_fitness": torch.tensor([0.5 + island / 10, 0.1]), "rng": {"island": island},
            "seed_stream": 1000 + island, "elites_first": bool(island % 2), "elapsed": 1.0 + island, "config": {}}


def test_combined_checkpoint_holds_every_island_and_splits_back_exactly(tmp_path):
    config = tiny_config(tmp_path / "run", islands=3, top_k=2)
    states = [_fake_state(i, mu=10, length=12) for i in range(3)]
    combined = combine_states(states, config, elapsed=9.0)
    assert combined["genes"].shape == (30, 12)  # every island's rows, as one evolve population
    assert combined["hof_fitness"].tolist() == pytest.approx([0.7, 0.6])  # the best of all islands
    assert torch.equal(combined["hof_genes"][0], torch.full((12,), 2, dtype=torch.uint8))
    for i, state in enumerate(states):
        back = split_state(combined, i, config)
        for key in ("genes", "fitness", "hof_genes", "hof_fitness"):
            assert torch.equal(back[key], state[key]), key
        for key in ("rng", "seed_stream", "elites_first", "elapsed", "generation"):
            assert back[key] == state[key], key


def test_migration_moves_the_best_over_the_worst(tmp_path):
    from evoface.island_actor import Island

    config = tiny_config(tmp_path / "run", islands=2, mu=6, q=1, migrants=2)
    source, target = Island(config, 0), Island(config, 1)
    source.advance(3)
    genes, fitness = source.emigrants(2)
    assert fitness[0] == source.evolution.ga.fitness.max()
    before = target.evolution.ga.fitness.copy()
    target.immigrate(genes, fitness)
    ga = target.evolution.ga
    kept = np.sort(before)[2:]  # the two worst are gone, the rest stays
    assert sorted(ga.fitness.tolist()) == pytest.approx(sorted([*kept, *fitness]))
    assert any(np.array_equal(row, genes[0]) for row in ga.genes)
    target.advance(2)  # it goes on evolving with the immigrants
    assert target.evolution.ga.fitness.max() >= fitness[0]
    assert not (tmp_path / "run").exists()  # islands write nothing into the run's folder themselves


def test_islands_without_ray_say_how_to_install_it(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # as if ray were not installed
    code, err = run_cli(["evolve", "--out", str(tmp_path / "run"), "--islands", "2", "--generations", "5"], capsys)
    assert_one_line_error(code, err, 'pip install -e ".[distributed]"')
    assert not (tmp_path / "run" / "config.json").exists()


def test_island_options_are_checked(tmp_path, capsys):
    code, err = run_cli(["evolve", "--out", str(tmp_path / "run"), "--islands", "2", "--mu", "10", "--q", "2",
                         "--migrants", "10"], capsys)
    assert_one_line_error(code, err, "--migrants")


# on a local Ray instance ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def reference_run(tmp_path_factory):
    """An uninterrupted run of 2 islands for 40 generations."""
    from evoface.islands import evolve_islands

    out = tmp_path_factory.mktemp("islands") / "reference"
    summary = evolve_islands(tiny_config(out, generations=40))
    return out, summary


@needs_ray
@pytest.mark.slow
def test_island_run_writes_one_run_directory_of_every_island(reference_run):
    import ray

    out, summary = reference_run
    assert not ray.is_initialized()  # shut down at the end
    rows = RunDir(out, create=False).read_metrics()
    assert [(r["generation"], r["island"]) for r in rows] == [(g, i) for g in range(1, 41) for i in (0, 1)]
    ckpt = final_state(out)
    assert ckpt["genes"].shape[0] == 2 * TINY["mu"] and len(ckpt["islands"]) == 2
    assert ckpt["hof_fitness"][0] == pytest.approx(summary["best_fitness"])
    # the overall best: at least the best row's (a copy polished of its stray dots may score higher)
    assert ckpt["hof_fitness"][0] >= max(r["max"] for r in rows) - 1e-9
    assert (out / "top_grid.png").is_file() and (out / "plots" / "fitness.png").is_file()
    assert sorted(p.name for p in (out / "samples").glob("best_*.png"))[-1] == "best_0000040.png"
    first_rows = {i: [r for r in rows if r["island"] == i and r["generation"] == 1][0] for i in (0, 1)}
    assert first_rows[0]["max"] != first_rows[1]["max"]  # islands start from their own seeds
    assert len({island["pid"] for island in summary["islands"]}) == 2  # one process per island


@needs_ray
@pytest.mark.slow
def test_ctrl_c_keeps_the_checkpoint_and_resume_continues_every_island_exactly(reference_run, tmp_path):
    out = tmp_path / "stopped"
    args = ["--generations", "40", *[f"--{k.replace('_', '-')}={v}" for k, v in TINY.items()]]
    process = subprocess.Popen([sys.executable, "-c", "import cli; cli.main()", "evolve", "--out", str(out),
                                "--islands", "2", *args], stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                               cwd=tmp_path)
    try:
        deadline = time.monotonic() + 240
        while not (out / "checkpoints" / "last.pt").is_file() and time.monotonic() < deadline:
            time.sleep(0.05)
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=120)
    finally:
        process.kill()
    assert process.returncode == 0, stderr[-2000:]
    assert "interrupted at generation" in stdout, stdout
    stopped_at = final_state(out)["generation"]
    assert 5 <= stopped_at < 40
    from evoface.evolve import resume_config
    from evoface.islands import evolve_islands

    evolve_islands(resume_config(out), resume=True)
    assert_same_run(out, reference_run[0])


@needs_ray
@pytest.mark.slow
def test_a_killed_island_restarts_from_the_checkpoint_and_the_run_goes_on(reference_run, tmp_path, capsys):
    from evoface.islands import evolve_islands

    killed = []

    def kill_island_1(model):
        if model.generation == 10 and not killed:
            pid = model.where()[1]["pid"]
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    out = tmp_path / "killed"
    started = time.monotonic()
    summary = evolve_islands(tiny_config(out, generations=40), after_epoch=kill_island_1)
    assert time.monotonic() - started < 300
    assert killed and summary["islands"][1]["pid"] != killed[0]  # island 1 runs in a new process
    assert "an island was lost" in capsys.readouterr().err
    assert_same_run(out, reference_run[0])  # as if nothing had happened


# a real two-node cluster -------------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _ray(*args: str, timeout: float = 120) -> None:
    ray_cli = Path(sys.executable).with_name("ray")
    subprocess.run([str(ray_cli), *args], check=True, timeout=timeout, capture_output=True)


@needs_ray
@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("EVOFACE_TEST_RAY_CLUSTER") != "1",
                    reason="a multi-node Ray cluster listens on this machine's network address, not on loopback: "
                           "set EVOFACE_TEST_RAY_CLUSTER=1 to run it")
def test_islands_on_a_two_node_cluster(tmp_path):
    """A head node and a worker node of one CPU each: the two islands run one on each."""
    from evoface.islands import evolve_islands

    port = _free_port()
    address = f"127.0.0.1:{port}"
    try:
        _ray("start", "--head", "--port", str(port), "--num-cpus", "1", "--include-dashboard=false",
             "--node-ip-address", "127.0.0.1", "--disable-usage-stats")
        _ray("start", "--address", address, "--num-cpus", "1", "--node-ip-address", "127.0.0.1",
             "--disable-usage-stats")
        summary = evolve_islands(tiny_config(tmp_path / "cluster", generations=10, ray_address=address))
    finally:
        _ray("stop", "--force", timeout=60)
    assert summary["generation"] == 10
    assert len({island["node"] for island in summary["islands"]}) == 2
    assert len(RunDir(tmp_path / "cluster", create=False).read_metrics()) == 20
