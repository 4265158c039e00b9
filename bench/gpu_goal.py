"""Does a default evolve run of 100,000 generations at 64 px finish in under 4 minutes on a GPU (the project's goal)?

One default ``evolve`` run of ``--generations`` on ``--device`` (engine auto: the tensor engine on a GPU), timed from
start to end: loading, the precision probe, the snapshot and checkpoint cadence and the final outputs included.
Prints the seconds, gen/s, and the minutes 100,000 generations take at that rate. The rate holds for the machine
printed first.

Run: python bench/gpu_goal.py [--generations 100000] [--device cuda]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import machine  # noqa: E402
from evoface.evolve import evolve  # noqa: E402
from evoface.evolve_config import EvolveConfig  # noqa: E402

GOAL_GENERATIONS, GOAL_MINUTES = 100_000, 4


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generations", type=int, default=GOAL_GENERATIONS)
    parser.add_argument("--device", default="cuda")
    args = parser.parse_args()
    print(machine(args.device), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        summary = evolve(EvolveConfig(out=f"{tmp}/run", generations=args.generations, device=args.device, seed=0))
        seconds = time.perf_counter() - start
    rate = args.generations / seconds
    print(f"== a default evolve run of {args.generations:,} generations on {args.device} ({summary['engine']} engine, "
          f"{summary['precision']}, kernels {summary['kernels']}): {seconds:.1f} s, {rate:.1f} gen/s, best fitness "
          f"{summary['best_fitness']:.4f}; {GOAL_GENERATIONS:,} generations at this rate: "
          f"{GOAL_GENERATIONS / rate / 60:.1f} min (the goal: under {GOAL_MINUTES})")


if __name__ == "__main__":
    main()
