"""Score a whole block of flattened images with the faceness CNN in one batched forward pass."""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from neural.faceness import FacenessNet


def fuse_for_inference(model: FacenessNet) -> FacenessNet:
    """An eval-mode copy with each BatchNorm folded into the convolution before it and the dropouts (no-ops in eval
    mode) removed: the same outputs from fewer module calls."""
    fused = copy.deepcopy(model).eval()
    layers = []
    for layer in fused.features:
        if isinstance(layer, nn.BatchNorm2d) and layers and isinstance(layers[-1], nn.Conv2d):
            layers[-1] = fuse_conv_bn_eval(layers[-1], layer)
        elif not isinstance(layer, nn.Dropout2d):
            layers.append(layer)
    fused.features = nn.Sequential(*layers)
    fused.head = nn.Sequential(*(layer for layer in fused.head if not isinstance(layer, nn.Dropout)))
    return fused


class BatchScorer:
    """Callable: (n, H*W*3) uint8 genes (HWC order) -> (n,) float64 faceness scores."""

    def __init__(self, model: FacenessNet, device: torch.device, batch_size: int = 1024):
        self.size = model.config.size
        self.device = device
        self.batch_size = batch_size
        self.model = fuse_for_inference(model).to(device)

    @property
    def genome_length(self) -> int:
        return self.size * self.size * 3

    @torch.inference_mode()
    def __call__(self, genes: np.ndarray) -> np.ndarray:
        images = torch.from_numpy(genes).view(-1, self.size, self.size, 3).permute(0, 3, 1, 2)
        scores = []
        for start in range(0, len(images), self.batch_size):
            batch = images[start:start + self.batch_size].to(self.device, non_blocking=True).contiguous()
            scores.append(self.model(batch).double().cpu())
        return torch.cat(scores).numpy()
