"""Resolve a data source: a folder of images, or ``torchvision:cifar10`` / ``torchvision:celeba``.

torchvision's datasets are read from ``root`` and downloaded only when the user passes ``download=True``.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from evoface.core.errors import InputError
from fitness_data.folder import LoadedImages, center_square, check_size, default_cache_dir, load_folder

TORCHVISION_PREFIX = "torchvision:"
TORCHVISION_SETS = ("cifar10", "celeba")


def load_torchvision(name: str, root: str | os.PathLike, size: int, limit: int | None = None,
                     download: bool = False, seed: int = 0) -> LoadedImages:
    """Load torchvision's CIFAR10 (test split) or CelebA (aligned, all splits) into a uint8 array."""
    import torchvision

    if name not in TORCHVISION_SETS:
        raise InputError(f"unknown torchvision dataset {name!r}: choose from {', '.join(TORCHVISION_SETS)}")
    try:
        if name == "cifar10":
            dataset = torchvision.datasets.CIFAR10(root, train=False, download=download)
        else:
            dataset = torchvision.datasets.CelebA(root, split="all", download=download)
    except Exception as exc:  # torchvision raises RuntimeError for a missing set, network errors otherwise
        hint = "" if download else " (pass --download to fetch it)"
        raise InputError(f"cannot load torchvision {name} from {root}: {str(exc).splitlines()[0]}{hint}") from None
    order = np.arange(len(dataset))
    if limit is not None and limit < len(order):
        order = np.sort(np.random.default_rng(seed).choice(len(order), size=limit, replace=False))
    images = [center_square(dataset[int(index)][0], size) for index in order]
    return LoadedImages(images=np.stack(images), skipped=0, source=f"{TORCHVISION_PREFIX}{name}")


def load_source(spec: str, size: int, limit: int | None = None, cache: bool = True, download: bool = False,
                torchvision_root: str | os.PathLike = "data", seed: int = 0) -> LoadedImages:
    """Load images from a folder path or a ``torchvision:NAME`` spec at ``size`` x ``size``."""
    check_size(size)
    if spec.startswith(TORCHVISION_PREFIX):
        return load_torchvision(spec[len(TORCHVISION_PREFIX):], torchvision_root, size, limit, download, seed)
    return load_folder(Path(spec), size, limit=limit, cache_dir=default_cache_dir() if cache else None, seed=seed)


def load_sources(specs: list[str] | tuple[str, ...], size: int, **kwargs) -> np.ndarray:
    """Load and concatenate several sources into one (N, size, size, 3) uint8 array."""
    return np.concatenate([load_source(spec, size, **kwargs).images for spec in specs])


def oversample(extra: np.ndarray, reference_count: int, share: float = 0.1) -> np.ndarray:
    """Repeat ``extra`` images so they are at least ``share`` of ``reference_count`` (few GA images among many)."""
    if len(extra) == 0:
        raise InputError("the refinement runs hold no images")
    repeats = max(1, math.ceil(share * reference_count / len(extra)))
    return np.concatenate([extra] * repeats)
