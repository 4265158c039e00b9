"""Gaussian-blob mutation: paint soft round patches of colour over a pixel genome instead of resetting single genes.

Each blob blends a disc-shaped Gaussian footprint of one colour into the image: pixel <- (1 - w) pixel + w colour, with
w = strength * exp(-d^2 / (2 r^2)) at distance d from the blob's centre. A blob changes a region smoothly, so it
proposes low-frequency changes (a darker eye, a skin tone, a hairline) and paints over uniform noise, where a per-gene
reset injects white noise. The chromosome is unchanged: one uint8 gene per pixel channel, every pixel free.
"""

from __future__ import annotations

import numba
import numpy as np

from evoface.ga.operators import _splitmix_next, _uniform, mut_uniform_reset_block
from evoface.ga.seed_stream import SeedStream

FOOTPRINT_SIGMAS = 3.0  # a blob is drawn out to 3 r from its centre, where its weight is 1% of the peak


@numba.njit(cache=True)
def _paint_blob(image, side, cx, cy, radius, strength, red, green, blue):
    """Blend one blob into a flattened (side * side * 3) HWC uint8 image, in place."""
    reach = FOOTPRINT_SIGMAS * radius
    x0, x1 = max(0, int(cx - reach)), min(side, int(cx + reach) + 1)
    y0, y1 = max(0, int(cy - reach)), min(side, int(cy + reach) + 1)
    inverse = -0.5 / (radius * radius)
    for y in range(y0, y1):
        dy2 = (y + 0.5 - cy) ** 2
        for x in range(x0, x1):
            w = strength * np.exp(((x + 0.5 - cx) ** 2 + dy2) * inverse)
            base = (y * side + x) * 3
            image[base] = np.uint8(image[base] + w * (red - image[base]) + 0.5)
            image[base + 1] = np.uint8(image[base + 1] + w * (green - image[base + 1]) + 0.5)
            image[base + 2] = np.uint8(image[base + 2] + w * (blue - image[base + 2]) + 0.5)


@numba.njit(cache=True)
def _blob_rows(block, side, blobs, log_rmin, log_rmax, seed):
    """``blobs`` blobs per row; row i draws from its own splitmix64 stream (hash of seed + i)."""
    for i in range(block.shape[0]):
        _, state = _splitmix_next(np.uint64(seed) + np.uint64(i))
        image = block[i]
        for _ in range(blobs):
            state, u = _uniform(state)
            cx = u * side
            state, u = _uniform(state)
            cy = u * side
            state, u = _uniform(state)
            radius = np.exp(log_rmin + u * (log_rmax - log_rmin))  # log-uniform: as many small blobs as large
            state, strength = _uniform(state)
            state, z = _splitmix_next(state)  # one draw, three 8-bit channels
            red, green, blue = float(z >> np.uint64(56)), float((z >> np.uint64(48)) & np.uint64(255)), \
                float((z >> np.uint64(40)) & np.uint64(255))
            _paint_blob(image, side, cx, cy, radius, strength, red, green, blue)


def mut_gaussian_blobs_block(block: np.ndarray, side: int, blobs: int, radius: tuple[float, float],
                             seeds: SeedStream) -> int:
    """Paint ``blobs`` Gaussian blobs into each row of the (n, side*side*3) uint8 block, in place, in one compiled
    call. Radii are log-uniform in ``radius`` (pixels), strengths uniform in [0, 1), colours uniform RGB.
    Returns the number of blobs painted."""
    if block.ndim != 2 or block.dtype != np.uint8 or block.shape[1] != side * side * 3:
        raise ValueError(f"blob mutation needs an (n, {side}*{side}*3) uint8 block, got {block.shape} {block.dtype}")
    low, high = radius
    if not 0 < low <= high:
        raise ValueError(f"blob radii need 0 < low <= high, got {radius}")
    _blob_rows(block, side, blobs, np.log(low), np.log(high), seeds.next_seed())
    return blobs * len(block)


def mut_blobs_and_reset_block(block: np.ndarray, side: int, blobs: int, radius: tuple[float, float], indpb: float,
                              seeds: SeedStream) -> int:
    """Blob mutation, then the method's per-gene reset (probability ``indpb``): smooth changes and per-pixel freedom.
    Returns the number of blobs and resets."""
    return mut_gaussian_blobs_block(block, side, blobs, radius, seeds) + mut_uniform_reset_block(block, indpb, seeds)


def paint_blob_reference(image: np.ndarray, side: int, cx: float, cy: float, radius: float, strength: float,
                         colour: tuple[int, int, int]) -> np.ndarray:
    """The same blend in plain numpy over the whole image (a new (side*side*3,) uint8 array): the kernel's reference."""
    reach = FOOTPRINT_SIGMAS * radius
    ys, xs = np.mgrid[0:side, 0:side]
    inside = ((xs >= max(0, int(cx - reach))) & (xs < min(side, int(cx + reach) + 1))
              & (ys >= max(0, int(cy - reach))) & (ys < min(side, int(cy + reach) + 1)))
    w = np.where(inside, strength * np.exp(((xs + 0.5 - cx) ** 2 + (ys + 0.5 - cy) ** 2)
                                            * (-0.5 / (radius * radius))), 0)
    pixels = image.reshape(side, side, 3).astype(np.float64)
    out = pixels + w[..., None] * (np.asarray(colour, np.float64) - pixels) + 0.5
    return np.clip(np.floor(out), 0, 255).astype(np.uint8).reshape(-1)
