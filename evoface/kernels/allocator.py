"""Keep multi-MB tensors on the heap instead of fresh mmap'd pages: around the evolve loop and FID's features.

glibc serves blocks above its mmap threshold (128 KiB at start, raised dynamically only after such a block is
freed) with mmap, and munmap returns them on free, so every generation's multi-MB activations may page-fault again.
``large_blocks_on_heap`` fixes the thresholds around the evolve loop (and ``neural.fid.inception_features``). Once a
program sets a threshold glibc never raises it again, so on leaving the block they are set to where glibc's own rule
ends up after large blocks are freed, not back to the start values: with those fixed, DCGAN training in the same
process (``refine-rounds`` after evolve, ``train-gan`` after an FID) ran 15% slower than with glibc's rule (197-203
against 235-238 images/s; 260 inside the block); with the values set now, 254-257 against 245-246 (one-off checks,
each in one process). It is the fast path ``heap-blocks`` of ``evoface.kernels``: measure it in separate processes
(``bench/release_speed.py``), since thresholds once set stay set in a process.
"""

from __future__ import annotations

import ctypes
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

from evoface.kernels import switch

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
MMAP_THRESHOLD = 32 * 1024 * 1024   # glibc's largest allowed value on 64-bit systems
TRIM_THRESHOLD = 512 * 1024 * 1024


# after the block: where glibc's dynamic rule takes the thresholds once a block of 32 MiB or more has been freed (the
# mmap threshold to that block's size, at most 32 MiB; the trim threshold to twice the mmap threshold)
AFTER_MMAP_THRESHOLD, AFTER_TRIM_THRESHOLD = MMAP_THRESHOLD, 2 * MMAP_THRESHOLD


@lru_cache(maxsize=1)
def _mallopt():
    """glibc's ``mallopt``, or None off glibc."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return None


def available() -> bool:
    """True where glibc's thresholds can be set (Linux with glibc)."""
    return _mallopt() is not None


def _set_thresholds(mmap_threshold: int, trim_threshold: int) -> bool:
    mallopt = _mallopt()
    return mallopt is not None and bool(mallopt(M_MMAP_THRESHOLD, mmap_threshold)) and bool(
        mallopt(M_TRIM_THRESHOLD, trim_threshold))


_depth = 0  # blocks entered and applied, nested ones included
_depth_lock = threading.Lock()


@contextmanager
def large_blocks_on_heap(enabled: bool = True) -> Iterator[bool]:
    """Within the block, glibc serves blocks up to 32 MiB from the heap and keeps up to 512 MiB of freed heap; yields
    whether that applied (False off glibc, or when not ``enabled``). On leaving the outermost such block the
    thresholds become ``AFTER_MMAP_THRESHOLD`` and ``AFTER_TRIM_THRESHOLD``; a nested block leaves them as the outer
    one set them."""
    global _depth
    with _depth_lock:
        applied = enabled and switch.enabled("heap-blocks") and (_depth > 0 or _set_thresholds(MMAP_THRESHOLD, TRIM_THRESHOLD))
        _depth += int(applied)
    try:
        yield applied
    finally:
        if applied:
            with _depth_lock:
                _depth -= 1
                if not _depth:
                    _set_thresholds(AFTER_MMAP_THRESHOLD, AFTER_TRIM_THRESHOLD)
