"""Do the crossover and elitism kernels copy rows as fast with their plain loop as with the C library's memcpy?

The crossover kernel (80 children) and elitism (mu=100, q=20, every elite a newcomer) at 64, 100 and 128 px, each
compiled with its plain checked copy loop (``evoface.ga.operators._copy_bytes``) and again with memcpy called through
numba internals (how the kernels copied until the loop replaced it), each call after a 16 MB write has evicted the
caches (as the forward pass does). Prints median microseconds and memcpy's speed-up over the loop. The times hold for
the machine printed first.

Run: python bench/copy_kernels.py [--repeats 200] [--sizes 64 100 128]
"""

from __future__ import annotations

import argparse
import sys
import time
import types
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import OFFSPRING, machine  # noqa: E402
from evoface.ga.operators import _keep_elites, _normal_cuts, _write_children  # noqa: E402

MU, Q = 100, 20


def _memcpy_intrinsic():
    """The C library's memcpy as a numba intrinsic built from numba internals (``cgutils.raw_memcpy``)."""
    from numba.core import cgutils
    from numba.core import types as numba_types
    from numba.extending import intrinsic

    @intrinsic
    def memcpy(typingctx, dst, src, count):
        def codegen(context, builder, signature, args):
            dst_array = context.make_array(signature.args[0])(context, builder, args[0])
            src_array = context.make_array(signature.args[1])(context, builder, args[1])
            cgutils.raw_memcpy(builder, dst_array.data, src_array.data, args[2], 1)
            return context.get_dummy_value()
        return numba_types.void(dst, src, count), codegen
    return memcpy


def with_memcpy(kernel):
    """``kernel`` compiled again with its row copies (``_copy_bytes``) done by memcpy, after the same bounds check."""
    import numba

    memcpy = _memcpy_intrinsic()

    @numba.njit(inline="always")
    def copy_bytes(dst, src, count):
        if count < 0 or count > dst.shape[0] or count > src.shape[0]:
            raise IndexError("a byte copy runs past the end of a row")
        memcpy(dst, src, count)

    function = kernel.py_func
    return numba.njit(types.FunctionType(function.__code__, {**function.__globals__, "_copy_bytes": copy_bytes},
                                         function.__name__, function.__defaults__, function.__closure__))


def time_copy_kernels(size: int, repeats: int) -> dict[str, tuple[float, float]]:
    """Median microseconds of (crossover, elitism) with memcpy and with the plain loop, caches evicted before each
    call."""
    length, rng = size * size * 3, np.random.default_rng(0)
    source, out = rng.integers(0, 256, (MU, length), dtype=np.uint8), np.empty((OFFSPRING, length), np.uint8)
    rows, cuts = rng.integers(0, MU, OFFSPRING), _normal_cuts(OFFSPRING // 2, length, 0.5, 1.0, 1)
    fitness = rng.random(MU)
    start_row = MU - Q
    fitness[start_row:] = -1.0  # the elite zone [80, 100) holds the worst rows: all 20 elites are copied in
    flush = np.empty(16_000_000, np.uint8)
    result = {}
    for name, cross, elites in (("memcpy", with_memcpy(_write_children), with_memcpy(_keep_elites)),
                                ("plain loop", _write_children, _keep_elites)):
        times = {"crossover": [], "elitism": []}
        for _ in range(repeats):
            flush[:] = 1
            start = time.perf_counter()
            cross(source, rows, cuts, out)
            times["crossover"].append(time.perf_counter() - start)
            genes, values = source.copy(), fitness.copy()
            flush[:] = 2
            start = time.perf_counter()
            elites(genes, values, values.copy(), Q, start_row)
            times["elitism"].append(time.perf_counter() - start)
        result[name] = tuple(float(np.median(times[kind])) * 1e6 for kind in ("crossover", "elitism"))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 100, 128])
    args = parser.parse_args()
    print(machine(), flush=True)
    print(f"== crossover ({OFFSPRING} children) and elitism ({Q} newcomers) kernels, caches evicted before each call: "
          f"median microseconds of {args.repeats}; speed-up: memcpy over the kernels' plain loop")
    print(f"{'size':>5} {'crossover memcpy':>17} {'plain':>8} {'speed-up':>9} {'elitism memcpy':>15} {'plain':>8} "
          f"{'speed-up':>9}")
    for size in args.sizes:
        times = time_copy_kernels(size, args.repeats)
        (cross, elite), (cross_plain, elite_plain) = times["memcpy"], times["plain loop"]
        print(f"{size:>5} {cross:17.1f} {cross_plain:8.1f} {cross_plain / cross:8.1f}x {elite:15.1f} "
              f"{elite_plain:8.1f} {elite_plain / elite:8.1f}x")


if __name__ == "__main__":
    main()
