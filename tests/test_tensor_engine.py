"""The tensor engine (the GA as torch tensor ops on --device): its operators against the fast engine's and the
face-space formula, whole runs against the fast engine, resume, and where ``--engine auto`` puts a run. Run on the
CPU, where the engine keeps its device buffer apart from the host's, as on a GPU."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from conftest import assert_one_line_error, run_cli, synthetic_faces
from evoface.core.checkpoints import load_checkpoint
from evoface.evolve import EvolveConfig, evolve, resume_config
from evoface.evolve_build import resolved_engine
from evoface.ga.engine import diversity
from evoface.ga.face_space_mutation import FaceBasis, face_space_mutation_reference, mut_face_space_block
from evoface.ga.operators import cx_normal_point_rows, keep_elites, mut_uniform_reset_block
from evoface.ga.seed_stream import SeedStream
from evoface.ga.tensor_operators import (cx_normal_point_tensor, diversity_tensor, face_space_move_tensor,
                                         keep_elites_tensor, mut_face_space_tensor, reset_genes_tensor)
from neural.face_space import FaceSpaceConfig, fit_face_space


# every operator test runs on the CPU, and on a GPU where there is one
DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(),
                                                                reason="needs a CUDA GPU"))]


def config(out, **overrides) -> EvolveConfig:
    options = dict(out=str(out), mu=16, q=4, generations=20, checkpoint_every=8, snapshot_every=8, device="cpu",
                   seed=5, indpb=0.002)
    options.update(overrides)
    return EvolveConfig(**options)


def final_state(run) -> tuple[dict, list[dict]]:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return load_checkpoint(run / "checkpoints" / "last.pt", "evolve"), rows


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("n, cxpb, seed", [(12, 1.0, 0), (7, 0.6, 1), (1, 1.0, 2)])
def test_crossover_writes_the_fast_engines_children_from_the_same_seeds(n, cxpb, seed, device):
    rng = np.random.default_rng(seed)
    source = rng.integers(0, 256, (9, 300), dtype=np.uint8)
    rows = rng.integers(0, 9, n)
    expected, children = np.zeros((n, 300), np.uint8), torch.zeros((n, 300), dtype=torch.uint8, device=device)
    expected_cuts = cx_normal_point_rows(source, rows, expected, 0.2, cxpb, SeedStream(seed))
    cuts = cx_normal_point_tensor(torch.from_numpy(source).to(device), rows, children, 0.2, cxpb, SeedStream(seed))
    assert np.array_equal(cuts, expected_cuts) and np.array_equal(children.cpu().numpy(), expected)


@pytest.mark.parametrize("device", DEVICES)
def test_elitism_moves_the_rows_and_values_the_fast_engine_moves(device):
    rng = np.random.default_rng(3)
    for start in (0, 6):
        genes = rng.integers(0, 256, (16, 50), dtype=np.uint8)
        fitness = rng.integers(0, 5, 16).astype(np.float64)  # many ties
        expected_genes, expected_fitness = genes.copy(), fitness.copy()
        moved = keep_elites(expected_genes, expected_fitness, 4, start)
        tensor_genes = torch.from_numpy(genes.copy()).to(device)
        assert keep_elites_tensor(tensor_genes, fitness, 4, start) == moved
        assert np.array_equal(tensor_genes.cpu().numpy(), expected_genes) and np.array_equal(fitness, expected_fitness)


@pytest.mark.parametrize("device", DEVICES)
def test_resets_change_the_share_asked_for_and_use_one_seed_as_the_numba_mutation_does(device):
    block = torch.zeros((200, 1000), dtype=torch.uint8, device=device)
    stream, numba_stream = SeedStream(7), SeedStream(7)
    resets = int(reset_genes_tensor(block, 0.05, stream))
    mut_uniform_reset_block(np.zeros((200, 1000), np.uint8), 0.05, numba_stream)
    assert stream.state == numba_stream.state
    expected, spread = 200_000 * 0.05, (200_000 * 0.05 * 0.95) ** 0.5
    assert abs(resets - expected) < 5 * spread
    changed = block.cpu().numpy()[block.cpu().numpy() > 0]
    assert abs(len(changed) - resets * 255 / 256) < 5 * spread  # a reset to 0 leaves a 0
    counts = np.bincount(changed, minlength=256)[1:]
    chi_square = ((counts - counts.mean()) ** 2 / counts.mean()).sum()
    assert chi_square < 254 + 5 * (2 * 254) ** 0.5  # uniform values: chi-square with 254 degrees of freedom
    again = torch.zeros((200, 1000), dtype=torch.uint8, device=device)
    reset_genes_tensor(again, 0.05, SeedStream(7))
    assert torch.equal(again, block)  # the same seed, the same children
    assert int(reset_genes_tensor(torch.zeros((3, 10), dtype=torch.uint8, device=device), 1.0, SeedStream(7))) == 30
    untouched = torch.full((3, 10), 9, dtype=torch.uint8, device=device)
    assert int(reset_genes_tensor(untouched, 0.0, SeedStream(7))) == 0 and bool((untouched == 9).all())


@pytest.fixture(scope="module")
def basis() -> FaceBasis:
    return FaceBasis.of(fit_face_space(torch.from_numpy(synthetic_faces(200, 16, seed=0)), FaceSpaceConfig(16, 12)))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("shrink", [0.0, 0.2])
def test_the_face_space_move_is_the_float64_formula_with_the_same_draws(basis, device, shrink):
    block = np.random.default_rng(0).integers(0, 256, (5, 16 * 16 * 3), dtype=np.uint8)
    draws = np.random.default_rng(1).standard_normal((5, 12)).astype(np.float32)
    moved = torch.from_numpy(block.copy()).to(device)
    face_space_move_tensor(moved, basis, 0.5, 0.2, torch.from_numpy(draws).to(device), shrink)
    for row, child, draw in zip(block, moved.cpu().numpy(), draws):
        expected = face_space_mutation_reference(row, basis, 0.5, 0.2, draw.astype(np.float64), shrink)
        difference = np.abs(child.astype(int) - expected)
        assert difference.max() <= 1 and (difference == 0).mean() > 0.99  # float32 vs float64


def test_the_face_space_mutation_uses_the_numba_operators_seeds_and_changes_as_much(basis):
    block = np.random.default_rng(2).integers(0, 256, (20, 16 * 16 * 3), dtype=np.uint8)
    fast, stream, numba_stream = block.copy(), SeedStream(4), SeedStream(4)
    tensor = torch.from_numpy(block.copy())
    mut_face_space_tensor(tensor, basis, 0.5, 0.2, 0.01, stream)
    mut_face_space_block(fast, basis, 0.5, 0.2, 0.01, numba_stream)
    assert stream.state == numba_stream.state
    change = lambda child: np.abs(child.astype(int) - block).mean()
    assert change(tensor.numpy()) == pytest.approx(change(fast), rel=0.1)  # other draws, the same operator


@pytest.mark.parametrize("device", DEVICES)
def test_the_diversity_sample_on_a_device_is_the_diversity(device):
    genes = np.random.default_rng(5).integers(0, 256, (30, 64 * 64 * 3), dtype=np.uint8)
    genes[:, :4000] = genes[0, :4000]  # a converged stretch
    assert diversity_tensor(torch.from_numpy(genes).to(device)) == diversity(genes)


def test_without_mutation_a_run_is_the_fast_engines_bit_for_bit(tmp_path):
    # with no draws of its own the tensor engine selects, crosses and keeps from the same seeds: the same run
    for engine in ("fast", "tensor"):
        evolve(config(tmp_path / engine, engine=engine, mutation="reset", indpb=0.0))
    (fast, fast_rows), (tensor, tensor_rows) = (final_state(tmp_path / engine) for engine in ("fast", "tensor"))
    for name in ("genes", "fitness", "hof_genes", "hof_fitness"):
        assert torch.equal(fast[name], tensor[name]), name
    assert [r["diversity"] for r in fast_rows] == [r["diversity"] for r in tensor_rows]
    assert fast["seed_stream"] == tensor["seed_stream"] and fast["elites_first"] == tensor["elites_first"]


@pytest.mark.parametrize("device", DEVICES)
def test_a_default_run_on_the_tensor_engine_evolves_and_resumes_exactly(tmp_path, device):
    straight = evolve(config(tmp_path / "straight", engine="auto" if device == "cuda" else "tensor", device=device))
    assert straight["engine"] == "tensor"
    evolve(config(tmp_path / "split", engine="tensor", device=device, generations=11))  # stops between checkpoints
    evolve(resume_config(tmp_path / "split", generations=20), resume=True)
    (a, rows), (b, _) = final_state(tmp_path / "straight"), final_state(tmp_path / "split")
    for name in ("genes", "fitness", "hof_genes"):
        assert torch.equal(a[name], b[name]), name
    assert rows[-1]["max"] > rows[0]["max"] and all(y["max"] >= x["max"] for x, y in zip(rows, rows[1:]))
    assert 0 < rows[-1]["diversity"] < rows[0]["diversity"]


def test_auto_takes_the_tensor_engine_on_a_gpu_where_it_runs_and_the_fast_one_elsewhere():
    gpu, cpu = torch.device("cuda"), torch.device("cpu")
    assert resolved_engine(EvolveConfig(out="x"), gpu) == "tensor"
    assert resolved_engine(EvolveConfig(out="x", mutation="reset"), gpu) == "tensor"
    assert resolved_engine(EvolveConfig(out="x", mutation="blob"), gpu) == "fast"
    assert resolved_engine(EvolveConfig(out="x", genome="latent"), gpu) == "fast"
    assert resolved_engine(EvolveConfig(out="x"), cpu) == "fast"
    assert resolved_engine(EvolveConfig(out="x", engine="tensor"), cpu) == "tensor"


@pytest.mark.parametrize("args, fragment", [
    (["--engine", "tensor", "--mutation", "blob"], "--engine tensor runs --mutation reset or face-space"),
    (["--engine", "tensor", "--genome", "latent"], "the latent genome runs on the fast engine"),
])
def test_the_tensor_engine_refuses_what_it_does_not_run(tmp_path, capsys, args, fragment):
    code, err = run_cli(["evolve", "--out", str(tmp_path / "run"), "--generations", "1", *args], capsys)
    assert_one_line_error(code, err, fragment)
    assert not (tmp_path / "run").exists()


def test_immigrants_reach_the_device_and_the_next_generation(tmp_path):
    from evoface.evolve_build import build_evolution
    from evoface.evolve_loop import evolve_generations

    # without niching, which would clear the second of two identical immigrants
    evolution = build_evolution(config(tmp_path / "run", engine="tensor", generations=2, niche_radius=0.0))
    evolve_generations(evolution, 2)
    ga = evolution.ga
    immigrants = np.full((2, ga.genes.shape[1]), 7, np.uint8)
    ga.replace(np.array([0, 5]), immigrants, np.array([2.0, 2.0]))  # fitter than any: both stay as elites
    window = ga._working_buffer[ga._windows[ga._phase]].numpy()
    assert np.array_equal(window, ga.genes) and np.array_equal(ga.genes[[0, 5]], immigrants)
    ga.step()
    assert sum(np.array_equal(row, immigrants[0]) for row in ga.genes) == 2 and ga.fitness.max() == 2.0


def test_the_cli_runs_the_tensor_engine_and_says_so(tmp_path, capsys):
    from cli import main

    with pytest.raises(SystemExit) as done:
        main(["evolve", "--out", str(tmp_path / "run"), "--mu", "8", "--q", "2", "--generations", "3", "--device",
              "cpu", "--engine", "tensor"])
    captured = capsys.readouterr()
    assert done.value.code in (None, 0) and captured.err == ""
    assert "at generation 3" in captured.out and "the tensor engine" in captured.out
    assert json.loads((tmp_path / "run" / "config.json").read_text())["engine"] == "tensor"
