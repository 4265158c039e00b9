"""Runs that share a machine: N default ``evoface evolve`` runs started at once against the same runs one after the
other, with evoface's thread policy (the runs share the cores, ``evoface.kernels.threads``) and without it (each
run given a temporary folder of its own, so that it sees no other run); and one run alone in each case. Each arm runs
in fresh processes, the arms alternating turn by turn. Prints each turn's seconds, then the medians and the ratios.
Only the ratios compare; the seconds hold for the machine printed first.

Run: python bench/shared_machine.py [--runs 2] [--generations 1500] [--turns 3]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(HERE))

from bench.common import cpu_model  # noqa: E402

POLICIES = {"shared cores (evoface's policy)": True, "each run alone in its view": False}


def evolve_command(out: Path, generations: int, seed: int) -> list[str]:
    return [sys.executable, "-c", "import cli; cli.main()", "evolve", "--out", str(out), "--generations",
            str(generations), "--seed", str(seed)]


def timed_runs(count: int, generations: int, at_once: bool, shared: bool, workdir: Path) -> float:
    """Seconds for ``count`` default runs, started at once or one after the other; ``shared``: under evoface's thread
    policy, else each with a temporary folder of its own (where the policy lists the runs)."""
    outs = [Path(tempfile.mkdtemp(dir=workdir)) / "run" for _ in range(count)]
    commands = [evolve_command(out, generations, seed) for seed, out in enumerate(outs)]
    envs = [dict(os.environ) if shared else dict(os.environ, TMPDIR=str(out.parent)) for out in outs]
    start = time.perf_counter()
    if at_once:
        processes = [subprocess.Popen(c, cwd=HERE, env=e, stdout=subprocess.DEVNULL) for c, e in zip(commands, envs)]
        codes = [p.wait() for p in processes]
    else:
        codes = [subprocess.run(c, cwd=HERE, env=e, stdout=subprocess.DEVNULL).returncode
                 for c, e in zip(commands, envs)]
    seconds = time.perf_counter() - start
    if any(codes):
        raise SystemExit(f"error: a run failed (exit codes {codes})")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--generations", type=int, default=1500)
    parser.add_argument("--turns", type=int, default=3)
    args = parser.parse_args()
    print(f"{cpu_model()}, {os.cpu_count()} cores; {args.runs} default runs of {args.generations} generations",
          flush=True)
    arms = {}
    for policy, value in POLICIES.items():
        arms[f"{policy}: {args.runs} at once"] = (args.runs, True, value)
        arms[f"{policy}: {args.runs} one after the other"] = (args.runs, False, value)
        arms[f"{policy}: 1 alone"] = (1, False, value)
    seconds = {name: [] for name in arms}
    with tempfile.TemporaryDirectory() as workdir:
        for turn in range(args.turns):
            for name, (count, at_once, value) in arms.items():
                seconds[name].append(timed_runs(count, args.generations, at_once, value, Path(workdir)))
                print(f"turn {turn + 1}: {name}: {seconds[name][-1]:.1f} s", flush=True)
    for name, values in seconds.items():
        print(f"{name}: median {np.median(values):.1f} s ({min(values):.1f}-{max(values):.1f})")
    for policy in POLICIES:
        together = np.array(seconds[f"{policy}: {args.runs} at once"])
        apart = np.array(seconds[f"{policy}: {args.runs} one after the other"])
        print(f"{policy}: at once / one after the other = {np.median(together / apart):.2f} "
              f"({(together / apart).min():.2f}-{(together / apart).max():.2f} by turn)")
    alone = [np.array(seconds[f"{policy}: 1 alone"]) for policy in POLICIES]
    ratio = alone[1] / alone[0]
    print(f"one run alone, speed with the policy / without: {np.median(ratio):.2f} "
          f"({ratio.min():.2f}-{ratio.max():.2f} by turn)")


if __name__ == "__main__":
    main()
