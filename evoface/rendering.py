"""Turn genes into images: a genome of G x G x 3 values is shown, and scored, at the fitness model's size."""

from __future__ import annotations

import math

import numpy as np
import torch
from torch.nn import functional as F


def genome_side(length: int) -> int:
    """Side G of a flattened G x G x 3 genome."""
    side = math.isqrt(length // 3)
    if side * side * 3 != length:
        raise ValueError(f"a genome of {length} genes is not a square RGB image")
    return side


def genes_to_tensor(genes: np.ndarray | torch.Tensor, image_size: int) -> torch.Tensor:
    """(n, G*G*3) uint8 genes (HWC order) -> (n, 3, S, S) float in [0, 1]; bilinear upsampling when G < S."""
    genes = torch.as_tensor(genes)
    side = genome_side(genes.shape[1])
    images = genes.view(-1, side, side, 3).permute(0, 3, 1, 2).float().div_(255.0)
    if side != image_size:
        images = F.interpolate(images, size=(image_size, image_size), mode="bilinear", align_corners=False)
    return images


def render(genes: np.ndarray, image_size: int) -> np.ndarray:
    """(n, G*G*3) uint8 genes -> (n, S, S, 3) uint8 images, as the fitness model sees them."""
    images = genes_to_tensor(genes, image_size)
    return images.mul(255.0).round_().clamp_(0, 255).byte().permute(0, 2, 3, 1).numpy()


def total_variation(images: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference between neighbouring pixels of (n, 3, H, W) images in [0, 1]: (n,).

    About 0.67 for uniform noise, 0.03-0.1 for natural 64 px face crops.
    """
    dx = (images[..., :, 1:] - images[..., :, :-1]).abs().mean(dim=(1, 2, 3))
    dy = (images[..., 1:, :] - images[..., :-1, :]).abs().mean(dim=(1, 2, 3))
    return dx + dy


def gaussian_blur(images: torch.Tensor, sigma: float) -> torch.Tensor:
    """Depthwise Gaussian blur of (n, C, H, W) images, reflect-padded, kernel radius 2 sigma (at least 1)."""
    radius = max(1, int(math.ceil(2 * sigma)))
    x = torch.arange(-radius, radius + 1, dtype=images.dtype, device=images.device)
    kernel = torch.exp(-0.5 * (x / sigma) ** 2)
    kernel = kernel / kernel.sum()
    channels = images.shape[1]
    padded = F.pad(images, (radius, radius, radius, radius), mode="reflect")
    out = F.conv2d(padded, kernel.view(1, 1, 1, -1).expand(channels, 1, 1, -1), groups=channels)
    return F.conv2d(out, kernel.view(1, 1, -1, 1).expand(channels, 1, -1, 1), groups=channels)
