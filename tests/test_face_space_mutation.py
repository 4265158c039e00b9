"""Face-space mutation: the formula it implements, reproducibility, and what it does to noise."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import assert_one_line_error, run_cli, synthetic_faces
from evoface.evolve_build import build_evolution
from evoface.evolve_config import EvolveConfig
from evoface.ga.face_space_mutation import (FaceBasis, _write_moved, face_space_mutation_reference,
                                           mut_face_space_block, prior_shrink, random_faces)
from evoface.ga.seed_stream import SeedStream
from neural.face_space import FaceRealism, FaceSpace, FaceSpaceConfig, fit_face_space


@pytest.fixture(scope="module")
def basis() -> FaceBasis:
    return FaceBasis.of(fit_face_space(torch.from_numpy(synthetic_faces(200, 16, seed=0)), FaceSpaceConfig(16, 12)))


@pytest.mark.parametrize("shrink", [0.0, prior_shrink(0.5)])
def test_matches_the_float64_formula_with_the_same_draws(basis, shrink):
    block = np.random.default_rng(0).integers(0, 256, (5, 16 * 16 * 3), dtype=np.uint8)
    original, stream = block.copy(), SeedStream(11)
    mut_face_space_block(block, basis, step=0.5, pull=0.2, indpb=0.0, seeds=stream, shrink=shrink)
    replay = SeedStream(11)
    replay.next_seed()  # the (empty) resets' seed
    draws = np.random.default_rng(replay.next_seed()).standard_normal((5, 12), np.float32)
    for row, child, draw in zip(original, block, draws):
        expected = face_space_mutation_reference(row, basis, 0.5, 0.2, draw.astype(np.float64), shrink)
        difference = np.abs(child.astype(int) - expected)
        assert difference.max() <= 1 and (difference == 0).mean() > 0.99  # float32 vs float64


def test_pcn_moves_keep_real_faces_spread_where_a_walk_spreads_out(basis):
    start = random_faces(basis, 300, SeedStream(5))  # coordinates ~ N(0, std^2), as real faces' are
    spread = lambda genes: basis.coordinates(genes).std(axis=0)  # in real faces' stds: 1 for real faces
    walked, kept = start.copy(), start.copy()
    for generation in range(60):
        mut_face_space_block(walked, basis, 0.3, 0.1, 0.0, SeedStream(generation))
        mut_face_space_block(kept, basis, 0.3, 0.1, 0.0, SeedStream(generation), shrink=prior_shrink(0.3))
    assert np.median(spread(start)) == pytest.approx(1.0, abs=0.15)
    assert np.median(spread(kept)) == pytest.approx(1.0, abs=0.15)  # the Gaussian kept (clipping and rounding aside)
    # a random walk: sqrt(1 + 60 * 0.3^2) = 2.5 unclipped; clipping to [0, 255] holds it lower
    assert np.median(spread(walked)) > 1.2 * np.median(spread(kept))


def test_the_shrink_that_keeps_the_prior():
    assert prior_shrink(0.0) == 0.0 and prior_shrink(1.0) == 1.0
    assert (1 - prior_shrink(0.3)) ** 2 + 0.3 ** 2 == pytest.approx(1.0)
    with pytest.raises(ValueError):
        prior_shrink(1.5)


def test_pull_alone_removes_noise_and_step_alone_moves_along_face_space(basis):
    noise = np.random.default_rng(1).integers(0, 256, (4, 16 * 16 * 3), dtype=np.uint8)
    pulled = noise.copy()
    for _ in range(30):
        mut_face_space_block(pulled, basis, step=0.0, pull=0.2, indpb=0.0, seeds=SeedStream(3))
    distance = lambda genes: np.linalg.norm(genes / 255 - basis.mean - (genes / 255 - basis.mean) @ basis.components
                                            @ basis.components.T, axis=1)
    assert (distance(pulled) < 0.05 * distance(noise)).all()
    moved = pulled.copy()
    mut_face_space_block(moved, basis, step=1.0, pull=0.0, indpb=0.0, seeds=SeedStream(4))
    assert not np.array_equal(moved, pulled)
    assert (distance(moved) < 0.2 * distance(noise)).all()  # the move stays (nearly: rounding, clipping) in face space


def test_same_seed_same_children_and_resets_counted(basis):
    block = np.random.default_rng(2).integers(0, 256, (6, 16 * 16 * 3), dtype=np.uint8)
    a, b = block.copy(), block.copy()
    resets = mut_face_space_block(a, basis, 0.3, 0.1, 0.05, SeedStream(9))
    mut_face_space_block(b, basis, 0.3, 0.1, 0.05, SeedStream(9))
    assert np.array_equal(a, b) and resets > 0


def test_a_block_of_the_wrong_length_is_refused(basis):
    with pytest.raises(ValueError):
        mut_face_space_block(np.zeros((2, 10), np.uint8), basis, 0.3, 0.1, 0.0, SeedStream(0))


def test_the_moved_child_is_written_rounded_and_clipped_to_bytes():
    rng = np.random.default_rng(3)
    block = rng.integers(0, 256, (3, 500), dtype=np.uint8)
    move = (rng.standard_normal((3, 500)) * 0.6).astype(np.float32)  # far past both ends of [0, 255]
    offset = (rng.random(500) * 30).astype(np.float32)
    keep = np.float32(0.8)
    expected = np.clip(np.rint(keep * block.astype(np.float32) + offset + np.float32(255) * move), 0, 255)
    _write_moved(block, move, keep, offset)
    assert np.array_equal(block, expected.astype(np.uint8))
    assert (block == 0).any() and (block == 255).any()


@pytest.mark.parametrize("options, shrink, clipped", [({}, prior_shrink(0.3), True),
                                                     ({"face_moves": "walk", "prior_projection": "linear"}, 0.0,
                                                      False)])
def test_a_pixel_run_moves_and_measures_as_its_options_say(tmp_path, options, shrink, clipped):
    evolution = build_evolution(EvolveConfig(out=str(tmp_path / "run"), mu=6, q=2, generations=1, device="cpu",
                                             precision="fp32", **options))
    assert evolution.toolbox.mutate.keywords["shrink"] == shrink
    prior = evolution.scorer.prior
    assert type(prior) is FaceRealism and prior.clipped == clipped
    assert (prior.distance_weight, prior.typicality_weight) == (2.0, 0.0)


def test_a_step_too_large_for_pcn_is_a_one_line_error(tmp_path, capsys):
    code, err = run_cli(["evolve", "--face-step", "2", "--generations", "1", "--out", str(tmp_path / "run")], capsys)
    assert_one_line_error(code, err, "--face-moves walk")
    assert not (tmp_path / "run").exists()
    EvolveConfig(out="x", face_step=2.0, face_moves="walk").validate()  # the random walk takes any step
