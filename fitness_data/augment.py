"""Per-image random geometric augmentation of a whole batch in one warp (flip, resized crop, rotation, perspective)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass
class AugmentConfig:
    """Each augmentation is off when its strength is 0 (or False)."""

    flip: bool = True
    crop_scale: float = 0.85     # smallest kept area share of a random resized crop (1.0 = off)
    rotate_degrees: float = 8.0  # rotation drawn from U(-d, d)
    perspective: float = 0.06    # perspective coefficients drawn from U(-d, d)

    @property
    def enabled(self) -> bool:
        return self.flip or self.crop_scale < 1.0 or self.rotate_degrees > 0 or self.perspective > 0


def random_warps(n: int, config: AugmentConfig, generator: torch.Generator | None = None) -> torch.Tensor:
    """(n, 3, 3) projective maps from output to input coordinates (both normalised to [-1, 1])."""
    def uniform(low: float, high: float) -> torch.Tensor:
        return low + (high - low) * torch.rand(n, generator=generator)

    flip = torch.ones(n)
    if config.flip:
        flip = torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0)
    zoom = 1.0 / uniform(config.crop_scale, 1.0).sqrt() if config.crop_scale < 1.0 else torch.ones(n)
    slack = 1.0 - 1.0 / zoom  # how far the crop can move and stay inside the image
    tx, ty = uniform(-1, 1) * slack, uniform(-1, 1) * slack
    theta = uniform(-1, 1) * math.radians(config.rotate_degrees)
    px, py = (uniform(-1, 1) * config.perspective for _ in range(2))
    cos, sin = theta.cos() / zoom, theta.sin() / zoom
    maps = torch.zeros(n, 3, 3)
    maps[:, 0, 0], maps[:, 0, 1], maps[:, 0, 2] = cos * flip, -sin, tx
    maps[:, 1, 0], maps[:, 1, 1], maps[:, 1, 2] = sin * flip, cos, ty
    maps[:, 2, 0], maps[:, 2, 1], maps[:, 2, 2] = px, py, 1.0
    return maps


def warp(images: torch.Tensor, maps: torch.Tensor) -> torch.Tensor:
    """Resample (B, C, H, W) images through (B, 3, 3) projective maps; borders reflect. Keeps the dtype."""
    b, _, h, w = images.shape
    ys = torch.linspace(-1 + 1 / h, 1 - 1 / h, h)
    xs = torch.linspace(-1 + 1 / w, 1 - 1 / w, w)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    points = torch.stack([gx, gy, torch.ones_like(gx)], dim=-1).view(1, h * w, 3)
    mapped = points @ maps.to(points.dtype).transpose(1, 2)  # (B, HW, 3)
    grid = (mapped[..., :2] / mapped[..., 2:].clamp_min(1e-3)).view(b, h, w, 2)
    out = F.grid_sample(images.float(), grid.to(images.device), mode="bilinear", padding_mode="reflection",
                        align_corners=False)
    if images.dtype == torch.uint8:
        return out.round_().clamp_(0, 255).to(torch.uint8)
    return out


def augment(images: torch.Tensor, config: AugmentConfig, generator: torch.Generator | None = None) -> torch.Tensor:
    """Apply an independent random augmentation to every image of a (B, C, H, W) batch."""
    if not config.enabled or images.shape[0] == 0:
        return images
    return warp(images, random_warps(images.shape[0], config, generator))
