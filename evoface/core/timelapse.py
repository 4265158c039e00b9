"""Assemble the best-image snapshots of a run into an animated GIF."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

MAX_FRAMES = 120


def write_timelapse(frames: list[Path], path: Path, seconds: float = 8.0) -> Path | None:
    """Write at most MAX_FRAMES evenly spaced frames (always the last) as a looping GIF; None when no frames."""
    if not frames:
        return None
    picks = np.unique(np.linspace(0, len(frames) - 1, min(len(frames), MAX_FRAMES)).round().astype(int))
    images = [Image.open(frames[i]).convert("RGB") for i in picks]
    duration = max(40, int(seconds * 1000 / len(images)))
    images[0].save(path, save_all=True, append_images=images[1:], duration=duration, loop=0)
    return path
