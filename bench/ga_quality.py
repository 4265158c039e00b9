"""Pixel-GA output quality per configuration and run length: K seeded evolve runs, each followed to several lengths.

Run: python bench/ga_quality.py [--seeds 10] [--first-seed 0] [--lengths 10 100 300 1000 | --budget S]
     [--only NAME ...] [--real ../shared/data/celeba] [--out runs/ga-quality] [--options JSON --name NAME] [--reuse]
Each run is ``evoface evolve --time-limit L --seed S`` plus the configuration's options, resumed to each length L in
turn (the time limit counts seconds of evolution across resumes, so one run is measured at every length). At each
length its image is what ``evoface sample --model RUN -n 1`` gives, and its hall of fame the 16 that ``top_grid.png``
shows. Printed per configuration and length: generations, ms per generation, the best fitness, the share of best
images in which dlib's CNN and HOG face detectors find a face (OpenCV's Haar beside them), seeds whose best image a
detector accepted at the previous length and rejects now (drift), the median seconds until the first snapshot whose
best image the CNN detector accepts, KID x1000 (with its spread over subsets) of the best images against 1,000 real
CelebA faces and ("hall") of all the runs' halls of fame together (16 per run: steadier than ten images),
between-seed diversity (the mean pairwise distance of the best images in Inception feature space), within-run
diversity (the median over seeds of the median pairwise mean |pixel difference| of the hall of fame's 16,
0-255), and stray dots (pixels with a channel more than 24 levels from each of its neighbours',
``evoface.ga.despeckle``, per image of the hall of fame; photographs have them too, as fine texture). Real faces'
figures are in the header. The detectors only judge: none of them takes part in any fitness or selection. Grids of
the best images per configuration and length are written to OUT/<name>-<L>s.png, one run's hall of fame to
OUT/<name>-<L>s-top.png, and all figures to OUT/results.json.
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
from evoface.evolve import EvolveConfig, evolve, resume_config  # noqa: E402
from evoface.ga.despeckle import count_dots  # noqa: E402
from evoface.sampling import evolve_run_images  # noqa: E402
from fitness_data.folder import load_folder  # noqa: E402
from neural.face_detector import DETECTORS, detect_faces  # noqa: E402
from neural.fid import inception_features, inception_model, kernel_inception_distance  # noqa: E402

ORIGINAL = {"prior": "none", "mutation": "reset", "niche_radius": 0.0}
# the moves and the distance of the pixel defaults until the evening of 2026-12-07 (bench/README.md, 8.3)
WALK_LINEAR = {"face_moves": "walk", "prior_projection": "linear"}
RELEASE = {"faceness_cap": 1.0, "niche_radius": 0.0, **WALK_LINEAR}  # the pixel defaults before the cap and niching
CONFIGURATIONS = {  # evolve options beyond --time-limit and --seed
    "default": {},
    "release (--faceness-cap 1 --niche-radius 0)": RELEASE,
    # the screens of bench/README.md's 8.1, on the moves and distance they were measured with
    "cap, no niching (--niche-radius 0)": {"niche_radius": 0.0, **WALK_LINEAR},
    "niching, no cap (--faceness-cap 1)": {"faceness_cap": 1.0, **WALK_LINEAR},
    "walk, linear (--face-moves walk --prior-projection linear)": WALK_LINEAR,
    "pcn, linear (--prior-projection linear)": {"prior_projection": "linear"},
    "walk, clipped (--face-moves walk)": {"face_moves": "walk"},
    # the directions of bench/README.md's section 8, on the defaults they were measured on (the release's)
    "original (--prior none --mutation reset)": {**ORIGINAL, "faceness_cap": 1.0},
    "face-space mutation, no prior": {**RELEASE, "prior": "none"},
    "prior, no pull (--face-pull 0)": {**RELEASE, "face_pull": 0.0},
    "blob mutation + prior": {**RELEASE, "mutation": "blob"},
    "prior weight 1": {**RELEASE, "prior_weight": 1.0},
    "fewer resets (--indpb 0.0002)": {**RELEASE, "indpb": 0.0002},
    "original + genome 16 + tv 0.1": {**ORIGINAL, "faceness_cap": 1.0, "genome_size": 16, "tv_weight": 0.1},
}
SNAPSHOT_SCALE = 4  # evolve's snapshots are the best image enlarged 4x (nearest neighbour)
HALL = 16  # the hall of fame top_grid.png shows


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


def pixel_spread(images: np.ndarray) -> float:
    """The median over pairs of (n, S, S, 3) uint8 images of their mean |pixel difference| (0-255)."""
    flat = images.reshape(len(images), -1).astype(np.float32)
    pairs = [np.abs(flat[i] - flat[j]).mean() for i in range(len(flat)) for j in range(i + 1, len(flat))]
    return float(np.median(pairs))


def run_to(run: Path, seconds: float, settings: dict) -> None:
    """Evolve ``run`` until ``seconds`` of evolution in all: a new run, or the run resumed from its checkpoint."""
    if (run / "checkpoints" / "last.pt").is_file():
        if float(load_checkpoint(run / "checkpoints" / "last.pt", "evolve")["elapsed"]) < seconds:
            evolve(resume_config(run, time_limit=seconds), resume=True)
    else:
        evolve(EvolveConfig(out=str(run), **{**settings, "time_limit": seconds}))


def real_figures(real_images: np.ndarray, features: np.ndarray) -> dict:
    """Real faces' figures, as the runs' are measured: the between-image diversity of their Inception ``features``,
    the pixel spread of 16 of them (median over 20 draws), and their stray dots."""
    rng = np.random.default_rng(0)
    spreads = [pixel_spread(real_images[rng.choice(len(real_images), HALL, replace=False)]) for _ in range(20)]
    return {"diversity": mean_pairwise_distance(features),
            "hall_spread": float(np.median(spreads)), "dots": float(count_dots(real_images).mean())}


def measure_length(runs: list[Path], earlier: dict | None, real: np.ndarray, inception, out: Path, label: str) -> dict:
    """The figures of ``runs`` as they stand now (see the module docstring); ``earlier``: the previous length's."""
    best, halls, fitness, generations, seconds = [], [], [], [], []
    for run in runs:
        ckpt = load_checkpoint(run / "checkpoints" / "last.pt", "evolve")  # the run's last state, as it ended
        hall = evolve_run_images(run, HALL)
        best.append(hall[0])
        halls.append(hall)
        fitness.append(float(ckpt["hof_fitness"].max()))
        generations.append(int(ckpt["generation"]))
        seconds.append(float(ckpt["elapsed"]))
    best = np.stack(best)
    save_png(image_grid(best, scale=3), out / f"{label}.png")
    save_png(image_grid(halls[0], scale=3), out / f"{label}-top.png")
    features = inception_features(inception, best)
    kid, kid_spread = kernel_inception_distance(features, real, subsets=100, subset_size=len(best))
    every = np.concatenate(halls)
    hall_kid, _ = kernel_inception_distance(inception_features(inception, every), real, subsets=100,
                                            subset_size=len(every))
    accepted = {detector: detect_faces(best, detector) for detector in DETECTORS}
    drift = None
    if earlier is not None:  # seeds a detector accepted at the previous length and rejects now
        drift = {d: int(np.sum(np.array(earlier["accepted"][d]) & ~accepted[d])) for d in ("cnn", "hog")}
    return {"generations": statistics.mean(generations),
            "ms_per_generation": 1000 * statistics.mean(seconds) / statistics.mean(generations),
            "best_fitness": statistics.mean(fitness), "accepted": {d: a.tolist() for d, a in accepted.items()},
            **{f"{d}_face_rate": float(a.mean()) for d, a in accepted.items()}, "drift": drift,
            "kid_x1000": kid * 1000, "kid_x1000_spread": kid_spread * 1000, "hall_kid_x1000": hall_kid * 1000,
            "diversity": mean_pairwise_distance(features),
            "hall_spread": float(np.median([pixel_spread(h) for h in halls])),
            "dots": float(np.mean([count_dots(hall).mean() for hall in halls]))}


def main() -> None:
    root = Path(__file__).resolve().parents[1]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--first-seed", type=int, default=0, help="seeds --first-seed, ..., --first-seed + --seeds - 1")
    parser.add_argument("--lengths", type=float, nargs="+", default=[10, 100, 300, 1000],
                        help="seconds of evolution at which each run is measured, in increasing order")
    parser.add_argument("--budget", type=float, help="one run length, in seconds: the same as --lengths BUDGET "
                                                      "(the earlier figures' commands)")
    parser.add_argument("--real", default=str(root.parent / "shared" / "data" / "celeba"))
    parser.add_argument("--weights", default=str(root.parent / "shared" / "weights" / "pt_inception-fid-features.pth"))
    parser.add_argument("--out", default=str(root / "runs" / "ga-quality"))
    parser.add_argument("--only", nargs="*", help="names of configurations to run (default: all)")
    parser.add_argument("--reuse", action="store_true", help="read runs an earlier call finished instead of rerunning")
    parser.add_argument("--options", type=json.loads, metavar="JSON",
                        help='one more configuration, named by --name: evolve options, e.g. {"fitness": "CKPT"}')
    parser.add_argument("--name", default="custom", help="the name of the --options configuration")
    args = parser.parse_args()
    if args.budget is not None:
        args.lengths = [args.budget]
    if sorted(args.lengths) != args.lengths or min(args.lengths) <= 0:
        parser.error("--lengths must be positive and increasing")
    configurations = {**CONFIGURATIONS, **({args.name: args.options} if args.options else {})}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    inception = inception_model(args.weights)
    real_images = load_folder(args.real, 64, limit=1000, seed=11, quiet=True).images
    real = inception_features(inception, real_images)
    real_row = real_figures(real_images, real)
    print(f"{args.seeds} runs per configuration, measured at {', '.join(f'{s:g}' for s in args.lengths)} s of "
          f"evolution; real faces: diversity {real_row['diversity']:.1f}, spread of 16 {real_row['hall_spread']:.1f}, "
          f"dots {real_row['dots']:.1f}")
    print(f"{'configuration':<40} {'s':>5} {'gens':>6} {'ms/gen':>6} {'fitness':>7} {'cnn':>5} {'hog':>5} "
          f"{'haar':>5} {'drift':>5} {'face s':>6} {'KID x1000':>11} {'hall':>5} {'divers':>6} {'spread':>6} "
          f"{'dots':>5}")
    results = json.loads((out / "results.json").read_text()) if (out / "results.json").is_file() else {}
    results["real faces"] = real_row
    for name, options in configurations.items():
        if args.only and name not in args.only:
            continue
        slug = name.split(" (")[0].replace(" ", "-").replace(",", "").replace("+", "plus")
        seeds = range(args.first_seed, args.first_seed + args.seeds)
        runs = [out / f"{slug}-s{seed}" for seed in seeds]
        rows, earlier = {}, None
        for length in args.lengths:
            for seed, run in zip(seeds, runs):
                if not args.reuse:
                    # the options may add a stopping rule (generations: the first rule reached ends the run)
                    run_to(run, length, {"generations": None, "seed": seed, "device": "cpu", **options})
            row = measure_length(runs, earlier, real, inception, out, f"{slug}-{length:g}s")
            found = [s for s in (seconds_to_first_face(run) for run in runs) if s is not None]
            row["median_seconds_to_face"] = statistics.median(found) if len(found) * 2 > len(runs) else None
            rows[f"{length:g}"] = earlier = row
            face = "never" if row["median_seconds_to_face"] is None else f"{row['median_seconds_to_face']:.1f}"
            drift = "-" if row["drift"] is None else f"{row['drift']['cnn']}/{row['drift']['hog']}"
            print(f"{name[:40]:<40} {length:5g} {row['generations']:6.0f} {row['ms_per_generation']:6.1f} "
                  f"{row['best_fitness']:7.4f} {row['cnn_face_rate']:5.0%} {row['hog_face_rate']:5.0%} "
                  f"{row['haar_face_rate']:5.0%} {drift:>5} {face:>6} {row['kid_x1000']:6.0f} ± "
                  f"{row['kid_x1000_spread']:3.0f} {row['hall_kid_x1000']:5.0f} {row['diversity']:6.1f} "
                  f"{row['hall_spread']:6.1f} {row['dots']:5.1f}", flush=True)
        results[name] = {"options": options, "seeds": args.seeds, "first_seed": args.first_seed, "lengths": rows}
        (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
