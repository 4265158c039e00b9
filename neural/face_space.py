"""Face space: a linear generative model of face crops (principal components, "eigenfaces"), used as a realism prior.

An image's distance from face space (DFFS, Turk & Pentland 1991) is the root-mean-square of what its top principal
components of real faces cannot explain: small for natural images, large for pixel noise. The pixel GA subtracts it
from the faceness, so noise that fools the faceness CNN costs fitness. It costs one (n, D) x (D, k) product.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numba
import numpy as np
import torch
from torch import nn

from evoface.core import onednn, uint8_products
from evoface.core.checkpoints import load_checkpoint
from evoface.core.errors import InputError
from evoface.core.uint8_products import Uint8Product
from evoface.core.wrapping import tensor_state

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
        if uint8_products.runs_on(images):
            genes = images.permute(0, 2, 3, 1).reshape(len(images), -1)  # a view of HWC genes
            product, mean_coefficients, mean = self._fast_terms()
            if product.fast(genes):
                coefficients = product(genes).div_(255.0).sub_(mean_coefficients)
                total = torch.from_numpy(_centred_square_sums(genes.numpy(), mean))
                residual = (total - coefficients.double().pow(2).sum(1)).clamp_min(0.0)
                return residual.div(genes.shape[1]).sqrt().float()
        return self.plain_forward(images)

    def plain_forward(self, images: torch.Tensor) -> torch.Tensor:
        """``forward`` in fp32 torch: its reference."""
        centred = self.flat(images) - self.mean
        explained = onednn.matmul(centred, self.components).pow(2).sum(1)
        residual = (centred.pow(2).sum(1) - explained).clamp_min(0.0)
        return residual.div(centred.shape[1]).sqrt()

    def uint8_product(self) -> Uint8Product:
        """``x @ components`` for uint8 x, made once for the components as they are now."""
        return self._fast_terms()[0]

    def _fast_terms(self) -> tuple[Uint8Product, torch.Tensor, np.ndarray]:
        """The uint8 product, the mean's (k,) coordinates and the float64 mean, made again when a buffer changes."""
        key = tuple(tensor_state(buffer) for buffer in (self.mean, self.components))
        if getattr(self, "_fast_key", None) != key:
            self._fast = (Uint8Product(self.components), (self.mean.double() @ self.components.double()).float(),
                          self.mean.detach().double().cpu().numpy())
            self._fast_key = key
        return self._fast

    def coefficients(self, images: torch.Tensor) -> torch.Tensor:
        """(B, k) the images' coordinates along the components, in real faces' standard deviations."""
        return onednn.matmul(self.flat(images) - self.mean, self.components) / self.std.clamp_min(1e-8)

    def project(self, images: torch.Tensor) -> torch.Tensor:
        """The images' nearest points in face space, (B, H*W*3) float in [0, 1] (HWC order)."""
        centred = self.flat(images) - self.mean
        return (centred @ self.components) @ self.components.T + self.mean


@numba.njit(cache=True, fastmath=True)
def _centred_square_sums(genes, mean):
    """(n,) sum over j of (genes[i, j] / 255 - mean[j])^2 for (n, D) uint8 genes and (D,) float64 mean."""
    sums = np.empty(genes.shape[0])
    for i in range(genes.shape[0]):
        total = 0.0
        for j in range(genes.shape[1]):
            value = np.float64(genes[i, j]) * (1 / 255) - mean[j]
            total += value * value
        sums[i] = total
    return sums


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
    path = Path(path) if path is not None else DEFAULT_PRIOR
    if path.is_dir():
        path = path / "checkpoints" / "best.pt"
    ckpt = load_checkpoint(path, KIND)
    try:
        model = FaceSpace(FaceSpaceConfig(**ckpt["model_config"]))
        model.load_state_dict({k: v.float() for k, v in ckpt["state_dict"].items()})
    except (KeyError, TypeError, RuntimeError) as exc:
        raise InputError(f"{path}: face-space checkpoint does not match the model ({type(exc).__name__})") from None
    return model.eval()
