"""The latent GA's choice against its decoder's random draw, and its speed against the pixel GA.

Run: python bench/latent_quality.py [--decoder gan] [--seeds 10] [--budget 60] [--pixel-seeds 3]
     [--real runs/ship-gan/holdout] [--out runs/latent-quality] [--options '{"niche_radius": 0}'] [--reuse]

1. K seeded latent evolve runs of BUDGET seconds each on the decoder; interleaved with them, the first PIXEL_SEEDS
   seeds also run the pixel GA for the same time (so the two speeds are measured side by side, under the same load).
2. For the GA's best image of each run (n = K), the top 16 of each run's hall of fame (n = 16 K), and as many of the
   decoder's random samples: FID and KID against the held-out real faces, the rates of the independent face detectors
   (never in a fitness), mean faceness, and the diversity between images (mean pairwise cosine distance of their
   Inception features; for the best images: between seeds). Where the runs capped faceness, also as many random
   samples that pass the same bar (rejection sampling): the fairest baseline for the GA's choice.
3. GAN only: the same random codes decoded with BatchNorm on the fixed reference batch's statistics (the GA's
   default), on the running statistics, and on each batch's statistics.
Writes OUT/results.json and grids OUT/ga_best.png, OUT/ga_top.png, OUT/random.png; prints each figure as it comes.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from evoface.compare import real_images  # noqa: E402
from evoface.core.checkpoints import load_checkpoint  # noqa: E402
from evoface.core.plots import image_grid, save_png  # noqa: E402
from evoface.decoders import load_decoder  # noqa: E402
from evoface.evolve import EvolveConfig, evolve  # noqa: E402
from fitness_data.folder import default_cache_dir  # noqa: E402
from neural.face_detector import DETECTORS, detect_faces  # noqa: E402
from neural.faceness_store import load_faceness, score_images  # noqa: E402
from neural.fid import (  # noqa: E402
    cached_features,
    frechet_distance,
    inception_features,
    inception_model,
    kernel_inception_distance,
)

TOP = 16
RANDOM_SEED = 777


def pairwise_cosine_distance(features: np.ndarray) -> float:
    """Mean cosine distance over all pairs of rows: 0 when every image looks the same to Inception."""
    unit = features / np.linalg.norm(features, axis=1, keepdims=True)
    similarity = unit @ unit.T
    n = len(features)
    return float(1 - (similarity.sum() - n) / (n * (n - 1)))


class Judged:
    """A set of images with what every measure needs, computed once per image: Inception features, faceness and (when
    asked) each independent detector's verdict; ``row`` measures a subset of the rows."""

    def __init__(self, images: np.ndarray, inception, faceness, detect: bool):
        self.images = images
        self.features = inception_features(inception, images)
        self.faceness = score_images(faceness, torch.from_numpy(images).permute(0, 3, 1, 2)).numpy()
        self.detections = {name: detect_faces(images, name) for name in DETECTORS} if detect else {}

    def row(self, name: str, rows: np.ndarray | slice, real_features: np.ndarray) -> dict:
        features = self.features[rows]
        kid, kid_std = kernel_inception_distance(features, real_features, subset_size=min(len(features), 1000))
        row = {"set": name, "n": len(features), "fid": frechet_distance(features, real_features),
               "kid_x1000": kid * 1000, "kid_std_x1000": kid_std * 1000,
               "diversity": pairwise_cosine_distance(features), "faceness": float(self.faceness[rows].mean()),
               **{f"detector_{k}": float(v[rows].mean()) for k, v in self.detections.items()}}
        print(json.dumps(row), flush=True)
        return row


def second_half_speed(rows: list[dict]) -> float:
    """Generations per second over the second half of a run, from its cumulative ``generations_per_s`` column (the
    first generations also pay for warming up: loading compiled kernels, first forward passes)."""
    mid, last = rows[len(rows) // 2 - 1] if len(rows) > 1 else rows[0], rows[-1]
    seconds = last["generation"] / last["generations_per_s"] - mid["generation"] / mid["generations_per_s"]
    return (last["generation"] - mid["generation"]) / seconds if seconds > 0 else last["generations_per_s"]


def evolve_run(out: Path, decoder: str, genome: str, budget: float, seed: int, latent_options: dict) -> dict:
    options = {"genome": "latent", "decoder": decoder, **latent_options} if genome == "latent" else {}
    summary = evolve(EvolveConfig(out=str(out), generations=None, time_limit=budget, seed=seed, device="cpu",
                                  snapshot_every=10**9, checkpoint_every=10**9, **options))  # the budget alone stops it
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return {"genome": genome, "seed": seed, "generations": summary["generation"],
            "generations_per_s": second_half_speed(rows), "best_fitness": summary["best_fitness"]}


def passing_draws(decoder, faceness, cap: float, n: int, limit: int = 40_000, batch: int = 1000) -> tuple[np.ndarray, int]:
    """Up to n of the decoder's random samples whose faceness reaches ``cap``, and how many codes were drawn."""
    kept, drawn = [], 0
    while sum(map(len, kept)) < n and drawn < limit:
        images = decoder.decode(decoder.random_latents(batch, seed=RANDOM_SEED + 1 + drawn))
        scores = score_images(faceness, torch.from_numpy(images).permute(0, 3, 1, 2)).numpy()
        kept.append(images[scores >= cap])
        drawn += batch
    return np.concatenate(kept)[:n], drawn


def main() -> None:
    root = Path(__file__).resolve().parents[1]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decoder", default="gan")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--budget", type=float, default=60.0, help="seconds per evolve run")
    parser.add_argument("--pixel-seeds", type=int, default=3, help="seeds that also run the pixel GA, for speed")
    parser.add_argument("--real", default=str(root / "runs" / "ship-gan" / "holdout"))
    parser.add_argument("--n-real", type=int, default=1000)
    parser.add_argument("--weights", default=str(root.parent / "shared" / "weights" / "pt_inception-fid-features.pth"))
    parser.add_argument("--out", default=str(root / "runs" / "latent-quality"))
    parser.add_argument("--options", type=json.loads, default={},
                        help="EvolveConfig fields for the latent runs, as JSON (default: evolve's defaults)")
    parser.add_argument("--reuse", action="store_true",
                        help="judge the runs already in OUT (and keep their speed figures) instead of evolving again")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    decoder = load_decoder(args.decoder)
    results: dict = {"decoder": args.decoder, "seeds": args.seeds, "budget_s": args.budget, "options": args.options}

    runs = []  # evolve runs first (no other work of this bench competes with them), the pixel GA interleaved
    if args.reuse:
        previous = json.loads((out / "results.json").read_text())
        runs, results["options"] = previous["runs"], previous.get("options", {})
    for seed in range(args.seeds if not args.reuse else 0):
        runs.append(evolve_run(out / f"latent-{seed}", args.decoder, "latent", args.budget, seed, args.options))
        if seed < args.pixel_seeds:
            runs.append(evolve_run(out / f"pixel-{seed}", args.decoder, "pixel", args.budget, seed, {}))
        print(json.dumps(runs[-2:] if seed < args.pixel_seeds else runs[-1:]), flush=True)
    results["runs"] = runs
    pairs = [(a["generations_per_s"], b["generations_per_s"]) for a, b in zip(runs, runs[1:])
             if a["genome"] == "latent" and b["genome"] == "pixel" and a["seed"] == b["seed"]]
    if pairs:
        results["speed"] = {"latent_generations_per_s": statistics.median(p[0] for p in pairs),
                            "pixel_generations_per_s": statistics.median(p[1] for p in pairs),
                            "pixel_over_latent_median": statistics.median(p[1] / p[0] for p in pairs)}
        print(json.dumps(results["speed"]), flush=True)

    tops = [load_checkpoint(out / f"latent-{seed}" / "checkpoints" / "last.pt", "evolve")["hof_genes"].numpy()[:TOP]
            for seed in range(args.seeds)]  # a niche hall of fame may hold fewer than TOP
    codes = np.concatenate(tops)
    best_rows = np.cumsum([0] + [len(top) for top in tops[:-1]])  # the hall of fame is best first: each run's row 0
    random_codes = decoder.random_latents(len(codes), seed=RANDOM_SEED)
    inception, faceness = inception_model(args.weights), load_faceness()
    real, key = real_images(args.real, args.n_real, 64, 0)  # as compare reads it: its cached features are reused
    real_features = cached_features(inception, real, default_cache_dir() / "fid", key)
    ga = Judged(decoder.decode(codes), inception, faceness, detect=True)
    drawn = Judged(decoder.decode(random_codes), inception, faceness, detect=True)
    save_png(image_grid(ga.images[best_rows], columns=len(best_rows), scale=2), out / "ga_best.png")
    save_png(image_grid(ga.images[:TOP * min(4, args.seeds)], columns=TOP, scale=2), out / "ga_top.png")
    save_png(image_grid(drawn.images[:TOP * 2], columns=TOP, scale=2), out / "random.png")
    results["quality"] = [ga.row("GA best (one per seed)", best_rows, real_features),
                          ga.row(f"GA top {TOP} per seed", slice(None), real_features),
                          drawn.row(f"random, n={len(best_rows)}", slice(0, len(best_rows)), real_features),
                          drawn.row(f"random, n={len(codes)}", slice(None), real_features)]
    cap = json.loads((out / "latent-0" / "config.json").read_text()).get("faceness_cap") or 1.0
    if cap < 1:
        passing, tried = passing_draws(decoder, faceness, cap, len(codes))
        results["passing_draws"] = {"cap": cap, "drawn": tried, "kept": len(passing)}
        print(json.dumps(results["passing_draws"]), flush=True)
        if len(passing) >= 2:  # too few to measure: the count above says how rare such draws are
            results["quality"].append(Judged(passing, inception, faceness, detect=True)
                                      .row(f"random passing faceness >= {cap:g}, n={len(passing)} of {tried}",
                                           slice(None), real_features))
            save_png(image_grid(passing[:TOP * 2], columns=TOP, scale=2), out / "random_passing.png")
    results["code_norm"] = {"ga_best": float(np.linalg.norm(codes[best_rows], axis=1).mean()),
                            "random": float(np.linalg.norm(random_codes, axis=1).mean())}
    print(json.dumps(results["code_norm"]), flush=True)
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    if decoder.kind == "gan":  # which BatchNorm statistics decode the better images, on the same random codes
        results["norms"] = [drawn.row("random, reference statistics", slice(None), real_features)]
        for norm in ("running", "batch"):
            images = load_decoder(args.decoder, gan_norm=norm).decode(random_codes)
            results["norms"].append(Judged(images, inception, faceness, detect=False)
                                    .row(f"random, {norm} statistics", slice(None), real_features))
    results["wall_s"] = time.perf_counter() - started
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
