"""What each fast path of ``evoface.kernels`` gives end to end: the default evolve loop (or the latent one, with
``--genome latent``) with every fast path on, with each one off in turn, and with all off (``--kernels plain``),
taking turns in one process. Prints each variant's generations/s and the speed-up of ``auto`` over it (the gain of
the fast path that variant turns off). A fast path stays where it gives at least 1.15x on some CPU (bench/README.md).
``heap-blocks`` cannot be measured here: glibc keeps thresholds once a process sets them, so time it in separate
processes (``bench/release_speed.py`` against a checkout without it).
Only the ratios compare; the rates hold for the machine printed first.

Run: python bench/kernels_speed.py [--genome pixel|latent] [--generations 300] [--turns 5]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from contextlib import nullcontext
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import cpu_model  # noqa: E402
from bench.loop_timing import time_generations, timed_run  # noqa: E402
from evoface.evolve_config import EvolveConfig  # noqa: E402
from evoface.kernels import choice, switch  # noqa: E402


def variants(genome: str) -> dict[str, callable]:
    """Variant name -> a context that sets the kernels for it."""
    found = choice.available("cpu", "fp32", decoder=genome == "latent")
    chosen = {"auto": nullcontext}
    chosen.update({f"without {name}": (lambda name=name: switch.without(name)) for name in found})
    chosen["plain"] = switch.plain
    return chosen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--genome", choices=("pixel", "latent"), default="pixel")
    parser.add_argument("--generations", type=int, default=300)
    parser.add_argument("--turns", type=int, default=5)
    args = parser.parse_args()
    switch.select("auto")
    print(f"{cpu_model()}, {os.cpu_count()} cores; default {args.genome} evolve at 64 px, fp32; "
          f"{choice.describe('cpu', 'fp32', decoder=args.genome == 'latent')}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        config = EvolveConfig(out=str(Path(tmp) / "unused"), generations=None, time_limit=1e8, seed=0,
                              device="cpu", precision="fp32", genome=args.genome)
        contexts = variants(args.genome)
        runs = {}
        for name, context in contexts.items():
            with context():
                runs[name] = timed_run(config)
        rates = {name: [] for name in runs}
        for turn in range(args.turns):
            for name, (evolution, timed) in runs.items():
                with contexts[name]():
                    rates[name].append(time_generations(evolution, timed, args.generations)[0])
            print(f"turn {turn + 1}: " + ", ".join(f"{n} {r[-1]:.1f}" for n, r in rates.items()), flush=True)
    auto = np.array(rates["auto"])
    for name, values in rates.items():
        gain = auto / np.array(values)
        print(f"{name}: {np.median(values):.1f} gen/s; auto / this {np.median(gain):.2f}x "
              f"({gain.min():.2f}-{gain.max():.2f}x by turn)")


if __name__ == "__main__":
    main()
