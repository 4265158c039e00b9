"""Face-space mutation: the formula it implements, reproducibility, and what it does to noise."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import synthetic_faces
from evoface.ga.face_space_mutation import (FaceBasis, _write_moved, face_space_mutation_reference,
                                           mut_face_space_block)
from evoface.ga.seed_stream import SeedStream
from neural.face_space import FaceSpaceConfig, fit_face_space


@pytest.fixture(scope="module")
def basis() -> FaceBasis:
    return FaceBasis.of(fit_face_space(torch.from_numpy(synthetic_faces(200, 16, seed=0)), FaceSpaceConfig(16, 12)))


def test_matches_the_float64_formula_with_the_same_draws(basis):
    block = np.random.default_rng(0).integers(0, 256, (5, 16 * 16 * 3), dtype=np.uint8)
    original, stream = block.copy(), SeedStream(11)
    mut_face_space_block(block, basis, step=0.5, pull=0.2, indpb=0.0, seeds=stream)
    replay = SeedStream(11)
    replay.next_seed()  # the (empty) resets' seed
    draws = np.random.default_rng(replay.next_seed()).standard_normal((5, 12), np.float32)
    for row, child, draw in zip(original, block, draws):
        expected = face_space_mutation_reference(row, basis, 0.5, 0.2, draw.astype(np.float64))
        difference = np.abs(child.astype(int) - expected)
        assert difference.max() <= 1 and (difference == 0).mean() > 0.99  # float32 vs float64


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
