"""How many times the original study's GA loop's speed does evoface's default loop run?

The original loop (``bench/original_loop.py``: population 100, 25 parents, its classifier, images normalised one by
one) against evoface's default evolve loop at 64 px (the shipped models), the same at ``--precision fp32`` and
``bf16``, with ``--kernels plain``, and with the original's fitness and mutation (``--prior none --mutation
reset``); at 100 px (no shipped prior; an untrained net of the shipped shape) the original's fitness and mutation in
fp32 and bf16. All loops take turns in one process; prints gen/s and the ratio of each turn's pair, medians and
ranges. Then, at 64 px, where the default's generation goes and what 25x the original would leave for it. Only ratios
from one run compare; the rates hold for the machine printed first.

Run: python bench/original_vs_default.py [--sizes 64 100] [--generations 300] [--turns 3] [--device cpu]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import machine, median_range, rate_of, take_turns  # noqa: E402
from bench.loop_timing import ORIGINAL, median_parts, parts_text, time_generations, time_parts, warm_run  # noqa: E402
from bench.original_loop import OriginalLoop  # noqa: E402

TARGET = 25  # the project's target: 25x the original loop's generations/s at 64 px
# evoface's loops by image size: name -> evolve options
VARIANTS = {64: {"default": {}, "default --precision fp32": {"precision": "fp32"},
                 "default --kernels plain": {"kernels": "plain"},
                 "--prior none --mutation reset": ORIGINAL, "default --precision bf16": {"precision": "bf16"}},
            100: {"--prior none --mutation reset": ORIGINAL,
                  "--prior none --mutation reset --precision bf16": {**ORIGINAL, "precision": "bf16"}}}


def compare(size: int, device: str, workdir: Path, generations: int, turns: int) -> None:
    """The original loop against each of ``VARIANTS[size]``, taking turns; at 64 px, then the default's parts."""
    loop = OriginalLoop(size, device)
    loop.step()  # warm-up
    start = time.perf_counter()
    runs = {name: warm_run(size, device, workdir, precision=options.get("precision", "auto"), shipped=size == 64,
                           options={k: v for k, v in options.items() if k != "precision"})
            for name, options in VARIANTS[size].items()}
    print(f"{size} px: warm-up of the evoface runs {time.perf_counter() - start:.0f} s", flush=True)
    original_generations = max(3, generations // 60)  # about as long a turn as evoface's
    rates = take_turns({"original": lambda: rate_of(loop.step, original_generations, device),
                        **{name: lambda r=run: time_generations(*r, generations)[0] for name, run in runs.items()}},
                       turns)
    original = np.array(rates["original"])
    print(f"{size:>5} original {median_range(original)} gen/s")
    for name, (evolution, _) in runs.items():
        print(f"{size:>5} evoface {name} (runs {evolution.scorer.precision}): {median_range(rates[name])} gen/s, "
              f"{1000 / np.median(rates[name]):.1f} ms/gen, {median_range(np.array(rates[name]) / original)}x "
              f"the original")
    if "default" in runs:
        parts = median_parts([time_parts(*runs["default"], generations) for _ in range(turns)])
        budget = 1000 / (TARGET * float(np.median(original)))
        print(f"{size:>5} the default's generation, ms (median of {turns} stretches of {generations}): "
              f"{parts_text(parts)}; {TARGET}x the original loop's {np.median(original):.1f} gen/s leaves "
              f"{budget:.2f} ms, and all but the forward takes {parts['generation'] - parts['faceness forward']:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", choices=sorted(VARIANTS), default=sorted(VARIANTS))
    parser.add_argument("--generations", type=int, default=300, help="evoface's timed generations a turn")
    parser.add_argument("--turns", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    print(machine(args.device), flush=True)
    print(f"\n== side by side with the original study's GA loop (population 100, 25 parents, its classifier, images "
          f"normalised one by one), {args.turns} turns each, alternating; evoface {args.generations} generations a "
          f"turn; gen/s and ratio to the original: median (range)", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            compare(size, args.device, Path(tmp), args.generations, args.turns)


if __name__ == "__main__":
    main()
