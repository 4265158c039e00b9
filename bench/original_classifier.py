"""The original study's faceness classifier, rebuilt from its description, for side-by-side benchmarks only.

conv 5x5 16, pool, conv 5x5 32, pool, conv 3x3 64, pool, conv 3x3 128, pool (valid convolutions, each with BatchNorm,
Dropout2d 0.1, LeakyReLU 0.2), then FC 100-50-1 and a sigmoid: about 96 MFLOP per 100x100 image.
"""

from __future__ import annotations

import torch
from torch import nn


class OriginalClassifier(nn.Module):
    def __init__(self, size: int = 100):
        super().__init__()
        layers: list[nn.Module] = []
        channels, side = 3, size
        for out, kernel in ((16, 5), (32, 5), (64, 3), (128, 3)):
            layers += [nn.Conv2d(channels, out, kernel), nn.BatchNorm2d(out), nn.Dropout2d(0.1),
                       nn.LeakyReLU(0.2), nn.MaxPool2d(2)]
            channels, side = out, (side - kernel + 1) // 2
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(channels * side * side, 100), nn.LeakyReLU(0.2),
                                  nn.Linear(100, 50), nn.LeakyReLU(0.2), nn.Linear(50, 1))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = images.float() / 255.0 if images.dtype == torch.uint8 else images
        return torch.sigmoid(self.head(self.features(x))).squeeze(1)
