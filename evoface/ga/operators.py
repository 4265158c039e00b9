"""Genetic operators on flattened uint8 images: normal-point crossover, numba reset mutation, truncation and
tournament selection; and on float32 latent codes (``evoface.ga.latent_toolbox``): the same crossover, slerp
crossover, Gaussian mutation and fresh "foreign" individuals.

Each is a plain function registered on a DEAP toolbox with its parameters (see ``evoface.ga.toolbox``). The GA's
operators act on a whole generation at once: selection on the (mu,) fitness vector, crossover and mutation on the
(n, L) gene block, each in one compiled call that draws its random numbers from a seed of a ``SeedStream``.
"""

from __future__ import annotations

import numba
import numpy as np

from evoface.ga.seed_stream import GOLDEN, MIX1, MIX2, SeedStream

# The compiled draws live here, beside the cached kernels that inline them: numba's cache does not notice changes to
# functions in other files.
_GOLDEN, _MIX1, _MIX2 = np.uint64(GOLDEN), np.uint64(MIX1), np.uint64(MIX2)
_UNIT = 1.0 / 9007199254740992.0  # 2**-53
PARALLEL_MIN_MUTATIONS = 200_000  # below this many expected resets per call, threads cost more than they save


@numba.njit(inline="always")
def _splitmix_next(state):
    """``seed_stream.splitmix64`` on uint64."""
    state = state + _GOLDEN
    z = state
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    return state, z ^ (z >> np.uint64(31))


@numba.njit(inline="always")
def _uniform(state):
    """(next state, a uniform draw in [0, 1))."""
    state, z = _splitmix_next(state)
    return state, np.float64(z >> np.uint64(11)) * _UNIT


@numba.njit(inline="always")
def _below(state, n):
    """(next state, a uniform integer in [0, n))."""
    state, u = _uniform(state)
    return state, min(np.int64(u * n), n - 1)


@numba.njit(inline="always")
def _standard_normal(state):
    """(next state, a standard normal draw), by Box-Muller from two uniforms."""
    state, u = _uniform(state)
    state, v = _uniform(state)
    return state, np.sqrt(-2.0 * np.log(1.0 - u)) * np.cos(2.0 * np.pi * v)


@numba.njit(cache=True)
def _normal_cuts(n, length, sigma, cxpb, seed):
    """n cuts from N(L/2, (sigma*L)^2), rounded and clamped to [0, L]; each is 0 (no crossover) with probability
    1 - cxpb. Per cut: one normal draw, then one uniform."""
    state = np.uint64(seed)
    cuts = np.empty(n, np.int64)
    for k in range(n):
        state, z = _standard_normal(state)
        cut = min(max(np.rint(length / 2 + sigma * length * z), 0.0), float(length))
        state, u = _uniform(state)
        cuts[k] = np.int64(cut) if u < cxpb else 0
    return cuts


def normal_cuts(n: int, length: int, sigma: float, seeds: SeedStream, cxpb: float = 1.0) -> np.ndarray:
    """n crossover cuts drawn from N(L/2, (sigma*L)^2), rounded and clamped to [0, L] (0 with probability 1 - cxpb)."""
    return _normal_cuts(n, length, float(sigma), float(cxpb), seeds.next_seed())


def cx_normal_point(ind1: np.ndarray, ind2: np.ndarray, sigma: float, seeds: SeedStream):
    """Single-point crossover with the cut drawn from N(L/2, (sigma*L)^2), rounded and clamped to [0, L].

    Swaps the genes before the cut in place (copying the slices, as numpy individuals need).
    """
    cut = int(normal_cuts(1, len(ind1), sigma, seeds)[0])
    ind1[:cut], ind2[:cut] = ind2[:cut].copy(), ind1[:cut].copy()
    return ind1, ind2


@numba.njit(inline="always")
def _copy_bytes(dst, src, count):
    """Copy the first ``count`` bytes of the 1-D uint8 row ``src`` into ``dst``, after checking both are that long.
    A plain loop over contiguous rows: compiled, it copies as fast as the C library's memcpy, which the kernels
    called through numba internals until this release (``bench/copy_kernels.py`` measures both)."""
    if count < 0 or count > dst.shape[0] or count > src.shape[0]:
        raise IndexError("a byte copy runs past the end of a row")
    for j in range(count):
        dst[j] = src[j]


@numba.njit(cache=True)
def _write_children(source, rows, cuts, out):
    """out[i] = genes of its mate (the other row of its pair) before cut, its own parent's genes from the cut on."""
    n, length = out.shape
    for i in range(n):
        mate = i ^ 1
        cut = cuts[i // 2] if mate < n else 0
        own, other = source[rows[i]], source[rows[mate] if mate < n else rows[i]]
        child = out[i]
        _copy_bytes(child, other, cut)
        _copy_bytes(child[cut:], own[cut:], length - cut)


def as_byte_rows(block: np.ndarray) -> np.ndarray:
    """The rows of a C-contiguous (n, L) gene block of any dtype as (n, L * itemsize) raw bytes: the view the
    byte-copy kernels take, so that they serve float32 latent genomes as well as uint8 pixels."""
    if not block.flags.c_contiguous:
        raise ValueError("gene blocks must be C-contiguous arrays")
    return block if block.dtype == np.uint8 else block.view(np.uint8)


def _check_block(source: np.ndarray, out: np.ndarray) -> None:
    """The kernels copy raw bytes: both blocks must be C-contiguous uint8 with rows of one length."""
    if not (source.flags.c_contiguous and out.flags.c_contiguous and source.dtype == out.dtype == np.uint8):
        raise ValueError("gene blocks must be C-contiguous uint8 arrays")
    if source.ndim != 2 or out.ndim != 2 or source.shape[1] != out.shape[1]:
        raise ValueError(f"gene blocks must be 2-D with rows of one length, got {source.shape} and {out.shape}")


@numba.njit(inline="always")
def _check_rows(source, rows, out):
    """Compiled checks (no numpy call in the hot loop): rows index ``source``, and ``out`` does not overlap it."""
    source_start, out_start = source.ctypes.data, out.ctypes.data
    if not (out_start + out.nbytes <= source_start or source_start + source.nbytes <= out_start):
        raise ValueError("the output block must not overlap the source")
    for row in rows:
        if row < 0 or row >= source.shape[0]:
            raise IndexError("a parent row is outside the source block")


@numba.njit(cache=True)
def _elite_moves(fitness, rank, q, start):
    """q-elitism's bookkeeping: (sources, slots), each newcomer's row and the zone row it takes. ``fitness`` and
    ``rank`` are moved in place; the caller copies the genes."""
    n = len(fitness)
    if not (0 <= q and 0 <= start and start + q <= n) or len(rank) != n:
        raise ValueError("q-elitism needs the elite rows inside the block and one fitness value per row")
    candidates = np.empty(n, np.int64)  # the rows already in the elite zone first: they win ties
    candidates[:q] = np.arange(start, start + q)
    candidates[q:start + q] = np.arange(start)
    candidates[start + q:] = np.arange(start + q, n)
    elite = np.zeros(n, np.bool_)
    for row in candidates[np.argsort(-rank[candidates], kind="mergesort")[:q]]:
        elite[row] = True
    sources, slots = np.empty(q, np.int64), np.empty(q, np.int64)
    slot, moved = start, 0
    for row in candidates[q:]:
        if elite[row]:  # a newcomer: it takes the first zone row that is not an elite any more
            while elite[slot]:
                slot += 1
            fitness[slot], rank[slot] = fitness[row], rank[row]
            sources[moved], slots[moved] = row, slot
            slot, moved = slot + 1, moved + 1
    return sources[:moved], slots[:moved]


@numba.njit(cache=True)
def _keep_elites(genes, fitness, rank, q, start):
    if genes.shape[0] != len(fitness):
        raise ValueError("q-elitism needs the elite rows inside the block and one fitness value per row")
    sources, slots = _elite_moves(fitness, rank, q, start)
    for k in range(len(sources)):
        _copy_bytes(genes[slots[k]], genes[sources[k]], genes.shape[1])
    return len(sources)


def keep_elites(genes: np.ndarray, fitness: np.ndarray, q: int, start: int, rank: np.ndarray | None = None) -> int:
    """q-elitism in place: afterwards rows [start, start + q) of ``genes`` hold the q fittest rows, and ``fitness``
    their values. Elites already in that zone stay where they are (and win ties; other ties go to the earlier row);
    each newcomer is copied over a row that dropped out. ``rank``: what "fittest" sorts by, when not the fitness
    itself (niching's ranking); it moves with the rows. Returns the number of rows copied."""
    genes = as_byte_rows(genes)
    _check_block(genes, genes)
    return int(_keep_elites(genes, fitness, _checked_rank(fitness, rank, len(genes)), q, start))


def elite_moves(fitness: np.ndarray, q: int, start: int, rank: np.ndarray | None = None,
                rows: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``keep_elites`` without the genes: moves ``fitness`` (and ``rank``) in place and returns (sources, slots),
    the rows whose genes the caller copies and the zone rows they go to (no row is both), for genes held elsewhere
    (on a GPU: ``evoface.ga.tensor_operators``)."""
    return _elite_moves(fitness, _checked_rank(fitness, rank, len(fitness) if rows is None else rows), q, start)


def _checked_rank(fitness: np.ndarray, rank: np.ndarray | None, rows: int) -> np.ndarray:
    """``rank`` (the fitness where None), once both are one float64 value per row."""
    rank = fitness if rank is None else rank
    for values in (fitness, rank):
        if values.shape != (rows,) or values.dtype != np.float64:
            raise ValueError("keep_elites needs one float64 fitness value per row")
    return rank


@numba.njit(cache=True)
def _cross_rows(source, rows, out, sigma, cxpb, seed, itemsize):
    """Cuts are drawn over the genes, and applied to the byte rows at ``itemsize`` bytes per gene."""
    if len(rows) != out.shape[0]:
        raise ValueError("crossover writes one child per parent row: out needs len(rows) rows")
    _check_rows(source, rows, out)
    cuts = _normal_cuts(len(rows) // 2, source.shape[1] // itemsize, sigma, cxpb, seed)
    _write_children(source, rows, cuts * itemsize, out)
    return cuts


def cx_normal_point_rows(source: np.ndarray, rows: np.ndarray, out: np.ndarray, sigma: float, cxpb: float,
                         seeds: SeedStream) -> np.ndarray:
    """Children of the parents ``source[rows]``, written into the (len(rows), L) block ``out``: each consecutive pair
    of parents is crossed with probability cxpb, as ``cx_normal_point`` would cross copies of them. One compiled
    call draws the cuts and writes each child once, from its two parents' pieces. Returns the cuts (0 where a pair
    was not crossed). Genes of any dtype (uint8 pixels, float32 latents) are copied whole."""
    if source.dtype != out.dtype:
        raise ValueError(f"crossover between gene blocks of {source.dtype} and {out.dtype}")
    source_bytes, out_bytes = as_byte_rows(source), as_byte_rows(out)
    _check_block(source_bytes, out_bytes)
    return _cross_rows(source_bytes, np.asarray(rows, np.int64), out_bytes, float(sigma), float(cxpb),
                       seeds.next_seed(), source.itemsize)


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
            u = (np.float64(z >> np.uint64(11)) + 1.0) * _UNIT  # (0, 1]
            gap = 0 if indpb >= 1.0 else int(np.floor(np.log(u) / log_keep))
            pos += gap + 1
            if pos >= length:
                break
            state, z = _splitmix_next(state)
            block[i, pos] = np.uint8(z >> np.uint64(56))
            counts[i] += 1
    return counts.sum()


mutate_rows_serial = numba.njit(cache=True)(_mutate_rows)
mutate_rows_parallel = numba.njit(cache=True, parallel=True)(_mutate_rows)


def mut_uniform_reset_block(block: np.ndarray, indpb: float, seeds: SeedStream) -> int:
    """Mutate a whole (n, L) uint8 offspring block in place in one compiled call; threads only where they pay."""
    seed = seeds.next_seed()
    expected = block.size * indpb
    kernel = mutate_rows_parallel if expected >= PARALLEL_MIN_MUTATIONS else mutate_rows_serial
    return int(kernel(block, float(indpb), seed))


def mut_uniform_reset_numpy(block: np.ndarray, indpb: float, rng: np.random.Generator) -> int:
    """The same operator in plain numpy (one uniform draw per gene): the reference the benchmark compares with."""
    mask = rng.random(block.shape) < indpb
    count = int(mask.sum())
    block[mask] = rng.integers(0, 256, count, dtype=np.uint8)
    return count


@numba.njit(cache=True)
def _truncation_rows(fitness, k, top, seed):
    best = np.argsort(-fitness, kind="mergesort")[:top]
    state, rows = np.uint64(seed), np.empty(k, np.int64)
    for i in range(k):
        state, pick = _below(state, len(best))
        rows[i] = best[pick]
    return rows


@numba.njit(cache=True)
def _tournament_rows(fitness, k, tournsize, seed):
    state, rows = np.uint64(seed), np.empty(k, np.int64)
    for i in range(k):
        state, winner = _below(state, len(fitness))
        for _ in range(tournsize - 1):
            state, aspirant = _below(state, len(fitness))
            if fitness[aspirant] > fitness[winner]:
                winner = aspirant
        rows[i] = winner
    return rows


def sel_truncation(fitness: np.ndarray, k: int, top: int, seeds: SeedStream) -> np.ndarray:
    """Rows of k parents drawn uniformly from the ``top`` fittest (ties: the earlier row first)."""
    return _truncation_rows(fitness, k, top, seeds.next_seed())


def sel_tournament(fitness: np.ndarray, k: int, tournsize: int, seeds: SeedStream) -> np.ndarray:
    """Rows of k parents, each the fittest of ``tournsize`` rows drawn uniformly with replacement (ties: the first
    drawn)."""
    return _tournament_rows(fitness, k, tournsize, seeds.next_seed())


# Latent genomes: float32 input codes of a generator ------------------------------------------------------------------
# Normal-point crossover of latents is ``cx_normal_point_rows`` above, which copies whole genes of any dtype.


@numba.njit(cache=True)
def _gaussian_rows(block, indpb, sigma, seed):
    """Add sigma * N(0, 1) to each gene of the (n, k) float32 block with probability indpb. Row i draws from its own
    splitmix64 stream, started at the hash of seed + i; positions are found by geometric gaps, each followed by one
    Box-Muller normal. Returns the number of genes changed."""
    n, length = block.shape
    if indpb <= 0.0:
        return 0
    log_keep = np.log1p(-indpb) if indpb < 1.0 else -np.inf
    count = 0
    for i in range(n):
        _, state = _splitmix_next(np.uint64(seed) + np.uint64(i))
        pos = -1
        while True:
            state, u = _uniform(state)
            gap = 0 if indpb >= 1.0 else int(np.floor(np.log(1.0 - u) / log_keep))  # 1 - u in (0, 1]
            pos += gap + 1
            if pos >= length:
                break
            state, z = _standard_normal(state)
            block[i, pos] += np.float32(sigma * z)
            count += 1
    return count


@numba.njit(cache=True)
def _standard_normal_rows(block, seed):
    """Fill the (n, k) float32 block with N(0, 1) draws; row i from the stream at the hash of seed + i."""
    n, length = block.shape
    for i in range(n):
        _, state = _splitmix_next(np.uint64(seed) + np.uint64(i))
        for j in range(length):
            state, z = _standard_normal(state)
            block[i, j] = np.float32(z)


def _check_latents(*blocks: np.ndarray) -> None:
    for block in blocks:
        if block.dtype != np.float32 or block.ndim != 2 or not block.flags.c_contiguous:
            raise ValueError(f"latent blocks must be 2-D C-contiguous float32 arrays, got {block.dtype} {block.shape}")


def mut_gaussian_block(block: np.ndarray, indpb: float, sigma: float, seeds: SeedStream) -> int:
    """Gaussian mutation of a whole (n, k) float32 block in place: each gene gets + sigma * N(0, 1) with probability
    indpb. Returns the number of genes changed."""
    _check_latents(block)
    return int(_gaussian_rows(block, float(indpb), float(sigma), seeds.next_seed()))


def fill_foreign(block: np.ndarray, seeds: SeedStream) -> None:
    """Overwrite the (n, k) float32 block with fresh N(0, I) latents: "foreign" individuals, new to the population."""
    _check_latents(block)
    _standard_normal_rows(block, seeds.next_seed())


def to_typical_sphere(block: np.ndarray) -> None:
    """Rescale each row of an (n, k) float32 block to norm sqrt(k), where N(0, I) codes concentrate. Gaussian
    mutation alone is a random walk that inflates the norm generation after generation, out to codes the decoder never
    saw in training (over-saturated, smeared images)."""
    norms = np.sqrt(np.einsum("ij,ij->i", block, block, dtype=np.float64))
    scale = np.where(norms > 0, np.sqrt(block.shape[1]) / np.maximum(norms, 1e-12), 1.0)
    block *= scale.astype(np.float32)[:, None]


def mutate_latent_block(block: np.ndarray, indpb: float, sigma: float, foreign: int, seeds: SeedStream,
                        sphere: bool = False) -> int:
    """The latent GA's mutation step on its offspring block: the last ``foreign`` rows become fresh N(0, I)
    individuals, the others get Gaussian mutation (then, with ``sphere``, ``to_typical_sphere``). Returns the number
    of genes mutated."""
    keep = len(block) - min(foreign, len(block))
    if keep < len(block):
        fill_foreign(block[keep:], seeds)
    mutated = mut_gaussian_block(block[:keep], indpb, sigma, seeds)
    if sphere:
        to_typical_sphere(block[:keep])
    return mutated


@numba.njit(cache=True)
def _slerp_into(a, b, t, out):
    """out = the point a fraction t along the great circle from a's direction to b's, with a norm linearly
    interpolated between |a| and |b| (so that it always lies between them)."""
    norm_a, norm_b, dot = 0.0, 0.0, 0.0
    for j in range(a.shape[0]):
        norm_a += np.float64(a[j]) * a[j]
        norm_b += np.float64(b[j]) * b[j]
        dot += np.float64(a[j]) * b[j]
    norm_a, norm_b = np.sqrt(norm_a), np.sqrt(norm_b)
    norm = (1.0 - t) * norm_a + t * norm_b
    if norm_a == 0.0 or norm_b == 0.0:  # no direction to follow: plain linear interpolation
        for j in range(a.shape[0]):
            out[j] = np.float32((1.0 - t) * a[j] + t * b[j])
        return
    omega = np.arccos(min(1.0, max(-1.0, dot / (norm_a * norm_b))))
    if np.sin(omega) < 1e-6:  # (anti)parallel parents: the circle is undefined; keep the nearer parent's direction
        wa, wb = (1.0 / norm_a, 0.0) if t < 0.5 else (0.0, 1.0 / norm_b)
    else:
        wa = np.sin((1.0 - t) * omega) / np.sin(omega) / norm_a
        wb = np.sin(t * omega) / np.sin(omega) / norm_b
    for j in range(a.shape[0]):
        out[j] = np.float32(norm * (wa * a[j] + wb * b[j]))


@numba.njit(cache=True)
def _slerp_rows(source, rows, out, cxpb, seed):
    if len(rows) != out.shape[0]:
        raise ValueError("crossover writes one child per parent row: out needs len(rows) rows")
    _check_rows(source, rows, out)
    state = np.uint64(seed)
    ts = np.zeros(len(rows) // 2)
    for p in range(0, len(rows) - 1, 2):
        a, b = source[rows[p]], source[rows[p + 1]]
        state, t = _uniform(state)
        state, u = _uniform(state)
        if u < cxpb:
            ts[p // 2] = t
            _slerp_into(a, b, t, out[p])
            _slerp_into(a, b, 1.0 - t, out[p + 1])
        else:
            out[p, :] = a
            out[p + 1, :] = b
    if len(rows) % 2:
        out[len(rows) - 1, :] = source[rows[len(rows) - 1]]
    return ts


def cx_slerp_rows(source: np.ndarray, rows: np.ndarray, out: np.ndarray, cxpb: float, seeds: SeedStream) -> np.ndarray:
    """Children of the parent pairs ``source[rows]`` into ``out`` by spherical interpolation: with probability cxpb
    a pair (a, b) gets t ~ U(0, 1) and its children are the points t and 1 - t of the way from a to b (slerp of the
    directions, norms interpolated linearly); otherwise the children are copies. Returns each pair's t (0 where not
    crossed)."""
    _check_latents(source, out)
    if source.shape[1] != out.shape[1]:
        raise ValueError(f"latent blocks of different lengths: {source.shape} and {out.shape}")
    return _slerp_rows(source, np.asarray(rows, np.int64), out, float(cxpb), seeds.next_seed())
