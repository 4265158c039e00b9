"""Likeness to one target face, for evolving towards a given face (``evolve --target IMAGE``).

Each space maps an image to a vector in which faces differ the way people see them differ, and the distance is measured
there, so the fitness can pull a run towards the target without rewarding a pixel-for-pixel copy of it:

- ``face-space``: the RMS difference of the images' and the target's face-space coordinates, each in real faces'
  standard deviations along its component (identity, pose, lighting and hair as eigenfaces hold them; two random
  real faces are about 1.4 apart). One (B, D) x (D, k) product.
- ``faceness``: the cosine distance (0 to 2) of the faceness net's last convolutional feature maps. It costs a second
  pass through the net's convolutions.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from neural.face_space import FaceSpace
from neural.faceness import FacenessNet

TARGET_SPACES = ("face-space", "faceness")


class FaceSpaceLikeness(nn.Module):
    """(B, 3, H, W) images -> (B,) RMS distance from the target in face-space coordinates."""

    def __init__(self, face_space: FaceSpace, target: torch.Tensor):
        super().__init__()
        self.face_space = face_space
        self.register_buffer("target", face_space.coefficients(target[None])[0])

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return (self.face_space.coefficients(images) - self.target).pow(2).mean(1).sqrt()


class FacenessFeatureLikeness(nn.Module):
    """(B, 3, H, W) images -> (B,) cosine distance from the target in the faceness net's feature maps."""

    def __init__(self, faceness: FacenessNet, target: torch.Tensor):
        super().__init__()
        self.faceness = faceness
        self.register_buffer("target", self.features(target[None])[0])

    def features(self, images: torch.Tensor) -> torch.Tensor:
        return self.faceness.feature_maps(images).flatten(1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return 1.0 - F.cosine_similarity(self.features(images), self.target[None], dim=1)


@torch.inference_mode()
def target_likeness(space: str, target: torch.Tensor, face_space: FaceSpace | None = None,
                    faceness: FacenessNet | None = None) -> nn.Module:
    """The distance-from-target module of ``space`` for a (3, H, W) uint8 target image."""
    if space == "face-space":
        return FaceSpaceLikeness(face_space, target).eval()
    if space == "faceness":
        return FacenessFeatureLikeness(faceness, target).eval()
    raise ValueError(f"unknown target space {space!r}; expected one of {', '.join(TARGET_SPACES)}")
