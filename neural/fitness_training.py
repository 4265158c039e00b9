"""Training loop of the faceness regressor: Adam + MSE on noised faces and non-faces, early stopping, resume."""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F
from tqdm import tqdm

from evoface import rng
from evoface.checkpoints import load_checkpoint, save_atomic
from evoface.errors import InputError
from evoface.interrupts import StopRequest
from evoface.plots import plot_series
from evoface.refinement import oversample
from evoface.rundir import RunDir
from fitness_data.augment import AugmentConfig
from fitness_data.batches import LabelledImages, ValidationSet, split, training_batches
from fitness_data.sources import load_sources
from neural.devices import resolve_device
from neural.faceness import FacenessConfig, FacenessNet, flops, parameter_count
from neural.faceness_store import load_faceness, save_faceness, score_images
from neural.metrics import roc_auc, spearman

TRAIN_KIND = "faceness-train"


@dataclass
class FitnessTrainConfig:
    """Every parameter of one ``evoface train-fitness`` run."""

    faces: list[str]
    negatives: list[str]
    out: str
    size: int = 64
    epochs: int = 30
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 1e-4
    val_fraction: float = 0.1
    patience: int = 5
    seed: int = 0
    device: str = "auto"
    max_images: int | None = None        # per source, a seeded random subset
    time_limit: float | None = None      # seconds of training in total, across resumes, checked after each epoch
    width: int = 16
    flip: bool = True
    crop_scale: float = 0.85
    rotate_degrees: float = 8.0
    perspective: float = 0.06
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


def train_epoch(model, optimizer, data: Datasets, config: FitnessTrainConfig, generator, device, stop, epoch: int):
    """One epoch of Adam + MSE; returns (mean loss, images/s), or None when ``stop`` turned true mid-epoch."""
    model.train()
    total, count, started = 0.0, 0, time.perf_counter()
    batches = training_batches(data.train, config.batch_size, config.augmentation, generator)
    steps = math.ceil(len(data.train) / config.batch_size)
    for images, labels in tqdm(batches, total=steps, desc=f"epoch {epoch}", leave=False, disable=None):
        loss = F.mse_loss(model(images.to(device)), labels.to(device))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total += loss.item() * len(images)
        count += len(images)
        if stop:
            return None
    return total / count, count / (time.perf_counter() - started)


def train_fitness(config: FitnessTrainConfig, resume: bool = False) -> dict[str, Any]:
    """Train (or resume training) a faceness regressor into ``config.out``; return the best epoch's metrics."""
    run = RunDir(config.out)
    last_path, best_path = run.checkpoints / "last.pt", run.checkpoints / "best.pt"
    if not resume and run.config_path.exists():
        raise InputError(f"{run.path} already holds a run: pass --resume to continue it, or choose a new --out")
    state = load_checkpoint(last_path, TRAIN_KIND) if resume else None
    device = resolve_device(config.device)
    rng.seed_everything(config.seed)
    data = load_datasets(config)
    model = load_faceness(config.init) if config.init else FacenessNet(FacenessConfig(config.size, config.width))
    if model.config.size != config.size:
        raise InputError(f"--init model is for {model.config.size}px images, but --size is {config.size}")
    model.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    generator = torch.Generator().manual_seed(config.seed)
    epoch, best, bad_epochs, elapsed = 0, {"val_loss": math.inf}, 0, 0.0
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        generator.set_state(state["generator"])
        rng.restore(state["rng"])
        epoch, best, bad_epochs, elapsed = state["epoch"], state["best"], state["bad_epochs"], state["elapsed"]
        run.truncate_metrics("epoch", epoch)
    else:
        run.write_config(config)
    print(f"faceness: {len(data.train)} training images, {len(data.val.labels)} validation, "
          f"{parameter_count(model)} parameters, {flops(model, config.size) / 1e6:.1f} MFLOP/image, device {device}")
    with StopRequest() as stop:
        while epoch < config.epochs and bad_epochs < config.patience:
            if config.time_limit is not None and elapsed >= config.time_limit:
                print(f"time limit reached after epoch {epoch}")
                break
            started = time.perf_counter()
            result = train_epoch(model, optimizer, data, config, generator, device, stop, epoch + 1)
            if result is None:
                print(f"interrupted in epoch {epoch + 1}; the checkpoint of epoch {epoch} is kept: "
                      f"resume with --resume {run.path}")
                break
            epoch += 1
            elapsed += time.perf_counter() - started
            row = {"epoch": epoch, "train_loss": result[0], **evaluate(model, data.val), "images_per_s": result[1],
                   "elapsed_s": elapsed}
            improved = row["val_loss"] < best["val_loss"]
            if improved:
                best, bad_epochs = row, 0
                save_faceness(model, best_path, metrics=row)
            else:
                bad_epochs += 1
            run.append_metrics([row])
            save_atomic({"kind": TRAIN_KIND, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                         "generator": generator.get_state(), "rng": rng.capture(), "epoch": epoch, "best": best,
                         "bad_epochs": bad_epochs, "elapsed": elapsed, "config": dataclasses.asdict(config)},
                        last_path)
            print(f"epoch {epoch}: train {row['train_loss']:.4f}  val {row['val_loss']:.4f}  "
                  f"spearman {row['val_spearman']:.3f}  auc {row['val_auc']:.3f}  {row['images_per_s']:.0f} img/s"
                  + ("  *best*" if improved else ""))
    rows = run.read_metrics()
    plot_series(rows, "epoch", ["train_loss", "val_loss"], run.plots / "loss.png", "faceness regressor: MSE",
                "MSE", logy=True)
    plot_series(rows, "epoch", ["val_spearman", "val_auc"], run.plots / "validation.png",
                "faceness regressor: validation", "")
    return best
