"""The ``evoface compare`` workflow: the same figures for GA runs, VAE, GAN and real faces, side by side."""

from __future__ import annotations

import json
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from evoface.core.checkpoints import load_checkpoint
from evoface.core.configs import RunConfig, bounded, seed_field
from evoface.core.words import plural
from evoface.core.errors import InputError
from evoface.meqfi import write_sheet
from evoface.core.rundir import RunDir, last_checkpoint
from evoface.kernels import switch
from evoface.kernels.switch import MODES as KERNEL_MODES
from fitness_data.folder import IMAGE_EXTENSIONS, default_cache_dir, fingerprint, list_files, load_folder, resize_images
from neural.devices import resolve_device

GA_IMAGE_MODES = ("best", "top")
SMALL_N_FOR_FID = 50


@dataclass
class CompareConfig(RunConfig):
    """Every parameter of ``evoface compare``."""

    out: str
    real: str | None = None      # folder of real faces; needed for a comparison, not to score a MEQFI sheet
    ga: list[str] = field(default_factory=list)
    vae: str | None = None
    gan: str | None = None
    n: int = bounded(1000, 2, 100_000, flag="-n")
    ga_images: str = bounded("best", choices=GA_IMAGE_MODES)  # best: the best image of each run; top: the top of
    # each final population
    size: int = bounded(64, 32, 128)  # side of the real images (samples keep their own size; Inception resizes all)
    columns: int = bounded(8, 1, 32)
    fitness: str | None = None
    inception_weights: str | None = None
    download: bool = False
    meqfi_sheet: bool = False
    meqfi_scores: str | None = None  # a filled-in MEQFI sheet to score (alone, or alongside a comparison)
    device: str = "auto"
    kernels: str = bounded("auto", choices=KERNEL_MODES)  # the fast paths of scoring and decoding (evoface.kernels)
    seed: int = seed_field()


@dataclass
class MethodSamples:
    name: str
    images: np.ndarray
    seconds_per_sample: float | None
    cost_note: str


def ga_label(ckpt: dict[str, Any]) -> str:
    """The row of an evolve run: "GA (pixel)" for the pixel genome, "GA (latent, gan)" / "GA (latent, vae)" for codes;
    of an illuminate run: "QD (pixel)", "QD (latent, gan)"."""
    method = "QD" if ckpt["kind"] == "illuminate" else "GA"
    return f"{method} (latent, {ckpt['decoder']['kind']})" if ckpt.get("genome") == "latent" else f"{method} (pixel)"


def ga_samples(runs: list[str], n: int, mode: str) -> list[MethodSamples]:
    """One row per kind of run (``ga_label``): the best image of each evolve run ("best"), or up to n distinct top
    images spread over the runs' final populations; an illuminate run's elites (its map's faces, best first) in
    either mode."""
    from evoface.sampling import RUN_KINDS, run_checkpoint_images

    checkpoints: dict[str, list[dict[str, Any]]] = {}
    for run in runs:
        path = last_checkpoint(run)
        if not path.is_file():
            raise InputError(f"--ga {run} is not an evolve or illuminate run directory (no {path.relative_to(run)})")
        ckpt = load_checkpoint(path, RUN_KINDS)
        checkpoints.setdefault(ga_label(ckpt), []).append(ckpt)
    rows = []
    for label, group in checkpoints.items():
        per_run = 1 if mode == "best" and label.startswith("GA") else max(1, n // len(group))
        stacked = np.concatenate([run_checkpoint_images(ckpt, per_run) for ckpt in group])[:n]
        seconds = sum(ckpt["elapsed"] for ckpt in group)
        rows.append(MethodSamples(label, stacked, seconds / len(stacked),
                                  f"evolution time of {plural(len(group), 'run')} divided by the "
                                  f"{plural(len(stacked), 'image')} taken"))
    return rows


def model_samples(name: str, checkpoint: str, kind: str, n: int, seed: int, device) -> MethodSamples:
    from evoface.decoders import SHIPPED, resolve_decoder_path
    from neural.sampling import sample_checkpoint

    if checkpoint == kind and kind in SHIPPED and not Path(checkpoint).exists():  # --gan gan: the shipped one
        checkpoint = str(resolve_decoder_path(kind))
    ckpt = load_checkpoint(checkpoint, kind)
    started = time.perf_counter()
    images = sample_checkpoint(ckpt, n, seed=seed, device=device, name=checkpoint)
    per_sample = (time.perf_counter() - started) / n
    trained = ckpt.get("elapsed") or ckpt.get("metrics", {}).get("elapsed_s")  # last.pt, or best.pt's epoch row
    note = "sampling only" + (f"; trained {trained / 60:.0f} min" if trained else "")
    return MethodSamples(name, images, per_sample, note)


def real_images(folder: str, n: int, size: int, seed: int) -> tuple[np.ndarray, str]:
    files = [p for p in list_files(Path(folder)) if p.suffix.lower() in IMAGE_EXTENSIONS]
    if len(files) < n:
        raise InputError(f"--real {folder} has {len(files)} images, fewer than -n {n}")
    images = load_folder(folder, size, limit=n, seed=seed, quiet=True).images
    if len(images) < n:
        raise InputError(f"--real {folder} has only {len(images)} readable images, fewer than -n {n}")
    return images, f"real|{fingerprint(sorted(files), size)}|{n}|{seed}"


class Comparison:
    def __init__(self, config: CompareConfig):
        if not (config.ga or config.vae or config.gan):
            raise InputError("no methods given: pass --ga RUN, --vae CKPT and/or --gan CKPT")
        config.validate()
        self.config = config
        self.run = RunDir(config.out, create=None)  # made once every method is measured
        self.device = resolve_device(config.device)

    def collect(self) -> list[MethodSamples]:
        config = self.config
        methods = []
        if config.ga:
            methods.extend(ga_samples(config.ga, config.n, config.ga_images))
        if config.vae:
            methods.append(model_samples("VAE", config.vae, "vae", config.n, config.seed, self.device))
        if config.gan:
            methods.append(model_samples("GAN", config.gan, "gan", config.n, config.seed, self.device))
        return methods

    def measure(self, methods: list[MethodSamples], real: np.ndarray, real_key: str) -> list[dict[str, Any]]:
        from neural.face_detector import detector_rates
        from neural.faceness_store import load_faceness, score_images
        from neural.fid import cached_features, inception_features, inception_model

        inception = inception_model(self.config.inception_weights, self.config.download, self.device)
        real_features = cached_features(inception, real, default_cache_dir() / "fid", real_key)
        fitness = load_faceness(self.config.fitness).to(self.device)
        rows = []
        for method in methods + [MethodSamples("Real", real, None, "held-out photographs")]:
            images = method.images
            features = real_features if method.name == "Real" else inception_features(inception, images)
            if method.name != "Real" and len(images) < SMALL_N_FOR_FID:
                print(f"warning: {method.name} has only {len(images)} images: FID is strongly biased at small n; "
                      f"prefer KID", file=sys.stderr)
            row = {"method": method.name, "n": len(images)}
            row.update(distances(features, real_features, method.name == "Real"))
            faceness_input = torch.from_numpy(resize_images(images, fitness.config.size)).permute(0, 3, 1, 2)
            row["faceness"] = float(score_images(fitness, faceness_input).mean())
            rates = detector_rates(images)  # only judges: no detector takes part in any fitness
            row["detector_face_rate"] = rates["cnn"]
            row.update({f"{name}_face_rate": rate for name, rate in rates.items() if name != "cnn"})
            row["seconds_per_sample"] = method.seconds_per_sample
            row["cost_note"] = method.cost_note
            rows.append(row)
        return rows


def distances(features: np.ndarray, real_features: np.ndarray, is_real: bool) -> dict[str, Any]:
    """FID and KID against the real features; for the real set itself, against its own two halves."""
    from neural.fid import frechet_distance, kernel_inception_distance

    if is_real:
        half = len(features) // 2
        a, b = features[:half], features[half:2 * half]
    else:
        a, b = features, real_features
    if min(len(a), len(b)) < 2:
        return {"fid": None, "kid": None, "kid_std": None}
    kid, kid_std = kernel_inception_distance(a, b, subset_size=min(1000, len(a), len(b)))
    return {"fid": frechet_distance(a, b), "kid": kid, "kid_std": kid_std}


def format_figure_row_title(row: dict[str, Any]) -> str:
    if row["fid"] is None:
        return f"{row['method']} (n={row['n']})"
    label = "FID (half vs half)" if row["method"] == "Real" else "FID"
    return f"{row['method']} (n={row['n']}): {label} {row['fid']:.1f}, KID {row['kid']:.3f}"


def write_figure(methods: list[MethodSamples], real: np.ndarray, rows: list[dict[str, Any]], columns: int,
                 path: Path) -> Path:
    """One row per method (the same number of columns), each titled with its FID and KID."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from evoface.core.plots import image_grid

    strips = [m.images for m in methods] + [real]
    fig, axes = plt.subplots(len(strips), 1, figsize=(columns * 1.1, len(strips) * 1.55), dpi=120, squeeze=False)
    for ax, images, row in zip(axes[:, 0], strips, rows):
        shown = resize_images(images[:columns], 64)
        if len(shown) < columns:  # fewer images than columns: pad with white so every row has the same width
            shown = np.concatenate([shown, np.full((columns - len(shown), 64, 64, 3), 255, np.uint8)])
        ax.imshow(image_grid(shown, columns=columns, pad=2))
        ax.set_title(format_figure_row_title(row), fontsize=9, loc="left")
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def markdown_table(rows: list[dict[str, Any]]) -> str:
    def fmt(value, spec):
        return "n/a" if value is None else format(value, spec)

    lines = ["| method | n | FID | KID (x1000) | faceness | CNN detector | HOG | Haar | s/sample | cost |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    for row in rows:
        kid = None if row["kid"] is None else row["kid"] * 1000
        kid_std = None if row["kid_std"] is None else row["kid_std"] * 1000
        lines.append(f"| {row['method']} | {row['n']} | {fmt(row['fid'], '.1f')} | {fmt(kid, '.1f')} "
                     f"± {fmt(kid_std, '.1f')} | {row['faceness']:.3f} | {row['detector_face_rate']:.0%} | "
                     f"{row['hog_face_rate']:.0%} | {row['haar_face_rate']:.0%} | "
                     f"{fmt(row['seconds_per_sample'], '.3g')} | {row['cost_note']} |")
    return "\n".join(lines)


NOTES = """FID and KID use pytorch-fid's Inception pool3 features against the real images; the Real row compares
one half of the real set with the other (the floor at that n). KID is the unbiased polynomial-kernel MMD, reliable
at small n where FID is biased upwards. Faceness is the mean score of the fitness CNN (the GA's own objective, so
not an independent judge). The detector columns are the shares of images in which a face detector finds a face:
dlib's CNN (MMOD) detector, its HOG + linear SVM detector, and OpenCV's Haar cascade (which also fires on some noise
textures); none was trained or tuned on evoface data, and none takes part in any fitness. GA images: {ga_mode}."""


def compare(config: CompareConfig) -> dict[str, Any]:
    """Sample every method, measure it against the real faces, and write compare.png/.json/.md and config.json."""
    comparison = Comparison(config)
    methods = comparison.collect()
    real, real_key = real_images(config.real, config.n, config.size, config.seed)
    rows = comparison.measure(methods, real, real_key)
    out = RunDir(config.out).path
    comparison.run.write_config(config)
    figure = write_figure(methods, real, rows, config.columns, out / "compare.png")
    ga_mode = ("the best image of each run" if config.ga_images == "best"
               else "the top distinct images of each run's final population")
    (out / "compare.json").write_text(json.dumps({"rows": rows, "config": config.__dict__}, indent=2) + "\n")
    (out / "compare.md").write_text("# evoface compare\n\n" + markdown_table(rows) + "\n\n"
                                    + NOTES.format(ga_mode=ga_mode) + "\n")
    result = {"rows": rows, "figure": str(figure), "table": str(out / "compare.md")}
    if config.meqfi_sheet:
        result["meqfi_sheet"] = str(write_meqfi_sheet(methods, real, config.columns, out))
    return result


def write_meqfi_sheet(methods: list[MethodSamples], real: np.ndarray, columns: int, out: Path) -> Path:
    """Save the images shown in the figure and a blank MEQFI rating sheet listing them (shuffled order is left to
    the rater's tool; the sheet names each image's method)."""
    from PIL import Image

    folder = out / "meqfi_images"
    folder.mkdir(exist_ok=True)
    shown = []
    for name, images in [(m.name, m.images) for m in methods] + [("Real", real)]:
        for i, image in enumerate(images[:columns]):
            path = folder / f"{re.sub(r'[^a-z0-9]+', '_', name.lower()).strip('_')}_{i:02d}.png"
            Image.fromarray(resize_images(image[None], 128)[0]).save(path)
            shown.append((name, str(path.relative_to(out))))
    return write_sheet(shown, out / "meqfi_sheet.csv")


def compare_report(config: CompareConfig) -> list[str]:
    """``evoface compare``: score a MEQFI sheet and/or compare the methods; returns the lines to print. Nothing is
    written until every input has been read."""
    from evoface.meqfi import score_sheet

    config.validate()
    switch.select(config.kernels)
    scores = score_sheet(config.meqfi_scores) if config.meqfi_scores else None
    lines = []
    if config.ga or config.vae or config.gan or not scores:
        if not config.real:
            raise InputError("--real DIR is required for a comparison")
        result = compare(config)
        lines += [Path(result["table"]).read_text().split("\n\n")[1], f"figure: {result['figure']}"]
    if scores:
        (RunDir(config.out).path / "meqfi.json").write_text(json.dumps(scores, indent=2) + "\n")
        lines += [f"MEQFI {method}: {mean:.3f}" for method, mean in scores["method_means"].items()]
    return lines
