"""Convolutional VAE: 4x4 stride-2 conv encoder, mirrored transposed-conv decoder, Gaussian latent (150 by default)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class VaeConfig:
    size: int = 64
    latent: int = 150
    width: int = 32       # channels of the first encoder block; each later block doubles them

    @property
    def blocks(self) -> int:
        if self.size not in (32, 64, 128):
            raise ValueError(f"VAE size must be 32, 64 or 128, got {self.size}")
        return int(math.log2(self.size)) - 2  # down to a 4x4 map


class Vae(nn.Module):
    """images in [-1, 1] -> (reconstruction in [-1, 1], mu, logvar)."""

    def __init__(self, config: VaeConfig):
        super().__init__()
        self.config = config
        enc: list[nn.Module] = []
        channels = 3
        for i in range(config.blocks):
            out = config.width * 2**i
            enc += [nn.Conv2d(channels, out, 4, 2, 1, bias=False), nn.BatchNorm2d(out), nn.LeakyReLU(0.2, True)]
            channels = out
        self.encoder = nn.Sequential(*enc, nn.Flatten())
        self.top_channels = channels
        self.mu = nn.Linear(channels * 16, config.latent)
        self.logvar = nn.Linear(channels * 16, config.latent)
        self.expand = nn.Linear(config.latent, channels * 16)
        dec: list[nn.Module] = []
        for _ in range(config.blocks - 1):
            dec += [nn.ConvTranspose2d(channels, channels // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(channels // 2),
                    nn.ReLU(True)]
            channels //= 2
        dec += [nn.ConvTranspose2d(channels, 3, 4, 2, 1), nn.Tanh()]
        self.decoder = nn.Sequential(*dec)

    def encode(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.encoder(images)
        return self.mu(h), self.logvar(h)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.expand(z).view(-1, self.top_channels, 4, 4))

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mu, logvar = self.encode(images)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp() if self.training else mu
        return self.decode(z), mu, logvar


def vae_loss(reconstruction: torch.Tensor, images: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor,
             beta: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(total, reconstruction, KL), each summed over an image and averaged over the batch.

    Reconstruction is the squared error on [-1, 1] pixels; KL is that of N(mu, exp(logvar)) from N(0, I).
    """
    recon = (reconstruction - images).pow(2).flatten(1).sum(1).mean()
    kl = (-0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(1)).mean()
    return recon + beta * kl, recon, kl
