"""The target face of ``evolve --target IMAGE``: read once at the model's size and kept in the run folder, so that a
resumed run evolves towards the same face even when the file has moved or changed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from evoface.core.errors import InputError
from evoface.core.plots import save_png
from fitness_data.folder import center_square

TARGET_FILE = "target.png"


def read_target(path: str | Path, size: int) -> np.ndarray:
    """The image at ``path``, centre-cropped to a square and resized to ``size`` (HWC uint8); InputError if it is not
    an image, or is smaller than ``size`` on its shorter side (upscaled, it would hold no face)."""
    try:
        with Image.open(path) as image:
            if min(image.size) < size:
                width, height = image.size
                raise InputError(f"--target {path} is {width}x{height} px, smaller than the {size}x{size} px the "
                                 f"fitness model scores: give an image at least {size} px on its shorter side")
            return center_square(image, size)
    except (OSError, UnidentifiedImageError, Image.DecompressionBombError) as exc:
        raise InputError(f"--target {path}: not a readable image ({type(exc).__name__})") from None


def run_target(run_path: Path, source: str, size: int, resume: bool) -> np.ndarray:
    """The run's target: its stored copy when resuming, else ``source`` read at ``size``."""
    stored = run_path / TARGET_FILE
    return read_target(stored if resume and stored.is_file() else source, size)


def keep_target(run_path: Path, target: np.ndarray) -> None:
    save_png(target, run_path / TARGET_FILE)


def as_chw(image: np.ndarray) -> torch.Tensor:
    """(H, W, 3) uint8 -> (3, H, W) uint8 tensor."""
    return torch.from_numpy(np.array(image)).permute(2, 0, 1).contiguous()
