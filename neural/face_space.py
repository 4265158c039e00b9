"""Face space: a linear generative model of face crops (principal components, "eigenfaces"), used as a realism prior.

An image's distance from face space (DFFS, Turk & Pentland 1991) is the root-mean-square of what its top principal
components of real faces cannot explain: small for natural images, large for pixel noise. The pixel GA subtracts it
from the faceness, so noise that fools the faceness CNN costs fitness. It costs one (n, D) x (D, k) product.
``FaceRealism`` is the prior as evolve's fitness subtracts it. It can measure the distance to the projection clipped
to [0, 1] instead (the nearest face-space image that can be shown), at the cost of a second product: a face whose
projection runs past black or white there pays nothing for its saturated pixels, where the plain distance charges it
for them and so favours low contrast. Where the face space carries a mixture (``neural.face_mixture``), it can also
charge for coordinates that combine as no real face's do.
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
from neural.face_mixture import FaceMixture, fit_face_mixture

KIND = "face-space"
DEFAULT_PRIOR = Path(__file__).parent / "pretrained" / "facespace64.pt"


@dataclass
class FaceSpaceConfig:
    size: int = 64          # image side in pixels
    components: int = 64    # principal components kept
    mixture: int = 0        # Gaussians of the mixture over the coordinates (0: none)


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
        self.mixture = FaceMixture(config.mixture, config.components) if config.mixture else None

    def flat(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) -> (B, H*W*3) float in [0, 1], HWC order (the genome's order)."""
        if images.dtype == torch.uint8:
            images = images.float().div_(255.0)
        return images.permute(0, 2, 3, 1).reshape(len(images), -1).float()

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        centred = self.flat(images) - self.mean
        return self.linear_distance(centred, onednn.matmul(centred, self.components))

    def coefficients(self, images: torch.Tensor) -> torch.Tensor:
        """(B, k) the images' coordinates along the components, in real faces' standard deviations."""
        return self.scaled(onednn.matmul(self.flat(images) - self.mean, self.components))

    def scaled(self, coefficients: torch.Tensor) -> torch.Tensor:
        """Coefficients along the components in real faces' standard deviations."""
        return coefficients / self.std.clamp_min(1e-8)

    def project(self, images: torch.Tensor) -> torch.Tensor:
        """The images' nearest points in face space, (B, H*W*3) float (HWC order; may run past [0, 1])."""
        return self._projection(self.flat(images))

    def clipped_distance(self, images: torch.Tensor) -> torch.Tensor:
        """(B,) RMS distance (per value, [0, 1] units) of the images from their projections clipped to [0, 1]."""
        flat = self.flat(images)
        return self.clipped_distance_of(flat, onednn.matmul(flat - self.mean, self.components))

    def linear_distance(self, centred: torch.Tensor, coefficients: torch.Tensor) -> torch.Tensor:
        """(B,) ``forward``'s distance of (B, D) centred flat images with their (B, k) coefficients along the
        components (unscaled): the RMS of what the components leave unexplained."""
        residual = (centred.pow(2).sum(1) - coefficients.pow(2).sum(1)).clamp_min(0.0)
        return residual.div(centred.shape[1]).sqrt()

    def clipped_distance_of(self, flat: torch.Tensor, coefficients: torch.Tensor) -> torch.Tensor:
        """(B,) ``clipped_distance`` of (B, D) flat images with their (B, k) coefficients (unscaled)."""
        return (flat - self._reconstruction(coefficients).clamp_(0.0, 1.0)).pow_(2).mean(1).sqrt_()

    def _projection(self, flat: torch.Tensor) -> torch.Tensor:
        """mean + V V^T (flat - mean) for (B, D) flat images."""
        return self._reconstruction(onednn.matmul(flat - self.mean, self.components))

    def _reconstruction(self, coefficients: torch.Tensor) -> torch.Tensor:
        """mean + V c for (B, k) unscaled coefficients c."""
        return onednn.matmul(coefficients, self.components.T).add_(self.mean)


class FaceRealism(nn.Module):
    """The realism prior that evolve's fitness subtracts: ``distance_weight`` x the distance from face space, to the
    projection clipped to [0, 1] (``clipped``) or the plain one, plus ``typicality_weight`` x the mixture's
    atypicality of the coordinates (nats above real faces' median NLL; it needs a face space with a mixture)."""

    def __init__(self, face_space: FaceSpace, clipped: bool = True, distance_weight: float = 1.0,
                 typicality_weight: float = 0.0):
        super().__init__()
        if typicality_weight and face_space.mixture is None:
            raise InputError("the face space has no mixture over its coordinates to measure typicality: fit one with "
                             "train-prior --mixture, or pass --typicality-weight 0")
        self.face_space = face_space
        self.clipped = clipped
        self.distance_weight = distance_weight
        self.typicality_weight = typicality_weight

    @property
    def config(self) -> FaceSpaceConfig:
        return self.face_space.config

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """(B,) the weighted penalty of (B, 3, H, W) images: one product for the coefficients, which both terms use."""
        space = self.face_space
        flat = space.flat(images)
        centred = flat - space.mean
        coefficients = onednn.matmul(centred, space.components)
        distance = (space.clipped_distance_of(flat, coefficients) if self.clipped
                    else space.linear_distance(centred, coefficients))
        penalty = self.distance_weight * distance
        if self.typicality_weight:
            penalty = penalty + self.typicality_weight * space.mixture.atypicality(space.scaled(coefficients))
        return penalty


def fit_face_space(images: torch.Tensor, config: FaceSpaceConfig, seed: int = 0,
                   held_out: torch.Tensor | None = None) -> FaceSpace:
    """Principal components of (N, H, W, 3) uint8 face crops by a randomised SVD (torch.pca_lowrank), and where
    ``config.mixture`` asks, the mixture over their coordinates (its typical NLL from ``held_out`` faces, if any)."""
    model = FaceSpace(config)
    data = images.reshape(len(images), -1).float().div_(255.0)
    model.mean.copy_(data.mean(0))
    torch.manual_seed(seed)
    centred = data.sub_(model.mean)
    _, singular, components = torch.pca_lowrank(centred, q=min(config.components + 16, len(data)), center=False,
                                                niter=4)
    model.components.copy_(components[:, :config.components])
    model.std.copy_(singular[:config.components] / max(len(data) - 1, 1) ** 0.5)
    if config.mixture:
        with torch.inference_mode():
            fitted = model.scaled(onednn.matmul(centred, model.components)).numpy()
            held = None if held_out is None else model.coefficients(held_out.permute(0, 3, 1, 2)).numpy()
        model.mixture.load_state_dict(fit_face_mixture(fitted, config.mixture, held, seed).state_dict())
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
