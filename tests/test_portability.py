"""The memcpy path of the crossover and elitism kernels against the same kernels with the plain byte loop, its bounds
check, and the allocator setting scoped to the evolve loop."""

import platform
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evoface.core.allocator import large_blocks_on_heap
from evoface.ga.operators import _keep_elites, _normal_cuts, _write_children, with_plain_copies

GLIBC = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 12), st.integers(1, 400), st.integers(0, 10**6))
def test_memcpy_kernels_write_what_the_plain_loop_writes(n, length, seed):
    rng = np.random.default_rng(seed)
    source = rng.integers(0, 256, (8, length), dtype=np.uint8)
    rows, cuts = rng.integers(0, 8, n), _normal_cuts(n // 2, length, 0.5, 0.8, seed)
    fast, plain = np.zeros((n, length), np.uint8), np.ones((n, length), np.uint8)
    _write_children(source, rows, cuts, fast)
    with_plain_copies(_write_children)(source, rows, cuts, plain)
    assert np.array_equal(fast, plain)
    fitness, q = rng.random(8), int(rng.integers(0, 8))
    start = int(rng.integers(0, 8 - q + 1))
    genes_fast, fitness_fast, genes_plain, fitness_plain = source.copy(), fitness.copy(), source.copy(), fitness.copy()
    assert _keep_elites(genes_fast, fitness_fast, q, start) == with_plain_copies(_keep_elites)(
        genes_plain, fitness_plain, q, start)
    assert np.array_equal(genes_fast, genes_plain) and np.array_equal(fitness_fast, fitness_plain)


def test_a_copy_past_the_end_of_a_row_is_refused():
    source, out = np.zeros((2, 10), np.uint8), np.zeros((2, 10), np.uint8)
    for kernel in (_write_children, with_plain_copies(_write_children)):
        with pytest.raises(IndexError, match="past the end"):
            kernel(source, np.array([0, 1]), np.array([11]), out)


def in_heap(array: np.ndarray) -> bool:
    """Whether the array's data lies in the process's [heap] (brk) segment rather than in an mmap'd block."""
    address = array.ctypes.data
    for line in Path("/proc/self/maps").read_text().splitlines():
        if line.endswith("[heap]"):
            low, high = (int(part, 16) for part in line.split()[0].split("-"))
            if low <= address < high:
                return True
    return False


@pytest.mark.skipif(not GLIBC, reason="the allocator setting applies to glibc only")
def test_large_blocks_come_from_the_heap_only_inside_the_evolve_loop():
    with large_blocks_on_heap() as applied:
        inside = np.ones(4 * 1024 * 1024, np.uint8)  # 4 MB: above glibc's start threshold, below the fixed one
        assert applied and in_heap(inside)
    after = np.ones(4 * 1024 * 1024, np.uint8)
    assert not in_heap(after)
    with large_blocks_on_heap(enabled=False) as applied:
        assert not applied and not in_heap(np.ones(4 * 1024 * 1024, np.uint8))
