"""Train/validation splits and the noised, augmented batches the faceness regressor learns from."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np
import torch

from fitness_data.augment import AugmentConfig, augment
from fitness_data.noising import noised_batch


def split(images: np.ndarray, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded split of (N, H, W, 3) images into (train, validation); validation keeps at least one image."""
    order = np.random.default_rng(seed).permutation(len(images))
    n_val = max(1, int(round(len(images) * val_fraction))) if len(images) > 1 else 0
    return images[order[n_val:]], images[order[:n_val]]


def to_nchw(images: np.ndarray) -> torch.Tensor:
    """(N, H, W, 3) uint8 numpy -> contiguous (N, 3, H, W) uint8 tensor."""
    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).contiguous()


@dataclass
class LabelledImages:
    """Clean uint8 images (N, 3, H, W) and whether each is a face."""

    images: torch.Tensor
    is_face: torch.Tensor

    @classmethod
    def of(cls, faces: np.ndarray, negatives: np.ndarray) -> "LabelledImages":
        images = torch.cat([to_nchw(faces), to_nchw(negatives)])
        is_face = torch.cat([torch.ones(len(faces), dtype=torch.bool), torch.zeros(len(negatives), dtype=torch.bool)])
        return cls(images, is_face)

    def __len__(self) -> int:
        return len(self.images)


def training_batches(data: LabelledImages, batch_size: int, augmentation: AugmentConfig,
                     generator: torch.Generator) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """One epoch of shuffled (noised uint8 images, labels) batches; faces are augmented on the fly."""
    order = torch.randperm(len(data), generator=generator)
    for start in range(0, len(order), batch_size):
        index = order[start:start + batch_size]
        images, is_face = data.images[index], data.is_face[index]
        if augmentation.enabled and is_face.any():
            images[is_face] = augment(images[is_face], augmentation, generator)
        noised, labels, _ = noised_batch(images, is_face, generator)
        yield noised, labels


@dataclass
class ValidationSet:
    """A fixed noising of the validation images, drawn once from the seed, so epochs are comparable."""

    noised: torch.Tensor
    labels: torch.Tensor
    p: torch.Tensor
    data: LabelledImages

    @classmethod
    def of(cls, data: LabelledImages, seed: int) -> "ValidationSet":
        generator = torch.Generator().manual_seed(seed + 1)
        noised, labels, p = noised_batch(data.images, data.is_face, generator)
        return cls(noised, labels, p, data)
