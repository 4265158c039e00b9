"""Training loop of the faceness regressor: Adam + MSE on noised faces and non-faces, early stopping, resume."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from evoface.core.configs import RunConfig, bounded, seed_field
from evoface.core.errors import InputError
from evoface.core.plots import plot_series
from fitness_data.sources import oversample
from fitness_data.augment import AugmentConfig
from fitness_data.batches import LabelledImages, ValidationSet, split, training_batches
from fitness_data.sources import load_sources
from neural.epoch_trainer import EpochTrainer
from neural.faceness import FacenessConfig, FacenessNet, flops, parameter_count
from neural.faceness_store import load_faceness, save_faceness, score_images
from neural.metrics import roc_auc, spearman

TRAIN_KIND = "faceness-train"


@dataclass
class FitnessTrainConfig(RunConfig):
    """Every parameter of one ``evoface train-fitness`` run."""

    kind = TRAIN_KIND
    command = "train-fitness"
    resume_changeable = ("epochs", "time_limit", "patience", "device")

    faces: list[str]
    negatives: list[str]
    out: str
    size: int = bounded(64, 32, 128)
    epochs: int = bounded(30, 1, 1_000_000)
    batch_size: int = bounded(128, 1, 65_536)
    lr: float = bounded(1e-3, 0.0, 10.0, low_open=True)
    weight_decay: float = bounded(1e-4, 0.0, 1.0)
    val_fraction: float = bounded(0.1, 0.0, 0.9, low_open=True)
    patience: int = bounded(5, 1, 1_000_000)
    seed: int = seed_field()
    device: str = "auto"
    max_images: int | None = bounded(None, 1, 10**9)  # per source, a seeded random subset
    time_limit: float | None = bounded(None, 0.0, 1e8, low_open=True)  # seconds of training in total, across
    # resumes, checked after each epoch
    width: int = bounded(16, 4, 128)
    flip: bool = True
    crop_scale: float = bounded(0.85, 0.3, 1.0)
    rotate_degrees: float = bounded(8.0, 0.0, 45.0, flag="--rotate")
    perspective: float = bounded(0.06, 0.0, 0.5)
    init: str | None = None              # start from this faceness checkpoint (fine-tuning)
    extra_negatives: list[str] = field(default_factory=list)  # GA images added as non-faces, oversampled to >= 10%
    download: bool = False
    torchvision_root: str = "data"

    @property
    def augmentation(self) -> AugmentConfig:
        return AugmentConfig(self.flip, self.crop_scale, self.rotate_degrees, self.perspective)


@dataclass
class Datasets:
    train: LabelledImages
    val: ValidationSet


def load_datasets(config: FitnessTrainConfig) -> Datasets:
    """Load faces and non-faces at ``config.size`` and split each into train and validation."""
    options = dict(limit=config.max_images, download=config.download, torchvision_root=config.torchvision_root,
                   seed=config.seed)
    faces = load_sources(config.faces, config.size, **options)
    negatives = load_sources(config.negatives, config.size, **options)
    if config.extra_negatives:
        extra = load_sources(config.extra_negatives, config.size, **options)
        negatives = np.concatenate([negatives, oversample(extra, len(negatives))])
    faces_train, faces_val = split(faces, config.val_fraction, config.seed)
    neg_train, neg_val = split(negatives, config.val_fraction, config.seed)
    if len(faces_val) == 0 or len(neg_val) == 0:
        raise InputError("need at least 2 face images and 2 non-face images for a train/validation split")
    return Datasets(LabelledImages.of(faces_train, neg_train),
                    ValidationSet.of(LabelledImages.of(faces_val, neg_val), config.seed))


def evaluate(model: FacenessNet, val: ValidationSet) -> dict[str, float]:
    """Validation MSE on the fixed noising, Spearman of score vs 1-p on noised faces, AUC on clean images."""
    scores = score_images(model, val.noised)
    faces = val.data.is_face
    clean = score_images(model, val.data.images).numpy()
    return {
        "val_loss": float(F.mse_loss(scores, val.labels)),
        "val_spearman": spearman(scores[faces].numpy(), (1 - val.p[faces]).numpy()),
        "val_auc": roc_auc(clean[faces.numpy()], clean[~faces.numpy()]),
    }


def regression_step(model, optimizer, images: torch.Tensor, labels: torch.Tensor) -> float:
    """One Adam step of MSE between the model's scores and the labels; returns the loss."""
    loss = F.mse_loss(model(images), labels)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss.item()


class FacenessTrainer(EpochTrainer):
    """Trains the faceness regressor; best.pt (by validation MSE) is a faceness checkpoint ``load_faceness`` reads."""

    kind = TRAIN_KIND
    best_metric = "val_loss"

    def load_data(self) -> None:
        self.data = load_datasets(self.config)

    def build(self) -> None:
        config = self.config
        model = load_faceness(config.init) if config.init else FacenessNet(FacenessConfig(config.size, config.width))
        if model.config.size != config.size:
            raise InputError(f"--init model is for {model.config.size}px images, but --size is {config.size}")
        self.model = model.to(self.device).train()
        self.optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)

    def describe(self) -> str:
        return (f"faceness: {len(self.data.train)} training images, {len(self.data.val.labels)} validation, "
                f"{parameter_count(self.model)} parameters, {flops(self.model, self.config.size) / 1e6:.1f} "
                f"MFLOP/image, device {self.device}")

    def steps_per_epoch(self) -> int:
        return math.ceil(len(self.data.train) / self.config.batch_size)

    def batches(self):
        return training_batches(self.data.train, self.config.batch_size, self.config.augmentation, self.generator)

    def train_step(self, batch) -> dict[str, float]:
        images, labels = batch
        return {"train_loss": regression_step(self.model, self.optimizer, images.to(self.device),
                                              labels.to(self.device))}

    def epoch_end(self, row: dict[str, Any]) -> None:
        row.update(evaluate(self.model, self.data.val))

    def save_best(self, row: dict[str, Any]) -> None:
        save_faceness(self.model, self.run.best_checkpoint, metrics=row)

    def plot(self, rows: list[dict[str, Any]]) -> None:
        plot_series(rows, "epoch", ["train_loss", "val_loss"], self.run.plots / "loss.png",
                    "faceness regressor: MSE", "MSE", logy=True)
        plot_series(rows, "epoch", ["val_spearman", "val_auc"], self.run.plots / "validation.png",
                    "faceness regressor: validation", "")


def train_fitness(config: FitnessTrainConfig, resume: bool = False) -> dict[str, Any]:
    """Train (or resume training) a faceness regressor into ``config.out``; return the best epoch's metrics."""
    trainer = FacenessTrainer(config, resume)
    trainer.train()
    return trainer.best_row
