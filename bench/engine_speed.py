"""Engine speed: generations/s of the fast engine (QElitistGA) and the reference engine (the plain DEAP loop,
evoface.ga.reference) in the real evolve loop at 64 px on the shipped faceness model (mu=100, q=20), side by side in
one process, taking turns; and the reference engine with DEAP's own operators (tools.cxTwoPoint, tools.mutUniformInt).
Both engines run the method itself: faceness alone, per-gene reset mutation (--prior none --mutation reset).

Run: python bench/engine_speed.py [--generations 300] [--repeats 3] [--threads N]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
from deap import base, tools

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.loop_timing import TimedScorer, time_generations, timed_run  # noqa: E402
from evoface.evolve_build import Evolution  # noqa: E402
from evoface.evolve_config import EvolveConfig  # noqa: E402

WARMUP_GENERATIONS = 10


def deap_operators() -> base.Toolbox:
    """A user's toolbox of DEAP's own operators."""
    toolbox = base.Toolbox()
    toolbox.register("mate", tools.cxTwoPoint)
    toolbox.register("mutate", tools.mutUniformInt, low=0, up=255, indpb=0.001)
    return toolbox


def warm_run(workdir: Path, name: str, engine: str, toolbox: base.Toolbox | None = None
             ) -> tuple[Evolution, TimedScorer]:
    config = EvolveConfig(out=str(workdir / name), device="cpu", seed=0, engine="reference" if toolbox else engine,
                          prior="none", mutation="reset")
    return timed_run(config, toolbox, WARMUP_GENERATIONS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generations", type=int, default=300, help="timed generations per measurement")
    parser.add_argument("--deap-generations", type=int, default=10,
                        help="timed generations per measurement with DEAP's per-gene mutation (slow)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's); 1 keeps a loaded machine's "
                        "other processes from stalling the forward pass's thread team")
    args = parser.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        runs = {"fast": (warm_run(Path(tmp), "fast", "fast"), args.generations),
                "reference": (warm_run(Path(tmp), "reference", "reference"), args.generations),
                "reference, DEAP cxTwoPoint + mutUniformInt": (
                    warm_run(Path(tmp), "deap", "reference", deap_operators()), args.deap_generations)}
        rates = {name: [] for name in runs}
        for repeat in range(args.repeats):
            for name in runs if repeat % 2 == 0 else reversed(list(runs)):
                (run, timed), generations = runs[name]
                rates[name].append(time_generations(run, timed, generations)[0])
    fast = float(np.median(rates["fast"]))
    import torch

    print(f"\n== evolve loop at 64 px, shipped model, mu=100, q=20, {torch.get_num_threads()} torch threads: "
          f"generations/s, median of {args.repeats} (range), taking turns")
    for name, values in rates.items():
        median = float(np.median(values))
        print(f"{name:>44} {median:8.1f} ({min(values):.1f}-{max(values):.1f})   fast / this: {fast / median:6.1f}x")


if __name__ == "__main__":
    main()
