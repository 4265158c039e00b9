"""FID and KID from pytorch-fid's Inception pool3 features, with offline weights and cached real-set statistics.

pytorch-fid loads its weights from torch.hub's checkpoints folder under the name ``FID_WEIGHTS_NAME``; for a
machine without internet, ``inception_model(weights=PATH)`` hands pytorch-fid that file instead (read with
``weights_only=True``; no links, no temporary folder).
"""

from __future__ import annotations

import hashlib
import os
from contextlib import nullcontext
from pathlib import Path
from unittest import mock

import numpy as np
import torch

from evoface.kernels.allocator import large_blocks_on_heap
from evoface.core.errors import InputError
from evoface.core.interrupts import interruptible, stop_point

FID_WEIGHTS_NAME = "pt_inception-2015-12-05-6726825d.pth"
FEATURE_DIM = 2048


def _hub_checkpoint() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints" / FID_WEIGHTS_NAME


def inception_model(weights: str | os.PathLike | None = None, allow_download: bool = False,
                    device: torch.device | str = "cpu") -> torch.nn.Module:
    """pytorch-fid's FID Inception (pool3, 2048-d) in eval mode.

    ``weights``: a local copy of the FID Inception state dict. Without it the file must already be in torch.hub's
    checkpoints folder, or ``allow_download`` must be set; otherwise InputError.
    """
    from pytorch_fid import inception

    if weights is not None:
        weights = Path(weights).resolve()
        if not weights.is_file():
            raise InputError(f"Inception weights not found: {weights}")
    elif not _hub_checkpoint().is_file() and not allow_download:
        raise InputError(f"no FID Inception weights: pass --inception-weights PATH, or --download to fetch "
                         f"{FID_WEIGHTS_NAME} into {_hub_checkpoint().parent}")

    def local_weights(url: str, *args, **kwargs) -> dict:  # pytorch-fid asks for its URL: give the local file
        return torch.load(weights, map_location="cpu", weights_only=True)

    try:
        with mock.patch.object(inception, "load_state_dict_from_url", local_weights) if weights else nullcontext():
            model = inception.InceptionV3([inception.InceptionV3.BLOCK_INDEX_BY_DIM[FEATURE_DIM]])
    except Exception:  # a garbage file raises unpickling errors of many types
        source = weights or _hub_checkpoint()
        raise InputError(f"cannot load the FID Inception weights: {source} is not the FID Inception state dict "
                         f"({FID_WEIGHTS_NAME})") from None
    return model.eval().to(device)


# Images per forward pass. On a CPU the largest activation of 5 images at 299 px (64 x 147 x 147 floats each) takes
# 27.7 MB, under glibc's largest mmap threshold (32 MiB once it has risen), so each batch reuses heap blocks, where
# batches of 100 had their 553 MB activations mmap'd and page-faulted afresh; the features are the same bit for bit
# (``bench/fid_speed.py --against`` times two checkouts).
CPU_BATCH, GPU_BATCH = 5, 100


@torch.inference_mode()
def inception_features(model: torch.nn.Module, images: np.ndarray, batch_size: int | None = None) -> np.ndarray:
    """Pool3 features of (N, H, W, 3) uint8 images: (N, 2048) float64, ``batch_size`` images a pass (None: the
    device's default), each pass a ``stop_point``. Resizing to 299 happens inside the model."""
    device = next(model.parameters()).device
    batch_size = batch_size or (CPU_BATCH if device.type == "cpu" else GPU_BATCH)
    out = np.empty((len(images), FEATURE_DIM))
    with large_blocks_on_heap(device.type == "cpu"):
        for start in range(0, len(images), batch_size):
            batch = torch.from_numpy(images[start:start + batch_size]).to(device).permute(0, 3, 1, 2).float() / 255.0
            out[start:start + len(batch)] = model(batch)[0].squeeze(-1).squeeze(-1).double().cpu().numpy()
            stop_point()
    return out


def feature_statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean (2048,) and covariance (2048, 2048) of (N, 2048) features."""
    return features.mean(axis=0), np.cov(features, rowvar=False)


def frechet_distance(features_a: np.ndarray, features_b: np.ndarray) -> float:
    """FID between two feature sets: the Frechet distance of their Gaussian fits, as pytorch-fid defines it,
    |mu_a - mu_b|^2 + tr(S_a) + tr(S_b) - 2 tr sqrtm(S_a S_b). It runs ``interruptible``: its eigen-decompositions
    take seconds (10 s in all for 2048 features on two busy cores) and let a stop request through."""
    return interruptible(_frechet_distance, features_a, features_b)


def _frechet_distance(features_a: np.ndarray, features_b: np.ndarray) -> float:
    (mean_a, cov_a), (mean_b, cov_b) = feature_statistics(features_a), feature_statistics(features_b)
    diff = mean_a - mean_b
    return float(diff @ diff + np.trace(cov_a) + np.trace(cov_b) - 2 * trace_sqrt_product(cov_a, cov_b))


def trace_sqrt_product(cov_a: np.ndarray, cov_b: np.ndarray) -> float:
    """tr sqrtm(S_a S_b) of two covariance matrices: the sum of the square roots of the eigenvalues of
    sqrt(S_a) S_b sqrt(S_a), which has those of S_a S_b. pytorch-fid takes scipy's sqrtm of S_a S_b, whose Schur
    decomposition holds the GIL for its whole run (so nothing, not even a stop request, runs meanwhile); numpy's
    symmetric solvers release it. The two were 2e-7 apart (relative) on CelebA and CIFAR-10 features."""
    values, vectors = np.linalg.eigh(cov_a)
    root_a = (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T
    inner = root_a @ cov_b @ root_a
    return float(np.sqrt(np.clip(np.linalg.eigvalsh((inner + inner.T) / 2), 0, None)).sum())


def kernel_inception_distance(features_a: np.ndarray, features_b: np.ndarray, subsets: int = 50,
                              subset_size: int = 500, seed: int = 0) -> tuple[float, float]:
    """KID (Binkowski et al. 2018): the unbiased MMD^2 with the cubic polynomial kernel k(x, y) = (x.y / d + 1)^3,
    averaged over random subsets. Returns (mean, standard deviation over subsets; 0 when one subset is all)."""
    rng = np.random.default_rng(seed)
    m = min(subset_size, len(features_a), len(features_b))
    if m == len(features_a) == len(features_b):
        subsets = 1  # every subset would be the whole of both sets: one is enough
    d = features_a.shape[1]
    values = []
    for _ in range(subsets):
        x = features_a[rng.choice(len(features_a), m, replace=False)]
        y = features_b[rng.choice(len(features_b), m, replace=False)]
        kxx, kyy, kxy = ((x @ x.T) / d + 1) ** 3, ((y @ y.T) / d + 1) ** 3, ((x @ y.T) / d + 1) ** 3
        within = (kxx.sum() - np.trace(kxx) + kyy.sum() - np.trace(kyy)) / (m * (m - 1))
        values.append(within - 2 * kxy.mean())
        stop_point()
    return float(np.mean(values)), float(np.std(values))


def cached_features(model: torch.nn.Module, images: np.ndarray, cache_dir: Path | None, key: str) -> np.ndarray:
    """Features of a real set, cached under ``cache_dir`` by ``key`` (naming the folder content, size and n)."""
    if cache_dir is None:
        return inception_features(model, images)
    path = Path(cache_dir) / f"fid-{hashlib.sha256(key.encode()).hexdigest()[:32]}.npy"
    if path.is_file():
        return np.load(path)
    features = inception_features(model, images)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npy")
    np.save(tmp, features)
    os.replace(tmp, path)
    return features
