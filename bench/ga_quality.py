"""Pixel-GA output quality per configuration: K seeded evolve runs, a fixed time budget each.

Run: python bench/ga_quality.py [--seeds 10] [--budget 100] [--only NAME ...] [--real ../shared/data/celeba]
     [--out runs/ga-quality] [--options JSON --name NAME]
Each run is ``evoface evolve --time-limit BUDGET --seed S`` plus the configuration's options, and its image is what
``evoface sample --model RUN -n 1`` gives. Printed per configuration: generations, ms per generation, the best
fitness, the share of best images in which dlib's CNN face detector finds a face (HOG and Haar beside it), the
median seconds until the first snapshot (one every 100 generations) whose best image the CNN detector accepts, KID
x1000 (with its spread over subsets) of the best images against 1,000 real CelebA faces, and the between-seed
diversity: the mean pairwise distance of the best images in Inception feature space (real faces' value in the
header). The detectors only judge: none of them takes part in any fitness or selection. A grid of the K best images
per configuration is written to OUT/<name>.png and all figures to OUT/results.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from evoface.core.checkpoints import load_checkpoint  # noqa: E402
from evoface.core.plots import image_grid, save_png  # noqa: E402
from evoface.core.rundir import RunDir  # noqa: E402
from evoface.evolve import EvolveConfig, evolve  # noqa: E402
from evoface.sampling import evolve_run_images  # noqa: E402
from fitness_data.folder import load_folder  # noqa: E402
from neural.face_detector import DETECTORS, detect_faces  # noqa: E402
from neural.fid import inception_features, inception_model, kernel_inception_distance  # noqa: E402

ORIGINAL = {"prior": "none", "mutation": "reset"}
CONFIGURATIONS = {  # evolve options beyond --time-limit and --seed
    "default": {},
    "original (--prior none --mutation reset)": ORIGINAL,
    "face-space mutation, no prior": {"prior": "none"},
    "prior, no pull (--face-pull 0)": {"face_pull": 0.0},
    "blob mutation + prior": {"mutation": "blob"},
    "prior weight 1": {"prior_weight": 1.0},
    "fewer resets (--indpb 0.0002)": {"indpb": 0.0002},
    "original + genome 16 + tv 0.1": {**ORIGINAL, "genome_size": 16, "tv_weight": 0.1},
}
SNAPSHOT_SCALE = 4  # evolve's snapshots are the best image enlarged 4x (nearest neighbour)


def seconds_to_first_face(run: Path) -> float | None:
    """Seconds of evolution until the first snapshot whose best image the CNN detector accepts (None: never)."""
    rates = {row["generation"]: row["generations_per_s"] for row in RunDir(run, create=False).read_metrics()}
    for snapshot in sorted((run / "samples").glob("best_*.png")):
        generation = int(snapshot.stem.split("_")[1])
        image = np.asarray(Image.open(snapshot).convert("RGB"))[::SNAPSHOT_SCALE, ::SNAPSHOT_SCALE]
        if detect_faces(image[None], "cnn")[0]:
            return generation / rates[generation] if generation else 0.0
    return None


def mean_pairwise_distance(features: np.ndarray) -> float:
    """Mean Euclidean distance between the rows of (n, d) features, over all pairs."""
    squares = (features ** 2).sum(1)
    distances = np.sqrt(np.maximum(squares[:, None] + squares[None] - 2 * features @ features.T, 0))
    return float(distances[np.triu_indices(len(features), 1)].mean())


def main() -> None:
    root = Path(__file__).resolve().parents[1]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--budget", type=float, default=100.0, help="seconds of evolution per run")
    parser.add_argument("--real", default=str(root.parent / "shared" / "data" / "celeba"))
    parser.add_argument("--weights", default=str(root.parent / "shared" / "weights" / "pt_inception-fid-features.pth"))
    parser.add_argument("--out", default=str(root / "runs" / "ga-quality"))
    parser.add_argument("--only", nargs="*", help="names of configurations to run (default: all)")
    parser.add_argument("--reuse", action="store_true", help="read runs an earlier call finished instead of rerunning")
    parser.add_argument("--options", type=json.loads, metavar="JSON",
                        help='one more configuration, named by --name: evolve options, e.g. {"fitness": "CKPT"}')
    parser.add_argument("--name", default="custom", help="the name of the --options configuration")
    args = parser.parse_args()
    configurations = {**CONFIGURATIONS, **({args.name: args.options} if args.options else {})}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    inception = inception_model(args.weights)
    real = inception_features(inception, load_folder(args.real, 64, limit=1000, seed=11, quiet=True).images)
    real_diversity = mean_pairwise_distance(real)
    print(f"{args.seeds} runs per configuration, {args.budget:.0f} s each; real faces' diversity {real_diversity:.1f}")
    print(f"{'configuration':<42} {'gens':>6} {'ms/gen':>6} {'fitness':>7} {'cnn':>5} {'hog':>5} {'haar':>5} "
          f"{'face s':>6} {'KID x1000':>11} {'diversity':>9}")
    results = json.loads((out / "results.json").read_text()) if (out / "results.json").is_file() else {}
    for name, options in configurations.items():
        if args.only and name not in args.only:
            continue
        slug = name.split(" (")[0].replace(" ", "-").replace(",", "").replace("+", "plus")
        best, fitness, generations, seconds, face_seconds = [], [], [], [], []
        for seed in range(args.seeds):
            run = out / f"{slug}-s{seed}"
            if not (args.reuse and (run / "checkpoints" / "last.pt").is_file()):  # else: an earlier call's run
                # the options may add a stopping rule (generations: the first rule reached ends the run)
                settings = {"time_limit": args.budget, "generations": None, "seed": seed, "device": "cpu", **options}
                evolve(EvolveConfig(out=str(run), **settings))
            ckpt = load_checkpoint(run / "checkpoints" / "last.pt", "evolve")  # the run's last state, as it ended
            best.append(evolve_run_images(run, 1)[0])
            fitness.append(float(ckpt["hof_fitness"].max()))
            generations.append(int(ckpt["generation"]))
            seconds.append(float(ckpt["elapsed"]))
            face_seconds.append(seconds_to_first_face(run))
        best = np.stack(best)
        save_png(image_grid(best, scale=3), out / f"{slug}.png")
        features = inception_features(inception, best)
        kid, kid_spread = kernel_inception_distance(features, real, subsets=100, subset_size=len(best))
        rates = {detector: float(detect_faces(best, detector).mean()) for detector in DETECTORS}
        found = [s for s in face_seconds if s is not None]
        median_face = statistics.median(found) if len(found) * 2 > len(face_seconds) else None  # None: most never
        row = {"options": options, "generations": statistics.mean(generations),
               "ms_per_generation": 1000 * statistics.mean(seconds) / statistics.mean(generations),
               "best_fitness": statistics.mean(fitness), **{f"{d}_face_rate": r for d, r in rates.items()},
               "seconds_to_face": face_seconds, "median_seconds_to_face": median_face, "kid_x1000": kid * 1000,
               "kid_x1000_spread": kid_spread * 1000, "diversity": mean_pairwise_distance(features),
               "real_diversity": real_diversity, "seeds": args.seeds, "budget_s": args.budget}
        results[name] = row
        (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
        face = "never" if median_face is None else f"{median_face:.0f}"
        print(f"{name:<42} {row['generations']:6.0f} {row['ms_per_generation']:6.1f} {row['best_fitness']:7.4f} "
              f"{rates['cnn']:5.0%} {rates['hog']:5.0%} {rates['haar']:5.0%} {face:>6} "
              f"{row['kid_x1000']:6.0f} ± {row['kid_x1000_spread']:3.0f} {row['diversity']:9.1f}", flush=True)


if __name__ == "__main__":
    main()
