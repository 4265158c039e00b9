"""Stray dots: single pixels that a gene reset left standing out from every one of their neighbours.

A channel value is a *dot* when it differs by more than ``threshold`` levels from each of its (up to 8) neighbours in
that channel; ``despeckle`` sets it to the neighbours' median. Real face photographs hold almost none (a sharp edge
always has a neighbour on its own side), while every child of the pixel GA carries the fresh dots of its last
mutation's resets. ``polisher`` removes them from the hall of fame's copies where that does not lower the fitness, so
the chromosome stays the image and every pixel can still move.
"""

from __future__ import annotations

import numba
import numpy as np

DOT_LEVELS = 24  # a dot stands out by more than this from every neighbour (0-255)


@numba.njit(cache=True)
def _dots(image, threshold, fix):
    """Count (and, with ``fix``, replace by the neighbours' median) the dots of one (S, S, 3) uint8 image."""
    side, _, channels = image.shape
    found = 0
    values = np.empty(8, np.int32)
    source = image.copy() if fix else image  # judged on the image as it was, so that fixes do not cascade
    for y in range(side):
        for x in range(side):
            dotted = False
            for c in range(channels):
                v = np.int32(source[y, x, c])
                count, isolated = 0, True
                for dy in range(-1, 2):
                    for dx in range(-1, 2):
                        yy, xx = y + dy, x + dx
                        if (dy == 0 and dx == 0) or yy < 0 or yy >= side or xx < 0 or xx >= side:
                            continue
                        n = np.int32(source[yy, xx, c])
                        values[count] = n
                        count += 1
                        if abs(v - n) <= threshold:
                            isolated = False
                if isolated:
                    dotted = True
                    if fix:
                        image[y, x, c] = np.uint8(np.sort(values[:count])[(count - 1) // 2])
            if dotted:
                found += 1
    return found


def count_dots(images: np.ndarray, threshold: int = DOT_LEVELS) -> np.ndarray:
    """(n,) pixels of each (n, S, S, 3) uint8 image with a dot in some channel."""
    images = np.ascontiguousarray(images, np.uint8)
    return np.array([_dots(image, threshold, False) for image in images], np.int64)


def despeckle(images: np.ndarray, threshold: int = DOT_LEVELS) -> np.ndarray:
    """Copies of (n, S, S, 3) uint8 images with every dot set to its neighbours' median."""
    out = np.array(images, np.uint8, copy=True)
    for image in out:
        _dots(image, threshold, True)
    return out


def polisher(score, side: int, threshold: int = DOT_LEVELS):
    """``polish(genes, fitness) -> (genes, fitness)`` for (k, side*side*3) uint8 genes: each row despeckled where
    ``score`` (the run's fitness of a block of genes) rates the clean row at least as high; the others unchanged."""
    def polish(genes: np.ndarray, fitness: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        images = genes.reshape(len(genes), side, side, 3)
        clean = despeckle(images, threshold).reshape(len(genes), -1)
        changed = np.flatnonzero((clean != genes).any(1))
        if not len(changed):
            return genes, fitness
        scores = score(clean[changed])
        holds = scores >= fitness[changed]
        better = changed[holds]
        out_genes, out_fitness = genes.copy(), np.array(fitness, np.float64, copy=True)
        out_genes[better] = clean[better]
        out_fitness[better] = scores[holds]
        return out_genes, out_fitness
    return polish
