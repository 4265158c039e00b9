"""How fast is the evolve loop at each image size, and what besides the CNN forward costs it?

Generations/s of the real loop at 64, 100 and 128 px (mu=100, q=20, an untrained faceness net of the shipped
architecture, the original fitness and mutation, which every size has) and the share of each generation spent
outside the forward pass; the same loop with the CPU's default chunks against one forward pass of all 80 offspring;
what the default snapshot and checkpoint cadence adds; and the numba mutation kernel against the same operator in
numpy. All loops take turns in one process. Only ratios from one run compare; the rates hold for the machine printed
first.

Run: python bench/ga_sizes.py [--sizes 64 100 128] [--generations 1000] [--turns 3] [--device cpu]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import OFFSPRING, machine, take_turns  # noqa: E402
from bench.loop_timing import time_generations, warm_run  # noqa: E402
from evoface.core.rundir import RunDir  # noqa: E402
from evoface.evolve import SingleRun  # noqa: E402
from evoface.evolve_build import Evolution  # noqa: E402
from evoface.evolve_config import EvolveConfig  # noqa: E402
from evoface.evolve_loop import Clock, metrics_row  # noqa: E402
from evoface.ga.operators import mut_uniform_reset_block, mut_uniform_reset_numpy  # noqa: E402
from evoface.ga.seed_stream import SeedStream  # noqa: E402

MODES = ("chunks", "one batch")


def median_seconds(call, repeats: int) -> float:
    """Median seconds of ``repeats`` calls of ``call``."""
    durations = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        durations.append(time.perf_counter() - start)
    return float(np.median(durations))


def time_periodic_outputs(evolution: Evolution, folder: Path, repeats: int) -> float:
    """Microseconds per generation that the default cadence adds: a best-image snapshot every ``snapshot_every``
    generations, and every ``checkpoint_every`` the metric rows written and a checkpoint saved (``SingleRun``'s
    hooks, into a run folder at ``folder``)."""
    defaults = EvolveConfig(out="")
    run = SingleRun(RunDir(folder), evolution)
    rows = [metrics_row(evolution, Clock(0.0), 0)] * defaults.checkpoint_every

    def checkpoint() -> None:
        run.pending = list(rows)
        run.checkpoint(evolution)

    snapshot = median_seconds(lambda: run.snapshot(evolution), repeats)
    saved = median_seconds(checkpoint, repeats)
    run.bar.close()
    return (snapshot / defaults.snapshot_every + saved / defaults.checkpoint_every) * 1e6


def summary(figures: list[tuple[float, float, float]]) -> tuple[float, float, float, str]:
    """Medians of (generations/s, share outside, microseconds outside) and their range, as text."""
    rates, shares, outside = (np.array(column) for column in zip(*figures))
    spread = (f"median of {len(rates)}; range {rates.min():.1f}-{rates.max():.1f} gen/s, "
              f"{shares.min():.1%}-{shares.max():.1%} outside")
    return float(np.median(rates)), float(np.median(shares)), float(np.median(outside)), spread


def time_mutation(length: int, indpb: float, repeats: int) -> tuple[float, float]:
    """Microseconds per call of the numba and the numpy reset mutation on an 80-offspring block of ``length``."""
    rng, seeds = np.random.default_rng(0), SeedStream(0)
    block = rng.integers(0, 256, (OFFSPRING, length), dtype=np.uint8)
    mut_uniform_reset_block(block, indpb, seeds)  # compile
    result = []
    for operator, source in ((mut_uniform_reset_block, seeds), (mut_uniform_reset_numpy, rng)):
        start = time.perf_counter()
        for _ in range(repeats):
            operator(block, indpb, source)
        result.append((time.perf_counter() - start) / repeats * 1e6)
    return result[0], result[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 100, 128])
    parser.add_argument("--generations", type=int, default=1000, help="timed generations per measurement")
    parser.add_argument("--turns", type=int, default=3,
                        help="measurements per size and batching, all taking turns (timings drift between runs)")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    import torch

    from evoface.scoring import chunk_size

    print(machine(args.device), flush=True)
    sizes = args.sizes
    with tempfile.TemporaryDirectory() as tmp:
        runs = {(size, mode): warm_run(size, args.device, Path(tmp), OFFSPRING if mode == "one batch" else None)
                for size in sizes for mode in MODES}
        results = take_turns({key: lambda r=run: time_generations(*r, args.generations) for key, run in runs.items()},
                             args.turns)
        periodic = {size: time_periodic_outputs(runs[size, "chunks"][0], Path(tmp) / f"outputs{size}", repeats=10)
                    for size in sizes}

    print(f"\n== evolve loop, mu=100, q=20, {args.generations} generations each, {args.turns} times, "
          f"offspring scored in the default chunks")
    print(f"{'size':>5} {'gen/s':>8} {'outside CNN':>12} {'us/gen outside':>15}")
    for size in sizes:
        rate, share, outside, spread = summary(results[size, "chunks"])
        print(f"{size:>5} {rate:8.1f} {share:11.1%} {outside:15.0f}   {spread}")
    print(f"\n== the same loop, offspring in the default chunks vs one forward pass of all {OFFSPRING} (medians)")
    print(f"{'size':>5} {'images/chunk':>13} {'gen/s chunks':>13} {'gen/s one':>10} {'speed-up':>9} "
          f"{'outside chunks':>15} {'outside one':>12}")
    for size in sizes:
        chunked, whole = summary(results[size, "chunks"]), summary(results[size, "one batch"])
        chunk = chunk_size(OFFSPRING, torch.device(args.device), size, runs[size, "chunks"][0].scorer.precision)
        print(f"{size:>5} {chunk:13d} {chunked[0]:13.1f} {whole[0]:10.1f} {chunked[0] / whole[0]:8.2f}x "
              f"{chunked[1]:14.1%} {whole[1]:11.1%}")
    defaults = EvolveConfig(out="")
    print(f"\n== what the default cadence adds (a snapshot every {defaults.snapshot_every} generations, metrics and a "
          f"checkpoint every {defaults.checkpoint_every})")
    print(f"{'size':>5} {'us/gen':>8} {'of a generation':>16}")
    for size in sizes:
        generation_us = 1e6 / summary(results[size, "chunks"])[0]
        print(f"{size:>5} {periodic[size]:8.0f} {periodic[size] / generation_us:15.1%}")
    print(f"\n== mutation of an {OFFSPRING}-offspring block (microseconds per call)")
    print(f"{'size':>5} {'indpb':>7} {'numba':>9} {'numpy':>10} {'speed-up':>9}")
    for size in sizes:
        for indpb in (0.001, 0.01):
            fast, slow = time_mutation(size * size * 3, indpb, repeats=30)
            print(f"{size:>5} {indpb:7.3f} {fast:9.1f} {slow:10.1f} {slow / fast:8.0f}x")


if __name__ == "__main__":
    main()
