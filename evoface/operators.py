"""Genetic operators on flattened uint8 images: normal-point crossover, numba reset mutation, truncation and
tournament selection.

Each is a plain function registered on a DEAP toolbox with its parameters (see ``evoface.toolbox``). The GA's
operators act on a whole generation at once: selection on the (mu,) fitness vector, crossover and mutation on the
(n, L) gene block, so a generation costs a handful of numpy and numba calls rather than one Python call per image.
"""

from __future__ import annotations

import numba
import numpy as np

# splitmix64 constants (Steele, Lea & Flood 2014)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
PARALLEL_MIN_MUTATIONS = 200_000  # below this many expected resets per call, threads cost more than they save


def normal_cuts(n: int, length: int, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """n crossover cuts drawn from N(L/2, (sigma*L)^2), rounded and clamped to [0, L]."""
    return np.clip(np.rint(rng.normal(length / 2, sigma * length, n)), 0, length).astype(np.int64)


def cx_normal_point(ind1: np.ndarray, ind2: np.ndarray, sigma: float, rng: np.random.Generator):
    """Single-point crossover with the cut drawn from N(L/2, (sigma*L)^2), rounded and clamped to [0, L].

    Swaps the genes before the cut in place (copying the slices, as numpy individuals need).
    """
    cut = int(normal_cuts(1, len(ind1), sigma, rng)[0])
    ind1[:cut], ind2[:cut] = ind2[:cut].copy(), ind1[:cut].copy()
    return ind1, ind2


def cx_normal_point_rows(source: np.ndarray, rows: np.ndarray, out: np.ndarray, sigma: float, cxpb: float,
                         rng: np.random.Generator) -> np.ndarray:
    """Children of the parents ``source[rows]``, written into the (len(rows), L) block ``out``: each consecutive pair
    of parents is crossed with probability cxpb, as ``cx_normal_point`` would cross copies of them. The parents are
    copied in one call, then each crossed child's prefix is overwritten from its other parent (no swap buffer).
    Returns the cuts (0 where a pair was not crossed)."""
    pairs = len(rows) // 2
    cuts = normal_cuts(pairs, source.shape[1], sigma, rng)
    cuts[rng.random(pairs) >= cxpb] = 0
    np.take(source, rows, axis=0, out=out)
    parents = rows.tolist()
    for k, cut in enumerate(cuts.tolist()):
        if cut:
            out[2 * k, :cut] = source[parents[2 * k + 1], :cut]
            out[2 * k + 1, :cut] = source[parents[2 * k], :cut]
    return cuts


def _splitmix_next(state):
    state = state + _GOLDEN
    z = state
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    return state, z ^ (z >> np.uint64(31))


def _mutate_rows(block, indpb, seed):
    """Reset each gene of the (n, L) uint8 block, with probability indpb, to a uniform value in 0..255.

    Row i draws from its own splitmix64 stream, started at the hash of seed + i, so the result does not depend on
    thread scheduling. Positions are found by geometric gaps, so the cost is proportional to the number of resets.
    Returns the number of resets.
    """
    n, length = block.shape
    counts = np.zeros(n, np.int64)
    if indpb <= 0.0:
        return 0
    log_keep = np.log1p(-indpb) if indpb < 1.0 else -np.inf
    for i in numba.prange(n):
        _, state = _splitmix_next(np.uint64(seed) + np.uint64(i))  # hashed start: rows never share a stream
        pos = -1
        while True:
            state, z = _splitmix_next(state)
            u = (np.float64(z >> np.uint64(11)) + 1.0) * (1.0 / 9007199254740992.0)  # (0, 1]
            gap = 0 if indpb >= 1.0 else int(np.floor(np.log(u) / log_keep))
            pos += gap + 1
            if pos >= length:
                break
            state, z = _splitmix_next(state)
            block[i, pos] = np.uint8(z >> np.uint64(56))
            counts[i] += 1
    return counts.sum()


_splitmix_next = numba.njit(inline="always")(_splitmix_next)
mutate_rows_serial = numba.njit(cache=True)(_mutate_rows)
mutate_rows_parallel = numba.njit(cache=True, parallel=True)(_mutate_rows)


def mut_uniform_reset_block(block: np.ndarray, indpb: float, rng: np.random.Generator) -> int:
    """Mutate a whole (n, L) uint8 offspring block in place in one compiled call; threads only where they pay."""
    seed = int(rng.integers(0, 2**63))
    expected = block.size * indpb
    kernel = mutate_rows_parallel if expected >= PARALLEL_MIN_MUTATIONS else mutate_rows_serial
    return int(kernel(block, float(indpb), seed))


def mut_uniform_reset_numpy(block: np.ndarray, indpb: float, rng: np.random.Generator) -> int:
    """The same operator in plain numpy (one uniform draw per gene): the reference the benchmark compares with."""
    mask = rng.random(block.shape) < indpb
    count = int(mask.sum())
    block[mask] = rng.integers(0, 256, count, dtype=np.uint8)
    return count


def sel_truncation(fitness: np.ndarray, k: int, top: int, rng: np.random.Generator) -> np.ndarray:
    """Rows of k parents drawn uniformly from the ``top`` fittest (ties: the earlier row first)."""
    best = np.argsort(-fitness, kind="stable")[:top]
    return best[rng.integers(0, len(best), k)]


def sel_tournament(fitness: np.ndarray, k: int, tournsize: int, rng: np.random.Generator) -> np.ndarray:
    """Rows of k parents, each the fittest of ``tournsize`` rows drawn uniformly with replacement."""
    aspirants = rng.integers(0, len(fitness), (k, tournsize))
    return aspirants[np.arange(k), fitness[aspirants].argmax(axis=1)]
