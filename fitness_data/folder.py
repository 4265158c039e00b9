"""Load any folder of images as one uint8 array, center-cropped and resized, with an on-disk cache."""

from __future__ import annotations

import hashlib
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from evoface.core.errors import InputError
from evoface.core.words import plural

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp"})
MIN_SIZE, MAX_SIZE = 32, 128
MIN_SOURCE_SIDE = 16  # smaller files (icons, 1x1 trackers) are skipped, not stretched into a "face"


@dataclass
class LoadedImages:
    """Images as an (N, size, size, 3) uint8 array, plus how many files were skipped."""

    images: np.ndarray
    skipped: int
    source: str


def check_size(size: int) -> int:
    if not MIN_SIZE <= size <= MAX_SIZE:
        raise InputError(f"--size must be between {MIN_SIZE} and {MAX_SIZE}, got {size}")
    return size


def default_cache_dir() -> Path:
    return Path(os.environ.get("EVOFACE_CACHE", Path.home() / ".cache" / "evoface"))


def resize_images(images: np.ndarray, size: int) -> np.ndarray:
    """(N, H, W, 3) uint8 images resized to size x size (bicubic); unchanged when already that size."""
    if images.shape[1:3] == (size, size):
        return images
    return np.stack([np.asarray(Image.fromarray(img).resize((size, size), Image.Resampling.BICUBIC))
                     for img in images])


def list_files(folder: Path) -> list[Path]:
    """Every regular file below ``folder``, sorted, hidden files excluded."""
    if not folder.exists():
        raise InputError(f"folder not found: {folder}")
    if not folder.is_dir():
        raise InputError(f"not a folder: {folder}")
    return sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))


def center_square(img: Image.Image, size: int) -> np.ndarray:
    """Center-crop a PIL image to a square and resize it to ``size`` x ``size`` (HWC uint8 RGB)."""
    img = img.convert("RGB")
    w, h = img.size
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    img = img.resize((size, size), Image.Resampling.BICUBIC, box=(left, top, left + side, top + side),
                     reducing_gap=2.0)
    return np.asarray(img, dtype=np.uint8)


def load_image(path: Path, size: int) -> np.ndarray:
    """Decode one image file and return its centered square at ``size`` (HWC uint8 RGB)."""
    with Image.open(path) as img:
        if min(img.size) < MIN_SOURCE_SIDE:
            raise ValueError(f"{path} is smaller than {MIN_SOURCE_SIDE}x{MIN_SOURCE_SIDE} px")
        img.draft("RGB", (size, size))  # JPEG: decode at a reduced scale, still >= size
        return center_square(img, size)


def _try_load(path: Path, size: int) -> np.ndarray | None:
    try:
        return load_image(path, size)
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        return None


def fingerprint(files: list[Path], size: int) -> str:
    """A key naming these files' paths, sizes and modification times, and the image size."""
    digest = hashlib.sha256(f"v2|{size}".encode())  # v2: images below MIN_SOURCE_SIDE are skipped
    for path in files:
        stat = path.stat()
        digest.update(f"|{path}|{stat.st_size}|{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:32]


def load_folder(folder: str | os.PathLike, size: int, limit: int | None = None,
                cache_dir: str | os.PathLike | None = None, seed: int = 0, workers: int | None = None,
                quiet: bool = False) -> LoadedImages:
    """Load every image below ``folder`` (recursively) at ``size`` x ``size``.

    ``limit`` keeps a seeded random subset of that many files. Files that are not images, or fail to decode, are
    skipped and counted, with one warning line on stderr. An empty result raises InputError. When ``cache_dir`` is
    given, the decoded array is cached there, keyed by the files' paths, sizes and modification times.
    """
    folder = Path(folder)
    check_size(size)
    files = list_files(folder)
    candidates = [p for p in files if p.suffix.lower() in IMAGE_EXTENSIONS]
    if limit is not None and limit < len(candidates):
        keep = np.sort(np.random.default_rng(seed).choice(len(candidates), size=limit, replace=False))
        candidates = [candidates[i] for i in keep]
        files = candidates
    cache_file = None
    if cache_dir is not None and candidates:
        cache_file = Path(cache_dir) / f"images-{fingerprint(candidates, size)}.npz"
        if cache_file.is_file():
            with np.load(cache_file) as cached:
                images, skipped = cached["images"], int(cached["skipped"]) + len(files) - len(candidates)
            return _finish(images, skipped, folder, quiet)
    with ThreadPoolExecutor(max_workers=workers or min(8, (os.cpu_count() or 1) * 2)) as pool:
        decoded = list(pool.map(lambda p: _try_load(p, size), candidates))
    good = [img for img in decoded if img is not None]
    images = np.stack(good) if good else np.zeros((0, size, size, 3), np.uint8)
    if cache_file is not None and len(good):
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache_file.with_name(cache_file.name + ".tmp.npz")
        np.savez(tmp, images=images, skipped=len(candidates) - len(good))
        os.replace(tmp, cache_file)
    return _finish(images, len(files) - len(good), folder, quiet)


def _finish(images: np.ndarray, skipped: int, folder: Path, quiet: bool) -> LoadedImages:
    if len(images) == 0:
        raise InputError(f"no readable images in {folder}")
    if skipped and not quiet:
        print(f"warning: {folder}: skipped {plural(skipped, 'file')} that are not readable images or are smaller "
              f"than {MIN_SOURCE_SIDE}x{MIN_SOURCE_SIDE} px", file=sys.stderr)
    return LoadedImages(images=images, skipped=skipped, source=str(folder))
