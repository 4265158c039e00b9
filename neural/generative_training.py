"""What the generative baselines share: their config, held-out faces, FID during training, sampling helpers.

A trainer subclass supplies its networks and optimizers, one training step, its sample grids and how to draw images.
"""

from __future__ import annotations

from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from evoface.core.configs import RunConfig, bounded, seed_field
from evoface.core.errors import InputError
from evoface.core.words import plural
from evoface.core.plots import image_grid, save_png
from fitness_data.augment import AugmentConfig, augment
from fitness_data.batches import split, to_nchw
from fitness_data.sources import load_sources
from neural.epoch_trainer import EpochTrainer

HOLDOUT_FOLDER = "holdout"


@dataclass
class GenerativeConfig(RunConfig):
    """Parameters every generative baseline shares."""

    resume_changeable = ("epochs", "time_limit", "device")

    data: list[str]
    out: str
    size: int = bounded(64, choices=(32, 64, 128))
    epochs: int = bounded(25, 1, 1_000_000)
    batch_size: int = bounded(128, 1, 65_536)
    time_limit: float | None = bounded(None, 0.0, 1e8, low_open=True)  # seconds of training in total, across
    # resumes, checked after each epoch
    holdout: float = bounded(0.0, 0.0, 0.5)  # share of images kept out of training (saved as PNGs, used for FID)
    max_images: int | None = bounded(None, 1, 10**9)
    flip: bool = True
    crop_scale: float = bounded(1.0, 0.3, 1.0)
    rotate_degrees: float = bounded(0.0, 0.0, 45.0, flag="--rotate")
    perspective: float = bounded(0.0, 0.0, 0.5)
    fid_every: int = bounded(0, 0, 1_000_000)  # FID against the held-out images every N epochs (0 = never)
    fid_samples: int = bounded(500, 2, 100_000)
    inception_weights: str | None = None
    download: bool = False
    device: str = "auto"
    seed: int = seed_field()

    def validate(self) -> None:
        super().validate()
        if self.fid_every and not self.holdout:
            raise InputError("--fid-every needs --holdout > 0: FID is measured against the held-out images")

    @property
    def augmentation(self) -> AugmentConfig:
        return AugmentConfig(self.flip, self.crop_scale, self.rotate_degrees, self.perspective)


def to_uint8_images(images: torch.Tensor) -> np.ndarray:
    """(B, 3, H, W) float in [-1, 1] -> (B, H, W, 3) uint8."""
    return ((images.detach().float().clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).cpu().numpy()


@contextmanager
def batch_statistics(module: torch.nn.Module):
    """BatchNorm layers normalise with each batch's statistics (as during training) without updating their running
    statistics; other layers keep their mode."""
    norms = [m for m in module.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    saved = [(m.training, m.momentum) for m in norms]
    for m in norms:
        m.train()
        m.momentum = 0.0  # running = (1 - 0) * running + 0 * batch: unchanged
    try:
        yield module
    finally:
        for m, (training, momentum) in zip(norms, saved):
            m.train(training)
            m.momentum = momentum


@torch.no_grad()
def decode_latents(decode, module: torch.nn.Module, latent: int, size: int, n: int, device, seed: int | None = None,
                   batch: int = 128, batch_stats: bool = False) -> np.ndarray:
    """n images (N, size, size, 3) uint8 from ``decode(z)`` with z ~ N(0, I) of width ``latent``, seeded when ``seed``
    is given. ``module`` is in eval mode meanwhile; with ``batch_stats`` its BatchNorm layers use batch statistics,
    and every batch is a full one (the first n images are the same for any n)."""
    was_training = module.training
    module.eval()
    gen = torch.Generator().manual_seed(seed) if seed is not None else None
    with batch_statistics(module) if batch_stats else nullcontext():
        out = [to_uint8_images(decode(torch.randn(batch if batch_stats else min(batch, n - i), latent,
                                                  generator=gen).to(device)))
               for i in range(0, n, batch)]
    module.train(was_training)
    return np.concatenate(out)[:n] if out else np.zeros((0, size, size, 3), np.uint8)


class GenerativeTrainer(EpochTrainer):
    """The epoch loop for a generator of faces: training images with a held-out share (saved as PNGs, used for FID),
    FID every ``fid_every`` epochs, sample grids. Subclasses implement ``write_grids`` and ``sample`` besides the
    networks' hooks."""

    def load_data(self) -> None:
        config = self.config
        images = load_sources(config.data, config.size, limit=config.max_images, download=config.download,
                              seed=config.seed)
        train, held = split(images, config.holdout, config.seed) if config.holdout > 0 else (images, images[:0])
        if len(train) < config.batch_size:
            raise InputError(f"only {plural(len(train), 'training image')}, fewer than --batch-size "
                             f"{config.batch_size}: lower --batch-size or add images")
        self.train_images, self.holdout_images = to_nchw(train), held
        self._inception = self._inception_model() if config.fid_every else None  # bad weights: an error now

    def _inception_model(self):
        from neural.fid import inception_model

        return inception_model(self.config.inception_weights, self.config.download, self.device)

    def start(self) -> None:
        if len(self.holdout_images):
            folder = self.run.path / HOLDOUT_FOLDER
            folder.mkdir(exist_ok=True)
            from PIL import Image

            for i, image in enumerate(self.holdout_images):
                Image.fromarray(image).save(folder / f"{i:05d}.png")

    def describe(self) -> str:
        return (f"{self.kind}: {len(self.train_images)} training images, {len(self.holdout_images)} held out, "
                f"{self.steps_per_epoch()} steps per epoch, device {self.device}")

    def steps_per_epoch(self) -> int:
        return len(self.train_images) // self.config.batch_size

    def batches(self):
        order = torch.randperm(len(self.train_images), generator=self.generator)
        for start in range(0, len(order) - self.config.batch_size + 1, self.config.batch_size):  # full batches only
            batch = self.train_images[order[start:start + self.config.batch_size]]
            batch = augment(batch, self.config.augmentation, self.generator)
            yield batch.to(self.device).float().div_(127.5).sub_(1.0)

    def write_grids(self, row: dict[str, Any]) -> None:
        """Write sample grids for the epoch; may add validation metrics to ``row``."""
        raise NotImplementedError

    def sample(self, n: int) -> np.ndarray:
        raise NotImplementedError

    def epoch_end(self, row: dict[str, Any]) -> None:
        self.write_grids(row)
        if self.config.fid_every and len(self.holdout_images) and self.epoch % self.config.fid_every == 0:
            row["fid"] = self.fid()

    def fid(self) -> float:
        from neural.fid import cached_features, frechet_distance, inception_features

        if self._inception is None:
            self._inception = self._inception_model()
        real = cached_features(self._inception, self.holdout_images, self.run.path / "cache",
                               f"holdout|{len(self.holdout_images)}")
        fake = inception_features(self._inception, self.sample(self.config.fid_samples))
        return frechet_distance(fake, real)

    def save_grid(self, images: np.ndarray, name: str, columns: int = 8) -> Path:
        return save_png(image_grid(images, columns=columns, scale=2), self.run.samples / name)
