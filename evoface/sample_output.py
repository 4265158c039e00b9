"""Write sampled images as one grid PNG or as a folder of numbered PNGs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from evoface.core.errors import InputError
from evoface.core.plots import image_grid, save_png


def write_samples(images: np.ndarray, out: str | Path, requested: int) -> str:
    """A path ending in .png gets a grid; any other path becomes a folder of PNGs. Returns a one-line summary."""
    out = Path(out)
    note = f" (only {len(images)} distinct images available)" if len(images) < requested else ""
    try:
        if out.suffix.lower() == ".png":
            save_png(image_grid(images, scale=2), out)
            return f"wrote a grid of {len(images)} images to {out}{note}"
        out.mkdir(parents=True, exist_ok=True)
        for i, image in enumerate(images):
            Image.fromarray(image).save(out / f"{i:05d}.png")
    except OSError as exc:
        raise InputError(f"cannot write {out}: {exc.strerror or exc}") from None
    return f"wrote {len(images)} images to {out}/{note}"
