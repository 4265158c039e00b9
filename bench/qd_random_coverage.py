"""How much of an illuminate map random decoder codes fill on their own: for every pair of built-in measures, the
coverage and QD-score that N random N(0, I) codes of the shipped GAN reach when binned into a 10 x 10 archive over
real faces' ranges (the default), and over wider symmetric ranges of the first two face-space axes. A map that random
sampling fills leaves a quality-diversity algorithm nothing to win over it at equal evaluations.

Run: python bench/qd_random_coverage.py [--codes 102400] [--cells 10] [--components 6]
Prints the machine, then one row per pair, fewest cells first. Objective: the illuminate default (faceness capped at
0.98), so the QD-score is at most 0.98 x the cells.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import machine  # noqa: E402
from evoface.ga.seed_stream import SeedStream  # noqa: E402
from evoface.illuminate import IlluminateConfig  # noqa: E402
from evoface.illuminate_build import build_illumination, random_genomes  # noqa: E402
from evoface.qd.measures import hue, luminance, real_face_ranges  # noqa: E402
from neural.face_space import load_face_space  # noqa: E402

BATCH = 1024
WIDE = (3.0, 4.0, 5.0)  # +-these real faces' stds along face-space:0 and face-space:1


def filled(values: dict, objective: np.ndarray, a: str, b: str, ranges: dict, cells: int) -> tuple[float, float]:
    """(coverage, QD-score) of the samples binned by measures a and b (values outside fall into the edge cells)."""
    index = [np.clip(((values[m] - ranges[m][0]) / (ranges[m][1] - ranges[m][0]) * cells).astype(int), 0, cells - 1)
             for m in (a, b)]
    best = np.zeros((cells, cells))
    np.maximum.at(best, tuple(index), objective)
    return float((best > 0).mean()), float(best.sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--codes", type=int, default=102_400)
    parser.add_argument("--cells", type=int, default=10, help="cells along each measure")
    parser.add_argument("--components", type=int, default=6, help="face-space axes to pair (face-space:0 ...)")
    args = parser.parse_args()
    print(machine(), flush=True)
    config = IlluminateConfig(out="unused", genome="latent", measures="face-space:0,face-space:1")
    illumination = build_illumination(config)
    face_space = illumination.scoring.face_space or load_face_space()
    seeds, objective, rows = SeedStream(1_000), [], []
    for _ in range(-(-args.codes // BATCH)):
        images = illumination.images(random_genomes(illumination, BATCH, seeds))
        objective.append(illumination.scoring.scorer(images.reshape(len(images), -1)))
        with torch.no_grad():
            coordinates = face_space.coefficients(torch.from_numpy(images).permute(0, 3, 1, 2)).double().numpy()
        rows.append({"luminance": luminance(images), "hue": hue(images),
                     **{f"face-space:{i}": coordinates[:, i] for i in range(args.components)}})
    objective = np.concatenate(objective)
    values = {name: np.concatenate([row[name] for row in rows]) for name in rows[0]}
    ranges = real_face_ranges()
    print(f"{len(objective):,} random codes; faceness at the cap in {np.mean(objective >= 0.98 - 1e-6):.1%} of them")
    print(f"{args.cells} x {args.cells} cells over real faces' 1st-99th percentiles:")
    print("| measures | coverage | QD-score |\n| --- | ---: | ---: |")
    pairs = [(*filled(values, objective, a, b, ranges, args.cells), a, b)
             for a, b in itertools.combinations(values, 2)]
    for coverage, score, a, b in sorted(pairs):
        print(f"| {a}, {b} | {coverage:.0%} | {score:.1f} |")
    print("face-space:0, face-space:1 over wider ranges:")
    for width in WIDE:
        wide = {m: (-width, width) for m in ("face-space:0", "face-space:1")}
        coverage, score = filled(values, objective, "face-space:0", "face-space:1", wide, args.cells)
        print(f"| +-{width:g} stds | {coverage:.0%} | {score:.1f} |")


if __name__ == "__main__":
    main()
