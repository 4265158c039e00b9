"""Quality-diversity maps against random sampling: ``evoface illuminate`` for a time budget, then random sampling at
the same number of evaluations binned into the same archive (random decoder codes for the latent genome, random
face-space draws for the pixel genome). For each: coverage, QD-score, best objective, and the share of the elites in
which dlib's CNN detector (a judge only: never in a fitness, a selection or an insertion) finds a face.

Run: python bench/qd_quality.py [--genome latent] [--emitters cma-me ga] [--minutes 5] [--out runs/qd-bench]
     [--options '{"cells": "10x10"}']
Prints the machine first, then one row per method; writes OUT/results.json and each run's folder under OUT.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import machine  # noqa: E402
from evoface.ga.seed_stream import SeedStream  # noqa: E402
from evoface.illuminate import IlluminateConfig, archive_images, illuminate  # noqa: E402
from evoface.illuminate_build import build_illumination, new_archive, random_genomes  # noqa: E402
from neural.face_detector import detect_faces  # noqa: E402

BASELINE_SEED = 1_000  # the random sampler's stream, apart from the runs' seeds
MILESTONES = (1_024, 4_096, 16_384, 65_536)  # evaluations at which the run and random sampling are also compared


def detector_rate(images: np.ndarray) -> float:
    """Share of the images in which dlib's CNN detector finds a face (a judge only)."""
    return float(detect_faces(images, "cnn").mean()) if len(images) else float("nan")


def random_baseline(config: IlluminateConfig, evaluations: int, batch: int) -> dict:
    """Random sampling at ``evaluations`` evaluations, binned into an archive like the run's."""
    illumination = build_illumination(config)
    archive = new_archive(config, illumination.measures, illumination.archive.solution_dim, 0)
    seeds, started, done, early = SeedStream(BASELINE_SEED), time.perf_counter(), 0, {}
    while done < evaluations:
        genes = random_genomes(illumination, min(batch, evaluations - done), seeds)
        objective, measures = illumination.evaluate(genes)
        archive.add(genes, objective, measures)
        done += len(genes)
        for milestone in MILESTONES:
            if milestone <= done and milestone not in early:
                early[milestone] = (float(archive.stats.coverage), float(archive.stats.qd_score))
    elites = illumination.images(archive.data("solution"))
    stats = archive.stats
    return {"method": "random sampling", "evaluations": done, "seconds": time.perf_counter() - started,
            "coverage": float(stats.coverage), "qd_score": float(stats.qd_score), "best": float(stats.obj_max),
            "cnn_detector": detector_rate(elites), "elites": len(elites), "early": early}


def run_map(config: IlluminateConfig) -> dict:
    started = time.perf_counter()
    summary = illuminate(config)
    elites = archive_images(config.out)
    rows = [json.loads(line) for line in (Path(config.out) / "metrics.jsonl").read_text().splitlines()]
    early = {m: next((r["coverage"], r["qd_score"]) for r in rows if r["evaluations"] >= m)
             for m in MILESTONES if rows[-1]["evaluations"] >= m}
    return {"method": f"illuminate ({summary['emitters']})", "evaluations": summary["evaluations"],
            "seconds": time.perf_counter() - started, "coverage": summary["coverage"],
            "qd_score": summary["qd_score"], "best": summary["best"], "cnn_detector": detector_rate(elites),
            "elites": len(elites), "map": summary["map"], "early": early}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--genome", choices=("latent", "pixel"), default="latent")
    parser.add_argument("--emitters", nargs="+", default=[None], help="emitters to run in turn (default: the "
                                                                      "genome's default)")
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--out", default="runs/qd-bench")
    parser.add_argument("--options", default="{}", help="more IlluminateConfig fields, as JSON")
    args = parser.parse_args()
    try:
        options = json.loads(args.options)
    except json.JSONDecodeError as exc:
        parser.error(f"--options is not JSON: {exc}")
    print(machine(), flush=True)
    print(f"{date.today().isoformat()}; {args.genome} genome, {args.minutes:g} minutes a run", flush=True)
    out = Path(args.out)
    rows = []
    for emitters in args.emitters:
        run = out / f"{args.genome}-{emitters or 'default'}"
        shutil.rmtree(run, ignore_errors=True)
        config = IlluminateConfig(**{"out": str(run), "genome": args.genome, "emitters": emitters,
                                     "evaluations": None, "time_limit": args.minutes * 60, **options})
        rows.append(run_map(config))
        print(json.dumps(rows[-1]), flush=True)
        rows.append(random_baseline(config, rows[-1]["evaluations"], config.batch * config.emitter_count))
        print(json.dumps(rows[-1]), flush=True)
    print("| method | evaluations | coverage | QD-score | best objective | CNN detector on elites |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for row in rows:
        print(f"| {row['method']} | {row['evaluations']} | {row['coverage']:.0%} | {row['qd_score']:.2f} | "
              f"{row['best']:.3f} | {row['cnn_detector']:.0%} of {row['elites']} |")
    print("\ncoverage / QD-score after the first N evaluations (the run's first row at or past N)")
    print("| method | " + " | ".join(f"{m:,}" for m in MILESTONES) + " |")
    print("| --- |" + " ---: |" * len(MILESTONES))
    for row in rows:
        print(f"| {row['method']} | " + " | ".join(
            f"{row['early'][m][0]:.0%} / {row['early'][m][1]:.1f}" if m in row["early"] else "-" for m in MILESTONES)
              + " |")
    out.mkdir(parents=True, exist_ok=True)
    (out / f"results-{args.genome}.json").write_text(json.dumps({"machine": machine(), "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
