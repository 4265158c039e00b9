"""Face space: a linear generative model of face crops (principal components, "eigenfaces"), used as a realism prior.

An image's distance from face space (DFFS, Turk & Pentland 1991) is the root-mean-square of what its top principal
components of real faces cannot explain: small for natural images, large for pixel noise. The pixel GA subtracts it
from the faceness, so noise that fools the faceness CNN costs fitness. It costs one (n, D) x (D, k) product.
``ClippedFaceDistance`` measures it to the projection clipped to [0, 1] instead (the nearest face-space image that can
be shown), at the cost of a second product: a face whose projection runs past black or white there pays nothing for
its saturated pixels, where the plain distance charges it for them and so favours low contrast.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from evoface.core.checkpoints import load_checkpoint
from evoface.core.errors import InputError
from evoface.core.rundir import model_checkpoint
from evoface.kernels import onednn

KIND = "face-space"
DEFAULT_PRIOR = Path(__file__).parent / "pretrained" / "facespace64.pt"


@dataclass
class FaceSpaceConfig:
    size: int = 64          # image side in pixels
    components: int = 64    # principal components kept


class FaceSpace(nn.Module):
    """Mean face, k orthonormal components and real faces' standard deviation along each, of (size x size x 3, HWC
    order) images in [0, 1].

    ``forward``: (B, 3, H, W) images (uint8, or float in [0, 1]) -> (B,) distance from face space (RMS per value, in
    [0, 1] units).
    """

    def __init__(self, config: FaceSpaceConfig | None = None):
        super().__init__()
        self.config = config = config or FaceSpaceConfig()
        dims = config.size * config.size * 3
        self.register_buffer("mean", torch.zeros(dims))
        self.register_buffer("components", torch.zeros(dims, config.components))
        self.register_buffer("std", torch.zeros(config.components))  # real faces' spread along each component

    def flat(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) -> (B, H*W*3) float in [0, 1], HWC order (the genome's order)."""
        if images.dtype == torch.uint8:
            images = images.float().div_(255.0)
        return images.permute(0, 2, 3, 1).reshape(len(images), -1).float()

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        centred = self.flat(images) - self.mean
        explained = onednn.matmul(centred, self.components).pow(2).sum(1)
        residual = (centred.pow(2).sum(1) - explained).clamp_min(0.0)
        return residual.div(centred.shape[1]).sqrt()

    def coefficients(self, images: torch.Tensor) -> torch.Tensor:
        """(B, k) the images' coordinates along the components, in real faces' standard deviations."""
        return onednn.matmul(self.flat(images) - self.mean, self.components) / self.std.clamp_min(1e-8)

    def project(self, images: torch.Tensor) -> torch.Tensor:
        """The images' nearest points in face space, (B, H*W*3) float (HWC order; may run past [0, 1])."""
        return self._projection(self.flat(images))

    def clipped_distance(self, images: torch.Tensor) -> torch.Tensor:
        """(B,) RMS distance (per value, [0, 1] units) of the images from their projections clipped to [0, 1]."""
        flat = self.flat(images)
        return flat.sub_(self._projection(flat).clamp_(0.0, 1.0)).pow_(2).mean(1).sqrt_()

    def _projection(self, flat: torch.Tensor) -> torch.Tensor:
        """mean + V V^T (flat - mean) for (B, D) flat images."""
        coefficients = onednn.matmul(flat - self.mean, self.components)
        return onednn.matmul(coefficients, self.components.T).add_(self.mean)


class ClippedFaceDistance(nn.Module):
    """A face space's ``clipped_distance`` as the module a scorer calls (the realism prior of
    ``--prior-projection clipped``)."""

    def __init__(self, face_space: FaceSpace):
        super().__init__()
        self.face_space = face_space

    @property
    def config(self) -> FaceSpaceConfig:
        return self.face_space.config

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.face_space.clipped_distance(images)


def fit_face_space(images: torch.Tensor, config: FaceSpaceConfig, seed: int = 0) -> FaceSpace:
    """Principal components of (N, H, W, 3) uint8 face crops by a randomised SVD (torch.pca_lowrank)."""
    model = FaceSpace(config)
    data = images.reshape(len(images), -1).float().div_(255.0)
    model.mean.copy_(data.mean(0))
    torch.manual_seed(seed)
    _, singular, components = torch.pca_lowrank(data - model.mean, q=min(config.components + 16, len(data)),
                                                center=False, niter=4)
    model.components.copy_(components[:, :config.components])
    model.std.copy_(singular[:config.components] / max(len(data) - 1, 1) ** 0.5)
    return model.eval()


def load_face_space(path: str | os.PathLike | None = None) -> FaceSpace:
    """A face-space prior from a checkpoint or a ``train-prior`` run folder (None: the shipped one), in fp32."""
    path = model_checkpoint(path) if path is not None else DEFAULT_PRIOR
    ckpt = load_checkpoint(path, KIND)
    try:
        model = FaceSpace(FaceSpaceConfig(**ckpt["model_config"]))
        model.load_state_dict({k: v.float() for k, v in ckpt["state_dict"].items()})
    except (KeyError, TypeError, RuntimeError) as exc:
        raise InputError(f"{path}: face-space checkpoint does not match the model ({type(exc).__name__})") from None
    return model.eval()
