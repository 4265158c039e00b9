"""The kernels' row copies refuse to run past a row, and the allocator setting holds only inside its blocks (the evolve
loop, FID features)."""

import platform
from pathlib import Path

import numpy as np
import pytest

from evoface.kernels import allocator, switch
from evoface.kernels.allocator import large_blocks_on_heap
from evoface.ga.operators import _write_children

GLIBC = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"


def test_a_copy_past_the_end_of_a_row_is_refused():
    source, out = np.zeros((2, 10), np.uint8), np.zeros((2, 10), np.uint8)
    with pytest.raises(IndexError, match="past the end"):
        _write_children(source, np.array([0, 1]), np.array([11]), out)


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
@pytest.mark.usefixtures("fast_paths_on")
def test_large_blocks_come_from_the_heap_inside_the_block():
    with large_blocks_on_heap() as applied:
        inside = np.ones(4 * 1024 * 1024, np.uint8)  # 4 MB: above glibc's start threshold, below the fixed one
        assert applied and in_heap(inside)
    with switch.plain(), large_blocks_on_heap() as applied:  # the fast path heap-blocks off
        assert not applied
    with large_blocks_on_heap(enabled=False) as applied:
        assert not applied


@pytest.mark.usefixtures("fast_paths_on")
def test_leaving_the_outermost_block_sets_the_thresholds_glibcs_rule_reaches(monkeypatch):
    calls = []
    monkeypatch.setattr(allocator, "_set_thresholds", lambda *values: calls.append(values) or True)
    with large_blocks_on_heap():
        with large_blocks_on_heap() as applied:  # as FID features taken inside another such block
            assert applied
        assert calls == [(allocator.MMAP_THRESHOLD, allocator.TRIM_THRESHOLD)]  # the inner block changed nothing
    assert calls[1:] == [(allocator.AFTER_MMAP_THRESHOLD, allocator.AFTER_TRIM_THRESHOLD)]
    assert allocator.AFTER_MMAP_THRESHOLD > 4 * 1024 * 1024  # not glibc's start values, which training ran slower on
    with large_blocks_on_heap(enabled=False):
        pass
    assert len(calls) == 2
