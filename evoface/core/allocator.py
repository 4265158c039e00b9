"""Keep the GA's per-generation tensors on the heap instead of fresh mmap'd pages, for the evolve loop only.

glibc serves blocks above its mmap threshold (128 KiB at start, raised dynamically only after such a block is
freed) with mmap, and munmap returns them on free, so every generation's multi-MB activations may page-fault again.
``large_blocks_on_heap`` fixes the thresholds around the evolve loop and sets glibc's start values back afterwards,
so training in the same process (``refine-rounds``) runs with glibc's thresholds. ``bench/ga_speed.py --allocator``
measures the loop with and without it, in separate processes.
"""

from __future__ import annotations

import ctypes
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
MMAP_THRESHOLD = 32 * 1024 * 1024   # glibc's largest allowed value on 64-bit systems
TRIM_THRESHOLD = 512 * 1024 * 1024


GLIBC_START_THRESHOLD = 128 * 1024  # glibc's start value of both thresholds


@lru_cache(maxsize=1)
def _mallopt():
    """glibc's ``mallopt``, or None off glibc."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return None


def _set_thresholds(mmap_threshold: int, trim_threshold: int) -> bool:
    mallopt = _mallopt()
    return mallopt is not None and bool(mallopt(M_MMAP_THRESHOLD, mmap_threshold)) and bool(
        mallopt(M_TRIM_THRESHOLD, trim_threshold))


_depth = 0  # blocks entered and applied, nested ones included


@contextmanager
def large_blocks_on_heap(enabled: bool = True) -> Iterator[bool]:
    """Within the block, glibc serves blocks up to 32 MiB from the heap and keeps up to 512 MiB of freed heap; yields
    whether that applied (False off glibc, or when not ``enabled``). On leaving the outermost such block both
    thresholds go back to glibc's start value, 128 KiB (fixed from then on: glibc raises them dynamically only until
    a program first sets them); a nested block leaves them as the outer one set them."""
    global _depth
    applied = enabled and (_depth > 0 or _set_thresholds(MMAP_THRESHOLD, TRIM_THRESHOLD))
    _depth += int(applied)
    try:
        yield applied
    finally:
        if applied:
            _depth -= 1
            if not _depth:
                _set_thresholds(GLIBC_START_THRESHOLD, GLIBC_START_THRESHOLD)
