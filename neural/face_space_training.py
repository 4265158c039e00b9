"""``evoface train-prior``: fit the face-space realism prior (principal components of face crops) on image folders.

One pass, no epochs: the components of the training faces by a randomised SVD, then the distance from face space of
held-out faces, of the non-face folders given with ``--negatives`` and of uniform noise, so the model card can say how
well the prior separates them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from evoface.core.checkpoints import save_atomic
from evoface.core.configs import RunConfig, bounded, seed_field
from evoface.core.errors import InputError
from evoface.core.plots import image_grid, save_png
from evoface.core.rundir import open_run
from fitness_data.batches import split
from fitness_data.sources import load_sources
from neural.face_space import KIND, FaceSpace, FaceSpaceConfig, fit_face_space


@dataclass
class PriorTrainConfig(RunConfig):
    """Every parameter of one ``evoface train-prior`` run."""

    command = "train-prior"

    faces: list[str]
    out: str
    negatives: list[str] = field(default_factory=list)  # only measured, for the model card
    size: int = bounded(64, 32, 128)
    components: int = bounded(64, 1, 4096)
    mixture: int = bounded(8, 0, 256)  # Gaussians of the mixture over the coordinates (0: none)
    holdout: float = bounded(0.0714, 0.0, 0.5)
    max_images: int | None = bounded(None, 1, 10**9)
    seed: int = seed_field()


def per_image(score, images: np.ndarray) -> np.ndarray:
    """``score`` of (N, H, W, 3) uint8 images, 500 at a time ((B, 3, H, W) in, (B,) out)."""
    with torch.inference_mode():
        return torch.cat([score(torch.from_numpy(images[i:i + 500]).permute(0, 3, 1, 2))
                          for i in range(0, len(images), 500)]).numpy() if len(images) else np.zeros(0)


def distances(model: FaceSpace, images: np.ndarray) -> np.ndarray:
    """Distance from face space of (N, H, W, 3) uint8 images."""
    return per_image(model, images)


def nlls(model: FaceSpace, images: np.ndarray) -> np.ndarray:
    """The mixture's NLL (nats) of (N, H, W, 3) uint8 images' face-space coordinates."""
    return per_image(lambda chunk: model.mixture.nll(model.coefficients(chunk)), images)


def _summary(values: np.ndarray) -> dict[str, float]:
    if len(values) == 0:
        return {}
    return {"median": float(np.median(values)), "p10": float(np.percentile(values, 10)),
            "p90": float(np.percentile(values, 90)), "n": int(len(values))}


def train_prior(config: PriorTrainConfig) -> dict[str, Any]:
    """Fit the prior, write RUN/checkpoints/best.pt (kind ``face-space``), metrics and a grid; returns the metrics."""
    run = open_run(config.out, resume=False)[0]  # claimed once the faces are read
    faces = load_sources(config.faces, config.size, limit=config.max_images, seed=config.seed)
    train, held = split(faces, config.holdout, config.seed) if config.holdout > 0 else (faces, faces[:0])
    if len(train) <= config.components:
        raise InputError(f"--components {config.components} needs more than that many training faces, got "
                         f"{len(train)}")
    negatives = (load_sources(config.negatives, config.size, limit=config.max_images, seed=config.seed)
                 if config.negatives else np.zeros((0, config.size, config.size, 3), np.uint8))
    with run.begin().held():
        run.write_config(config)
        model = fit_face_space(torch.from_numpy(train), FaceSpaceConfig(config.size, config.components, config.mixture),
                               config.seed, held_out=torch.from_numpy(held) if len(held) else None)
        noise = np.random.default_rng(config.seed).integers(0, 256, (200, config.size, config.size, 3), np.uint8)
        measured = {"held_out_faces": held, "negatives": negatives, "uniform_noise": noise}
        metrics = {"train_faces": len(train), **{name: _summary(distances(model, images))
                                                 for name, images in measured.items()}}
        if model.mixture is not None:
            metrics["nll"] = {name: _summary(nlls(model, images)) for name, images in measured.items()}
        run.append_metrics([metrics])
        for path in (run.best_checkpoint, run.last_checkpoint):
            save_face_space(model, path, metrics)
        shown = [model.mean] + [model.mean + 0.4 * c / c.abs().max() for c in model.components.T[:15]]
        grid = torch.stack(shown).clamp(0, 1).mul(255).round().byte().view(-1, config.size, config.size, 3).numpy()
        save_png(image_grid(grid, columns=8, scale=2), run.samples / "mean_and_components.png")
    return metrics


def save_face_space(model: FaceSpace, path, metrics: dict[str, Any] | None = None) -> None:
    """A face-space checkpoint: fp16 components (the distances they give differ from fp32 by < 1e-3), the mixture
    in fp32 (0.13 MB for 8 Gaussians over 64 coordinates; its NLL subtracts large terms)."""
    state = {k: v if k.startswith("mixture.") else v.half() for k, v in model.state_dict().items()}
    save_atomic({"kind": KIND, "model_config": dataclasses.asdict(model.config), "state_dict": state,
                 "metrics": metrics or {}}, path)
