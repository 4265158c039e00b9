"""The GA-mimicking noising recipe: replace a random share p of pixel values by uniform noise.

Labels: a face noised with share p gets ``1 - p``; a non-face gets ``NEGATIVE_CEILING * (1 - p)``, i.e. a value in
[0, 0.2] that is 0.2 for a clean non-face and falls to 0 for pure noise, where it meets the label of a fully noised
face. So real-shaped objects beat noise, and lose to faces at every noise level below p = 0.8.
"""

from __future__ import annotations

import torch

NEGATIVE_CEILING = 0.2


def noise_images(images: torch.Tensor, p: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Replace each value of image i, with probability p[i], by a uniform integer in 0..255.

    images: (B, C, H, W) uint8. p: (B,) float in [0, 1]. Returns a new uint8 tensor of the same shape.
    """
    shape = images.shape
    mask = torch.rand(shape, generator=generator, device=images.device) < p.view(-1, 1, 1, 1)
    noise = torch.randint(0, 256, shape, generator=generator, device=images.device, dtype=torch.uint8)
    return torch.where(mask, noise, images)


def faceness_labels(p: torch.Tensor, is_face: torch.Tensor) -> torch.Tensor:
    """Regression targets: 1 - p for faces, NEGATIVE_CEILING * (1 - p) for non-faces."""
    clean = 1.0 - p
    return torch.where(is_face, clean, NEGATIVE_CEILING * clean)


def noised_batch(images: torch.Tensor, is_face: torch.Tensor, generator: torch.Generator | None = None,
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Draw p ~ U(0, 1) per image, noise the batch and label it. Returns (noised uint8, labels, p)."""
    p = torch.rand(images.shape[0], generator=generator, device=images.device)
    return noise_images(images, p, generator), faceness_labels(p, is_face), p
