"""Does the tensor engine (the whole generation on the device) run the default loop faster than the fast engine?

The default 64 px loop (shipped models) on the tensor engine (the GA on ``--device``) and on the fast one (the GA on
the host, the scorer on ``--device``), taking turns in one process: gen/s, median (range), and the per-turn ratio.
On a CPU ``--engine auto`` keeps the fast engine; on a GPU it takes the tensor one. Only ratios from one run compare;
the rates hold for the machine printed first.

Run: python bench/tensor_engine.py --device cuda [--generations 1000] [--turns 3]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import machine, median_range, take_turns  # noqa: E402
from bench.loop_timing import time_generations, warm_run  # noqa: E402

ENGINES = ("tensor", "fast")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--generations", type=int, default=1000, help="timed generations a turn")
    parser.add_argument("--turns", type=int, default=3)
    args = parser.parse_args()
    print(machine(args.device), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        runs = {engine: warm_run(64, args.device, Path(tmp), shipped=True, options={"engine": engine})
                for engine in ENGINES}
        rates = take_turns({engine: lambda r=run: time_generations(*r, args.generations)[0]
                            for engine, run in runs.items()}, args.turns)
    print(f"\n== the default loop at 64 px, {args.turns} turns of {args.generations} generations, gen/s: "
          f"median (range)")
    for engine, (evolution, _) in runs.items():
        print(f"{engine:>7} engine ({evolution.scorer.precision}): {median_range(rates[engine])} gen/s, "
              f"{1000 / np.median(rates[engine]):.2f} ms/gen")
    ratios = np.array(rates["tensor"]) / np.array(rates["fast"])
    print(f"tensor / fast: {median_range(ratios, 2)}x")


if __name__ == "__main__":
    main()
