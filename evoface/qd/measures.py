"""Measures of a quality-diversity map: what each axis of ``evoface illuminate``'s archive means.

A measure maps a batch of genomes to one number each, from the images the fitness model sees (and, for ``latent:I``,
the decoder's codes). Built in, named on the command line:

- ``face-space:I``: the image's coordinate along the I-th principal component of real faces in the prior's face space
  (``neural.face_space``), in real faces' standard deviations (``FACE_SPACE_AXES`` says what the first ones carry in
  the shipped face space);
- ``luminance``: mean Rec. 709 luma of the face region (the central half of the crop), 0 black to 1 white;
- ``hue``: hue of the face region's mean colour, in degrees from red (0) towards yellow (+60), negative towards
  magenta;
- ``latent:I``: the I-th number of the decoder's code (latent genome only).

Ranges default to real faces' 1st-99th percentiles (``real_faces.json``, written by ``bench/qd_ranges.py``); from
Python any callable can be a ``Measure`` with the range it gives.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from statistics import NormalDist

import numpy as np
import torch

from evoface.core.errors import InputError

REAL_FACES = Path(__file__).with_name("real_faces.json")
NORMAL_99 = NormalDist().inv_cdf(0.99)  # N(0, 1)'s 99th percentile: the range of a latent coordinate is +-this
MeasureFunction = Callable[[np.ndarray, np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Measure:
    """One axis: ``function(images, genes)`` -> (n,) float64, from (n, S, S, 3) uint8 images and their (n, L) genes;
    ``low``/``high`` the range the archive spans (values outside fall into the edge cells)."""

    name: str
    function: MeasureFunction
    low: float
    high: float

    def __call__(self, images: np.ndarray, genes: np.ndarray) -> np.ndarray:
        values = np.asarray(self.function(images, genes), dtype=np.float64)
        if values.shape != (len(images),):
            raise InputError(f"measure {self.name} gave shape {values.shape} for {len(images)} images; it must give "
                             f"one number per image")
        if not np.isfinite(values).all():
            raise InputError(f"measure {self.name} gave a value that is not a finite number")
        return values

    def with_range(self, low: float, high: float) -> "Measure":
        return Measure(self.name, self.function, low, high)


def face_region(images: np.ndarray) -> np.ndarray:
    """The central half of (n, S, S, 3) crops, in both directions: where aligned face crops hold the face."""
    side = images.shape[1]
    return images[:, side // 4: side - side // 4, side // 4: side - side // 4]


def luminance(images: np.ndarray, genes: np.ndarray | None = None) -> np.ndarray:
    """(n,) mean Rec. 709 luma of the face region, 0 (black) to 1 (white)."""
    mean_colour = face_region(images).reshape(len(images), -1, 3).mean(1) / 255
    return mean_colour @ np.array([0.2126, 0.7152, 0.0722])


def hue(images: np.ndarray, genes: np.ndarray | None = None) -> np.ndarray:
    """(n,) HSV hue of the face region's mean colour in degrees, in (-180, 180] (0 red, +60 yellow, -60 magenta); a
    grey mean colour has hue 0."""
    rgb = face_region(images).reshape(len(images), -1, 3).mean(1) / 255
    r, g, b = rgb.T
    high, low = rgb.max(1), rgb.min(1)
    spread = np.where(high > low, high - low, 1.0)
    sector = np.select([high == r, high == g], [(g - b) / spread, 2 + (b - r) / spread], 4 + (r - g) / spread)
    degrees = np.where(high > low, 60 * sector, 0.0)
    return np.where(degrees > 180, degrees - 360, degrees)


def face_space_measure(face_space, index: int) -> MeasureFunction:
    """The images' coordinate along component ``index`` of ``face_space``, in real faces' stds."""
    def coordinate(images: np.ndarray, genes: np.ndarray | None = None) -> np.ndarray:
        with torch.no_grad():
            chw = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2)
            return face_space.coefficients(chw)[:, index].double().numpy()
    return coordinate


def latent_measure(index: int) -> MeasureFunction:
    def coordinate(images: np.ndarray, genes: np.ndarray) -> np.ndarray:
        return np.asarray(genes[:, index], dtype=np.float64)
    return coordinate


@lru_cache(maxsize=1)
def real_face_ranges() -> dict[str, list[float]]:
    """Real faces' 1st-99th percentile of each built-in measure (the shipped face space's components included)."""
    return json.loads(REAL_FACES.read_text())["ranges"]


@dataclass(frozen=True)
class MeasureContext:
    """What built-in measures need: the genome, its image side, the face space (None: not loaded), and whether it
    is the shipped one (whose real-face ranges are tabled), the latent code's length."""

    genome: str
    image_size: int
    face_space: object | None
    shipped_face_space: bool
    latent_length: int | None


def built_in(name: str, context: MeasureContext) -> Measure:
    """The built-in measure called ``name``, with real faces' range; InputError for an unknown one or one that does
    not fit the genome."""
    tabled = real_face_ranges()
    if name in ("luminance", "hue"):
        return Measure(name, luminance if name == "luminance" else hue, *tabled[name])
    match = re.fullmatch(r"(face-space|latent):(\d+)", name)
    if not match:
        raise InputError(f"unknown measure {name!r}: use face-space:I, luminance, hue or latent:I")
    kind, index = match.group(1), int(match.group(2))
    if kind == "latent":
        if context.genome != "latent":
            raise InputError(f"measure {name} is a number of a decoder's code: it needs --genome latent")
        if index >= context.latent_length:
            raise InputError(f"measure {name}: the decoder's codes have {context.latent_length} numbers (0 to "
                             f"{context.latent_length - 1})")
        return Measure(name, latent_measure(index), -NORMAL_99, NORMAL_99)
    space = context.face_space
    components = space.components.shape[1]
    if index >= components:
        raise InputError(f"measure {name}: the face space has {components} components (0 to {components - 1})")
    if space.config.size != context.image_size:
        raise InputError(f"measure {name} reads {space.config.size}px images, but this run's genome makes "
                         f"{context.image_size}px images")
    # coordinates are in real faces' stds by construction: another face space spans N(0, 1)'s 1st-99th percentiles
    low, high = tabled[name] if context.shipped_face_space else (-NORMAL_99, NORMAL_99)
    return Measure(name, face_space_measure(space, index), low, high)


def parse_names(text: str) -> list[str]:
    """'face-space:0, hue' -> ['face-space:0', 'hue']; InputError unless one to three distinct names."""
    names = [name.strip() for name in text.split(",")]
    if not 1 <= len(names) <= 3 or not all(names):
        raise InputError(f"--measures takes one, two or three comma-separated measures, got {text!r}")
    if len(set(names)) < len(names):
        raise InputError(f"--measures names a measure twice: {text!r}")
    return names


def parse_ranges(text: str, count: int) -> list[tuple[float, float]]:
    """'-2:2,0.1:0.9' -> [(-2, 2), (0.1, 0.9)], one LOW:HIGH per measure; InputError for a bad range."""
    parts = [part.strip() for part in text.split(",")]
    if len(parts) != count:
        raise InputError(f"--ranges gives {len(parts)} ranges for {count} measures (one LOW:HIGH each)")
    ranges = []
    for part in parts:
        match = re.fullmatch(r"([-+0-9.eE]+):([-+0-9.eE]+)", part)
        try:
            low, high = (float(match.group(1)), float(match.group(2))) if match else (None, None)
        except ValueError:
            low = high = None
        if low is None or not (np.isfinite(low) and np.isfinite(high)):
            raise InputError(f"--ranges: {part!r} is not LOW:HIGH with finite numbers")
        if not low < high:
            raise InputError(f"--ranges: {part!r} is empty (LOW must be below HIGH)")
        ranges.append((low, high))
    return ranges


def format_ranges(measures: list[Measure]) -> str:
    """The ranges as ``--ranges`` takes them (stored in the run's config)."""
    return ",".join(f"{m.low!r}:{m.high!r}" for m in measures)


def evaluate_measures(measures: list[Measure], images: np.ndarray, genes: np.ndarray) -> np.ndarray:
    """(n, len(measures)) float64: every measure of the batch."""
    return np.stack([measure(images, genes) for measure in measures], axis=1)
