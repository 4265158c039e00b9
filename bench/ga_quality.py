"""GA output quality per lever: K seeded evolve runs per configuration, a fixed time budget each.

Run: python bench/ga_quality.py [--seeds 10] [--budget 45] [--real ../shared/data/celeba] [--out runs/ga-quality]
     [--ensemble CKPT ...] (adds "ensemble min": the fitness is the minimum of the shipped model and these)
For each configuration it prints the final max fitness, the share of best images in which OpenCV's Haar cascade
(never trained here) finds a face, and KID (x1000) of the best images against 500 real faces (FID needs far more
images than K runs give, so it is shown only from 10 runs up). A grid of the best images per configuration is
written to OUT/<name>.png.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from evoface.evolve import EvolveConfig, evolve  # noqa: E402
from evoface.core.plots import image_grid, save_png  # noqa: E402
from fitness_data.folder import load_folder  # noqa: E402
from neural.face_detector import detect_faces  # noqa: E402
from neural.fid import frechet_distance, inception_features, inception_model, kernel_inception_distance  # noqa: E402
from evoface.sampling import evolve_run_images  # noqa: E402

# each configuration is a list of stages (share of the time budget, evolve options); a later stage starts from the
# previous stage's final population
CONFIGURATIONS = {
    "default (64x64 genome)": [(1.0, {})],
    "blur 1.0": [(1.0, {"blur_sigma": 1.0})],
    "genome 32": [(1.0, {"genome_size": 32})],
    "genome 16": [(1.0, {"genome_size": 16})],
    "genome 16 + tv 0.1": [(1.0, {"genome_size": 16, "tv_weight": 0.1})],
    "coarse-to-fine 16->32": [(0.4, {"genome_size": 16}), (0.6, {"genome_size": 32})],
}


def run_stages(stages, out: Path, budget: float, seed: int, fitness: str | None = None) -> tuple[Path, dict]:
    """Evolve each stage for its share of the budget, each from the previous stage's population; the summary is the
    last stage's, with the generations of all stages."""
    previous, summary, generations = None, {}, 0
    for i, (share, options) in enumerate(stages):
        run = out.with_name(f"{out.name}-stage{i}") if len(stages) > 1 else out
        summary = evolve(EvolveConfig(out=str(run), fitness=fitness, time_limit=share * budget, seed=seed, device="cpu",
                                      snapshot_every=10**9, checkpoint_every=10**9, init_from=previous, **options))
        previous, generations = str(run), generations + summary["generation"]
    return Path(previous), {**summary, "generation": generations}


def main() -> None:
    root = Path(__file__).resolve().parents[1]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--budget", type=float, default=45.0, help="seconds per run (all its stages together)")
    parser.add_argument("--real", default=str(root.parent / "shared" / "data" / "celeba"))
    parser.add_argument("--weights", default=str(root.parent / "shared" / "weights" / "pt_inception-fid-features.pth"))
    parser.add_argument("--out", default=str(root / "runs" / "ga-quality"))
    parser.add_argument("--only", nargs="*", help="names of configurations to run (default: all)")
    parser.add_argument("--fitness", help="faceness checkpoint to evolve against (default: the shipped model)")
    parser.add_argument("--ensemble", nargs="*", default=[], help="more faceness checkpoints for 'ensemble min'")
    args = parser.parse_args()
    configurations = dict(CONFIGURATIONS)
    if args.ensemble:
        configurations["ensemble min"] = [(1.0, {"ensemble": args.ensemble, "ensemble_rule": "min"})]
    out = Path(args.out)
    inception = inception_model(args.weights)
    real = inception_features(inception, load_folder(args.real, 64, limit=500, seed=11, quiet=True).images)
    print(f"{args.seeds} runs per configuration, {args.budget:.0f} s each, fitness {args.fitness or 'shipped'}, "
          f"mu=100, q=20")
    print(f"{'configuration':<24} {'generations':>11} {'max fitness':>12} {'face rate':>10} {'KID x1000':>10} "
          f"{'FID':>6}")
    for name, stages in configurations.items():
        if args.only and name not in args.only:
            continue
        slug = name.split(" (")[0].replace(" ", "-").replace(".", "").replace(">", "")
        best, fitness, generations = [], [], []
        for seed in range(args.seeds):
            run, summary = run_stages(stages, out / f"{slug}-s{seed}", args.budget, seed, args.fitness)
            best.append(evolve_run_images(run, 1)[0])
            fitness.append(summary["best_fitness"])
            generations.append(summary["generation"])
        best = np.stack(best)
        save_png(image_grid(best, scale=3), out / f"{slug}.png")
        features = inception_features(inception, best)
        kid, _ = kernel_inception_distance(features, real, subsets=100, subset_size=len(best))
        fid = f"{frechet_distance(features, real):6.0f}" if len(best) >= 10 else "   n/a"
        print(f"{name:<24} {statistics.mean(generations):11.0f} {statistics.mean(fitness):12.4f} "
              f"{detect_faces(best).mean():10.0%} {kid * 1000:10.1f} {fid}")


if __name__ == "__main__":
    main()
