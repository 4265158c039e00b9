"""Islands on Ray: throughput, the cost of a migration, and quality per wall-clock second against one population.

Run: python bench/islands_speed.py [--generations 300] [--seeds 5] [--budget 15] [--out runs/bench-islands]
Throughput: generations per second of the plain single-population loop (no Ray, one thread), and total
generations per second (all islands together) of 1 and 2 islands of the default mu = 100, timed
between the first and the last migration point of one run each, so Ray's start and the islands' set-up are left
out. At each migration point of the 2-island run it also times one extra migration (the M best of every island to
the next: a round trip to every island and back) and one empty round trip to every island (the synchronisation
alone); medians. Quality: K seeds of 2 islands x mu against
one population of 2 x mu (q scaled alike), each evolving for --budget seconds: best fitness, the share of best
images in which dlib's CNN face detector finds a face (the 4 best of each run), and between-seed diversity (mean
absolute pixel difference between the best images of different seeds, 0-255).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import sys
import time
from pathlib import Path

for _name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):  # as in the islands' actors; read when torch loads
    os.environ.setdefault(_name, "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from evoface.core.rundir import RunDir  # noqa: E402
from evoface.evolve import EvolveConfig, evolve  # noqa: E402
from evoface.islands import evolve_islands  # noqa: E402
from evoface.sampling import evolve_run_images  # noqa: E402
from neural.face_detector import detect_faces  # noqa: E402

MU, Q = 100, 20


class MigrationClock:
    """``after_epoch`` hook: the time of each migration point and the generation reached; with ``probe``, the time of
    one extra migration and of one empty round trip to every island (left out of the rate)."""

    def __init__(self, probe: bool = False):
        self.points: list[tuple[float, int]] = []
        self.probe, self.migrations, self.round_trips, self.probing = probe, [], [], 0.0

    def __call__(self, model) -> None:
        if self.probe:
            started = time.perf_counter()
            model._migrate()
            middle = time.perf_counter()
            model.where()
            self.migrations.append(middle - started)
            self.round_trips.append(time.perf_counter() - middle)
            self.probing += time.perf_counter() - started
        self.points.append((time.perf_counter() - self.probing, model.generation))

    def rate(self, islands: int) -> float:
        """Generations per second of all islands together, from the first to the last migration point."""
        (t0, g0), (t1, g1) = self.points[0], self.points[-1]
        return islands * (g1 - g0) / (t1 - t0)


def warm_rate(rows: list[dict], skip: int) -> float:
    """Generations per second of a single-population run after its first ``skip`` generations (as the island runs
    are timed from their first migration point): its rows give the cumulative rate, hence each row's time."""
    seconds = {row["generation"]: row["generation"] / row["generations_per_s"] for row in rows}
    last = max(seconds)
    return (last - skip) / (seconds[last] - seconds[skip])


def timed_run(out: Path, islands: int, generations: int, migration_every: int, migrants: int,
              probe: bool = False) -> MigrationClock:
    clock = MigrationClock(probe)
    config = EvolveConfig(out=str(out), islands=islands, mu=MU, q=Q, generations=generations,
                          migration_every=migration_every, migrants=migrants, checkpoint_every=10**9,
                          snapshot_every=10**9)
    evolve_islands(config, after_epoch=clock)
    return clock


def throughput(out: Path, generations: int) -> dict:
    evolve(EvolveConfig(out=str(out / "plain"), mu=MU, q=Q, generations=generations, snapshot_every=10**9,
                        checkpoint_every=10**9))  # one thread, no Ray: the same loop in this process
    plain = warm_rate(RunDir(out / "plain", create=False).read_metrics(), 25)
    one = timed_run(out / "one", 1, generations, 25, 0).rate(1)
    clock = timed_run(out / "two", 2, generations, 25, 2, probe=True)
    two = clock.rate(2)
    return {"gen_per_s_plain_evolve": plain, "gen_per_s_1_island": one, "gen_per_s_2_islands": two,
            "speedup_2_vs_1": two / one,
            "migration_ms_median": 1000 * statistics.median(clock.migrations),
            "round_trip_ms_median": 1000 * statistics.median(clock.round_trips),
            "migration_bytes_per_island": 2 * (64 * 64 * 3 + 8)}  # M = 2 uint8 genomes and their fitness


def best_images(run: Path, n: int = 4) -> np.ndarray:
    return evolve_run_images(run, n)


ARMS = {"2 islands x mu": dict(islands=2, mu=MU, q=Q),
        "1 population of 2 x mu": dict(islands=1, mu=2 * MU, q=2 * Q)}


def quality(out: Path, seeds: int, budget: float, arms: list[str]) -> dict:
    results = {}
    for name in arms:
        arm = ARMS[name]
        fitness, detected, firsts, generations = [], [], [], []
        for seed in range(seeds):
            run = out / f"{name.replace(' ', '_')}-seed{seed}"
            config = EvolveConfig(out=str(run), time_limit=budget, generations=None, seed=seed,
                                  checkpoint_every=10**6, snapshot_every=10**6, **arm)
            # one torch thread: on this shared machine two threads wait on each other
            summary = (evolve_islands if config.islands > 1 else evolve)(config)
            images = best_images(run)
            fitness.append(summary["best_fitness"])
            generations.append(summary["generation"])
            detected.extend(detect_faces(images, "cnn").tolist())
            firsts.append(images[0].astype(np.float64))
        pairs = [np.abs(a - b).mean() for a, b in itertools.combinations(firsts, 2)]
        results[name] = {"best_fitness_median": statistics.median(fitness), "best_fitness_min": min(fitness),
                         "generations_median": statistics.median(generations),
                         "cnn_face_rate": sum(detected) / len(detected),
                         "between_seed_diversity": float(np.mean(pairs))}
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generations", type=int, default=300)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--budget", type=float, default=15.0)
    parser.add_argument("--out", type=Path, default=Path("runs/bench-islands"))
    parser.add_argument("--skip-quality", action="store_true")
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--arm", action="append", choices=list(ARMS), help="quality arms to run (default: both)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    stamp = args.out / time.strftime("%Y%m%d-%H%M%S")
    report = {}
    if not args.skip_speed:
        report["throughput"] = throughput(stamp / "speed", args.generations)
        print(json.dumps(report, indent=1), flush=True)
    if not args.skip_quality:
        report["quality"] = quality(stamp / "quality", args.seeds, args.budget, args.arm or list(ARMS))
        print(json.dumps(report["quality"], indent=1), flush=True)
    (stamp / "report.json").write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
