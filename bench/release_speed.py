"""This checkout's default evolve loop against other checkouts' (an earlier release, say), in alternating processes.

Each turn starts a fresh process per checkout, in turn, that imports that checkout's evoface and its
``bench/loop_timing.py`` (``bench/ga_speed.py`` in releases before it: ``warm_run``, ``time_generations``) and times
the default 64 px loop with the shipped model: a warm-up, then three stretches of ``--generations``. Prints each
process's rates as a JSON line, then the medians and the per-turn ratios to the first checkout. Only the ratios
compare; the rates hold for this machine.

Run: python bench/release_speed.py OTHER_CHECKOUT [MORE ...] [--turns 5] [--generations 500] [--options JSON]
     (--options: evolve options for every checkout's loop, e.g. '{"genome_size": 16, "tv_weight": 0.1}')
     (git worktree add /tmp/prev REV makes a checkout of an earlier release)
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parents[1]


def time_checkout(checkout: str, generations: int, options: dict) -> dict:
    """In this process: the default loop of ``checkout`` (first on sys.path) with more evolve ``options``, three
    stretches of ``generations``."""
    sys.path.insert(0, checkout)
    import evoface

    if not evoface.__file__.startswith(checkout):
        raise SystemExit(f"error: imported {evoface.__file__}, not the checkout {checkout}")
    try:
        from bench.loop_timing import time_generations, warm_run
    except ImportError:  # a release from before bench/loop_timing.py
        from bench.ga_speed import time_generations, warm_run

    with tempfile.TemporaryDirectory() as tmp:
        run, timed = warm_run(64, "cpu", Path(tmp), shipped=True, options=options)
        rates = [time_generations(run, timed, generations)[0] for _ in range(3)]
    return {"checkout": checkout, "precision": run.scorer.precision, "rates": rates}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("others", nargs="*", help="other checkouts to time against this one")
    parser.add_argument("--turns", type=int, default=5)
    parser.add_argument("--generations", type=int, default=500)
    parser.add_argument("--options", default={}, type=json.loads,
                        help="more evolve options (JSON), the same for every checkout")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # a child process: time this checkout only
    args = parser.parse_args()
    if args.one:
        print(json.dumps(time_checkout(args.one, args.generations, args.options)))
        return
    checkouts = [str(Path(c).resolve()) for c in args.others] + [str(HERE)]
    for checkout in checkouts:
        if not (Path(checkout) / "evoface").is_dir():
            parser.error(f"{checkout} is not a checkout of evoface (no evoface/ folder in it)")
    medians = {c: [] for c in checkouts}
    for _ in range(args.turns):
        for checkout in checkouts:
            out = subprocess.run([sys.executable, __file__, "--one", checkout, "--generations", str(args.generations),
                                  "--options", json.dumps(args.options)],
                                 capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
            print(out, flush=True)
            medians[checkout].append(float(np.median(json.loads(out)["rates"])))
    first = np.array(medians[checkouts[0]])
    for checkout, rates in medians.items():
        ratios = np.array(rates) / first
        print(f"{checkout}: {np.median(rates):.1f} gen/s, {np.median(ratios):.2f}x the first "
              f"({ratios.min():.2f}-{ratios.max():.2f}x by turn)")


if __name__ == "__main__":
    main()
