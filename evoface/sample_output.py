"""Write sampled images as one grid image or as a folder of numbered PNGs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from evoface.core.errors import InputError
from evoface.core.plots import image_grid, save_png
from evoface.core.words import plural


GRID_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")


def is_grid_path(out: str | Path) -> bool:
    return Path(out).suffix.lower() in GRID_SUFFIXES


def check_out(out: str | Path) -> None:
    """InputError when ``out`` cannot take samples: a folder where a grid image goes, or a file where a folder goes."""
    out = Path(out)
    if is_grid_path(out) and out.is_dir():
        raise InputError(f"--out {out} is a folder: give a new image path for a grid, or a folder name without an "
                         f"image suffix")
    if not is_grid_path(out) and out.exists() and not out.is_dir():
        raise InputError(f"--out {out} is a file: give an image path ({', '.join(GRID_SUFFIXES)}) for a grid, or a "
                         f"folder")


def write_samples(images: np.ndarray, out: str | Path, requested: int) -> str:
    """An image path (.png, .jpg, ...) gets a grid; any other path becomes a folder of PNGs. Returns a one-line
    summary."""
    out = Path(out)
    check_out(out)
    note = f" (only {plural(len(images), 'distinct image')} available)" if len(images) < requested else ""
    try:
        if is_grid_path(out):
            save_png(image_grid(images, scale=2), out)
            return f"wrote a grid of {plural(len(images), 'image')} to {out}{note}"
        out.mkdir(parents=True, exist_ok=True)
        for i, image in enumerate(images):
            Image.fromarray(image).save(out / f"{i:05d}.png")
    except OSError as exc:
        raise InputError(f"cannot write {out}: {exc.strerror or exc}") from None
    return f"wrote {plural(len(images), 'image')} to {out}/{note}"
