"""The random source of the compiled genetic operators: a splitmix64 stream of seeds, in plain Python."""

from __future__ import annotations

import numpy as np

MASK64 = 2**64 - 1
GOLDEN, MIX1, MIX2 = 0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9, 0x94D049BB133111EB  # Steele, Lea & Flood (2014)


def splitmix64(state: int) -> tuple[int, int]:
    """One step of splitmix64: (next state, 64-bit output). The compiled kernels run the same steps on uint64."""
    state = (state + GOLDEN) & MASK64
    z = state
    z = ((z ^ (z >> 30)) * MIX1) & MASK64
    z = ((z ^ (z >> 27)) * MIX2) & MASK64
    return state, z ^ (z >> 31)


class SeedStream:
    """Gives each call of a compiled operator a 63-bit seed, from which the kernel draws all its random numbers.

    A generation thus makes no call into numpy's Generator: right after the CNN's forward pass has evicted the caches,
    each such call costs tens of microseconds, this one about one. ``state`` (an int) goes into checkpoints; no kernel
    uses numba's own generator, so this is all the random state the compiled side has.
    """

    def __init__(self, state: int):
        self.state = state & MASK64

    @classmethod
    def from_generator(cls, rng: np.random.Generator) -> SeedStream:
        return cls(int(rng.integers(0, 2**63)))

    def next_seed(self) -> int:
        self.state, z = splitmix64(self.state)
        return z >> 1
