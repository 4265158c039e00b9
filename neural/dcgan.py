"""DCGAN (Radford et al. 2015) generator and discriminator for 32, 64 or 128 px images."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class DcganConfig:
    size: int = 64        # 32, 64 or 128: 64 is the paper's network, 128 adds a block, 32 drops one
    nz: int = 100         # latent size
    ngf: int = 64         # generator feature maps of the last hidden block
    ndf: int = 64         # discriminator feature maps of the first block
    d_dropout: float = 0.0  # dropout after each discriminator block

    @property
    def upsamplings(self) -> int:
        if self.size not in (32, 64, 128):
            raise ValueError(f"DCGAN size must be 32, 64 or 128, got {self.size}")
        return int(math.log2(self.size)) - 2


def init_weights(module: nn.Module) -> None:
    """N(0, 0.02) for convolutions, N(1, 0.02) and zero bias for BatchNorm, as in the paper."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(module.weight, 0.0, 0.02)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


class Generator(nn.Module):
    """z (B, nz) -> images (B, 3, size, size) in [-1, 1]: transposed convs with BatchNorm and ReLU, tanh output."""

    def __init__(self, config: DcganConfig):
        super().__init__()
        self.config = config
        n = config.upsamplings
        channels = config.ngf * 2 ** (n - 1)
        layers: list[nn.Module] = [nn.ConvTranspose2d(config.nz, channels, 4, 1, 0, bias=False),
                                   nn.BatchNorm2d(channels), nn.ReLU(True)]
        for _ in range(n - 1):
            layers += [nn.ConvTranspose2d(channels, channels // 2, 4, 2, 1, bias=False),
                       nn.BatchNorm2d(channels // 2), nn.ReLU(True)]
            channels //= 2
        layers += [nn.ConvTranspose2d(channels, 3, 4, 2, 1, bias=False), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        self.apply(init_weights)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z.view(z.shape[0], -1, 1, 1))


class Discriminator(nn.Module):
    """images (B, 3, size, size) in [-1, 1] -> logits (B,): strided convs, BatchNorm (not on the first block),
    LeakyReLU 0.2."""

    def __init__(self, config: DcganConfig):
        super().__init__()
        self.config = config
        channels = config.ndf
        layers: list[nn.Module] = [nn.Conv2d(3, channels, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True)]
        if config.d_dropout:
            layers.append(nn.Dropout(config.d_dropout))
        for _ in range(config.upsamplings - 1):
            layers += [nn.Conv2d(channels, channels * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(channels * 2),
                       nn.LeakyReLU(0.2, True)]
            if config.d_dropout:
                layers.append(nn.Dropout(config.d_dropout))
            channels *= 2
        layers.append(nn.Conv2d(channels, 1, 4, 1, 0, bias=False))
        self.net = nn.Sequential(*layers)
        self.apply(init_weights)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images).view(-1)
