"""The epoch loop shared by the generative baselines: data, held-out faces, checkpoints, resume, FID, plots.

A trainer subclass supplies its networks and optimizers, one training step, its sample grids and how to draw images.
"""

from __future__ import annotations

import dataclasses
import math
import time
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from evoface import rng as rng_state
from evoface.checkpoints import load_checkpoint, save_atomic
from evoface.errors import InputError
from evoface.interrupts import StopRequest
from evoface.plots import image_grid, save_png
from evoface.rundir import RunDir
from fitness_data.augment import AugmentConfig, augment
from fitness_data.batches import split, to_nchw
from fitness_data.sources import load_sources
from neural.devices import resolve_device

HOLDOUT_FOLDER = "holdout"


@dataclass
class GenerativeConfig:
    """Parameters every generative baseline shares."""

    data: list[str]
    out: str
    size: int = 64
    epochs: int = 25
    batch_size: int = 128
    time_limit: float | None = None     # seconds of training in total, across resumes, checked after each epoch
    holdout: float = 0.0                # share of images kept out of training (saved as PNGs, used for FID)
    max_images: int | None = None
    flip: bool = True
    crop_scale: float = 1.0
    rotate_degrees: float = 0.0
    perspective: float = 0.0
    fid_every: int = 0                  # FID against the held-out images every N epochs (0 = never)
    fid_samples: int = 500
    inception_weights: str | None = None
    download: bool = False
    device: str = "auto"
    seed: int = 0

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


class EpochTrainer:
    """Owns a run directory and trains for epochs; subclasses set ``kind`` and implement the hooks below."""

    kind = ""
    best_metric = ""  # a metric to minimise for best.pt; "fid" when FID is computed; empty: best = last

    def __init__(self, config: GenerativeConfig, resume: bool):
        self.config = config
        self.run = RunDir(config.out)
        if not resume and self.run.config_path.exists():
            raise InputError(f"{self.run.path} already holds a run: pass --resume to continue it, or a new --out")
        self.device = resolve_device(config.device)
        rng_state.seed_everything(config.seed)
        images = load_sources(config.data, config.size, limit=config.max_images, download=config.download,
                              seed=config.seed)
        train, held = split(images, config.holdout, config.seed) if config.holdout > 0 else (images, images[:0])
        if len(train) < config.batch_size:
            raise InputError(f"only {len(train)} training images, fewer than one batch of {config.batch_size}")
        self.train_images, self.holdout_images = to_nchw(train), held
        self.generator = torch.Generator().manual_seed(config.seed)
        self.build()
        self.epoch, self.elapsed, self.best = 0, 0.0, math.inf
        self._inception = None
        if resume:
            state = load_checkpoint(self.run.checkpoints / "last.pt", self.kind)
            self.load_state(state)
            self.generator.set_state(state["data_generator"])
            rng_state.restore(state["rng"])
            self.epoch, self.elapsed, self.best = state["epoch"], state["elapsed"], state["best"]
            self.run.truncate_metrics("epoch", self.epoch)
        else:
            self.run.write_config(config)
            self._save_holdout()

    # hooks -------------------------------------------------------------------------------------------------
    def build(self) -> None:
        raise NotImplementedError

    def train_step(self, images: torch.Tensor) -> dict[str, float]:
        raise NotImplementedError

    def state(self) -> dict[str, Any]:
        """Networks and optimizers, for last.pt."""
        raise NotImplementedError

    def load_state(self, state: dict[str, Any]) -> None:
        raise NotImplementedError

    def model_state(self) -> dict[str, Any]:
        """What sampling needs (networks and their config), for best.pt."""
        raise NotImplementedError

    def epoch_end(self, row: dict[str, Any]) -> None:
        """Write sample grids for the epoch; may add validation metrics to ``row``."""

    def sample(self, n: int) -> np.ndarray:
        raise NotImplementedError

    def plot(self, rows: list[dict[str, Any]]) -> None:
        raise NotImplementedError

    # the loop ----------------------------------------------------------------------------------------------
    def _save_holdout(self) -> None:
        if len(self.holdout_images):
            folder = self.run.path / HOLDOUT_FOLDER
            folder.mkdir(exist_ok=True)
            from PIL import Image

            for i, image in enumerate(self.holdout_images):
                Image.fromarray(image).save(folder / f"{i:05d}.png")

    def _batches(self):
        order = torch.randperm(len(self.train_images), generator=self.generator)
        for start in range(0, len(order) - self.config.batch_size + 1, self.config.batch_size):  # full batches only
            batch = self.train_images[order[start:start + self.config.batch_size]]
            batch = augment(batch, self.config.augmentation, self.generator)
            yield batch.to(self.device).float().div_(127.5).sub_(1.0)

    def fid(self) -> float:
        from neural.fid import cached_features, frechet_distance, inception_model, inception_features

        if self._inception is None:
            self._inception = inception_model(self.config.inception_weights, self.config.download, self.device)
        real = cached_features(self._inception, self.holdout_images, self.run.path / "cache",
                               f"holdout|{len(self.holdout_images)}")
        fake = inception_features(self._inception, self.sample(self.config.fid_samples))
        return frechet_distance(fake, real)

    def _checkpoint(self, row: dict[str, Any]) -> None:
        common = {"kind": self.kind, "config": dataclasses.asdict(self.config), "epoch": self.epoch}
        metric = row.get(self.best_metric) if self.best_metric else None
        if metric is None and not self.best_metric:
            metric = -self.epoch  # no criterion: the latest is the best
        if metric is not None and metric < self.best:
            self.best = metric
            save_atomic({**common, **self.model_state(), "metrics": row}, self.run.checkpoints / "best.pt")
        save_atomic({**common, **self.state(), **self.model_state(), "data_generator": self.generator.get_state(),
                     "rng": rng_state.capture(), "elapsed": self.elapsed, "best": self.best},
                    self.run.checkpoints / "last.pt")

    def train(self) -> dict[str, Any]:
        config = self.config
        steps = len(self.train_images) // config.batch_size
        print(f"{self.kind}: {len(self.train_images)} training images, {len(self.holdout_images)} held out, "
              f"{steps} steps per epoch, device {self.device}")
        last_row: dict[str, Any] = {}
        with StopRequest() as stop:
            while self.epoch < config.epochs:
                if config.time_limit is not None and self.elapsed >= config.time_limit:
                    print(f"time limit reached after epoch {self.epoch}")
                    break
                started, sums, count = time.perf_counter(), {}, 0
                for images in tqdm(self._batches(), total=steps, desc=f"epoch {self.epoch + 1}", leave=False,
                                   disable=None):
                    for key, value in self.train_step(images).items():
                        sums[key] = sums.get(key, 0.0) + value
                    count += 1
                    if stop:
                        break
                if stop:
                    print(f"interrupted in epoch {self.epoch + 1}; the checkpoint of epoch {self.epoch} is kept: "
                          f"resume with --resume {self.run.path}")
                    break
                seconds = time.perf_counter() - started
                self.epoch += 1
                self.elapsed += seconds
                row = {"epoch": self.epoch, **{k: v / count for k, v in sums.items()},
                       "images_per_s": count * config.batch_size / seconds, "elapsed_s": self.elapsed}
                self.epoch_end(row)
                if config.fid_every and len(self.holdout_images) and self.epoch % config.fid_every == 0:
                    row["fid"] = self.fid()
                self.run.append_metrics([row])
                self._checkpoint(row)
                print(" ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items()))
                last_row = row
        self.plot(self.run.read_metrics())
        return {"epoch": self.epoch, "run": str(self.run.path), **last_row}

    def save_grid(self, images: np.ndarray, name: str, columns: int = 8) -> Path:
        return save_png(image_grid(images, columns=columns, scale=2), self.run.samples / name)
