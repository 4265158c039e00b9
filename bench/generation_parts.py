"""Where does a default generation's time go: the faceness forward, the realism prior, the mutation, or the rest?

The default evolve loop at 64 px (the shipped faceness model, realism prior and face-space mutation), timed part by
part over stretches of ``--generations`` (the rest: crossover, selection, elitism, metrics); medians of the turns.
With ``--widths``, the same loop with untrained faceness nets of each first-block width instead (16 is the shipped
one's), taking turns, in bf16 where the CPU has AMX's tiles (an untrained net's scores all but tie, so "auto"'s probe
would fall back to fp32): what a slimmer net would save. Only ratios from one run compare; the times hold for the
machine printed first.

Run: python bench/generation_parts.py [--generations 300] [--turns 3] [--device cpu]
     python bench/generation_parts.py --widths 16 8 [--generations 300] [--turns 5]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import machine, take_turns  # noqa: E402
from bench.loop_timing import median_parts, parts_text, time_parts, warm_run  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generations", type=int, default=300, help="timed generations a turn")
    parser.add_argument("--turns", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--widths", type=int, nargs="+", metavar="WIDTH",
                        help="untrained faceness nets of these first-block widths instead of the shipped model")
    args = parser.parse_args()
    import torch

    from neural.precision import resolve_precision

    print(machine(args.device), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        if args.widths:
            precision = resolve_precision("auto", torch.device(args.device))
            runs = {f"width {width}": warm_run(64, args.device, Path(tmp), precision=precision, options={},
                                               width=width) for width in args.widths}
            title = f"by the faceness net's first-block width ({precision}, untrained nets)"
        else:
            runs = {"default": warm_run(64, args.device, Path(tmp), shipped=True, options={})}
            title = f"the shipped models ({runs['default'][0].scorer.precision})"
        turns = take_turns({name: lambda r=run: time_parts(*r, args.generations) for name, run in runs.items()},
                           args.turns)
    print(f"\n== the default loop at 64 px, {title}; ms a generation, median of {args.turns} turns of "
          f"{args.generations}")
    first = np.array([turn["generation"] for turn in next(iter(turns.values()))])
    for index, (name, values) in enumerate(turns.items()):
        line = f"{name}: {parts_text(median_parts(values))}"
        if index:
            ratios = first / np.array([turn["generation"] for turn in values])
            line += (f"; generations/s {np.median(ratios):.2f}x {next(iter(turns))} "
                     f"({ratios.min():.2f}-{ratios.max():.2f}x)")
        print(line)


if __name__ == "__main__":
    main()
