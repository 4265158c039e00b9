"""Gaussian-blob mutation: matches its numpy reference, is reproducible, and paints low-frequency changes."""

from __future__ import annotations

import numpy as np
import pytest

from evoface.ga.blob_mutation import _paint_blob, mut_gaussian_blobs_block, paint_blob_reference
from evoface.ga.seed_stream import SeedStream


@pytest.mark.parametrize("cx,cy,radius,strength", [(10.3, 20.7, 3.0, 0.8), (0.2, 31.9, 9.5, 1.0), (16, 16, 0.7, 0.5)])
def test_kernel_matches_the_numpy_reference(cx, cy, radius, strength):
    side = 32
    image = np.random.default_rng(1).integers(0, 256, side * side * 3, dtype=np.uint8)
    expected = paint_blob_reference(image, side, cx, cy, radius, strength, (250, 10, 128))
    _paint_blob(image, side, cx, cy, radius, strength, 250.0, 10.0, 128.0)
    assert np.array_equal(image, expected)


def test_same_seed_same_children_and_only_rows_in_place():
    block = np.random.default_rng(0).integers(0, 256, (6, 16 * 16 * 3), dtype=np.uint8)
    a, b = block.copy(), block.copy()
    mut_gaussian_blobs_block(a, 16, 3, (1.0, 6.0), SeedStream(5))
    mut_gaussian_blobs_block(b, 16, 3, (1.0, 6.0), SeedStream(5))
    assert np.array_equal(a, b) and not np.array_equal(a, block)
    assert len({row.tobytes() for row in a}) == 6  # every row has its own stream


def test_blobs_remove_noise_rather_than_add_it():
    """Painting blobs over uniform noise lowers the total variation; per-gene resets would raise it."""
    side = 64
    block = np.random.default_rng(2).integers(0, 256, (4, side * side * 3), dtype=np.uint8)

    def roughness(genes):
        images = genes.reshape(-1, side, side, 3).astype(float)
        return np.abs(np.diff(images, axis=2)).mean()

    before = roughness(block)
    mut_gaussian_blobs_block(block, side, 200, (2.0, 12.0), SeedStream(0))
    assert roughness(block) < 0.6 * before


def test_bad_blocks_are_refused():
    with pytest.raises(ValueError):
        mut_gaussian_blobs_block(np.zeros((2, 10), np.uint8), 16, 1, (1.0, 2.0), SeedStream(0))
    with pytest.raises(ValueError):
        mut_gaussian_blobs_block(np.zeros((2, 16 * 16 * 3), np.uint8), 16, 1, (3.0, 2.0), SeedStream(0))
