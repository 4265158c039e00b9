"""Shared test helpers and fixtures. The tests run anywhere: they use drawn images, synthetic faces (a skin-coloured
ellipse with dark eyes and a mouth) against textures and noise, written once per session as image folders
(``FACES``, ``NON_FACES``). The few tests that need the real subsets in ../shared (or the FID weights there) skip
with a reason when those are missing (``requires_shared``)."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from cli import main

SHARED = Path(__file__).resolve().parents[2] / "shared"
SHARED_DATA = SHARED / "data"
CELEBA, UTKFACE, CIFAR10 = SHARED_DATA / "celeba", SHARED_DATA / "utkface", SHARED_DATA / "cifar10"
FID_WEIGHTS = SHARED / "weights" / "pt_inception-fid-features.pth"
requires_shared = pytest.mark.skipif(not (CELEBA.is_dir() and CIFAR10.is_dir() and FID_WEIGHTS.is_file()),
                                     reason="needs ../shared: data/celeba, data/cifar10 and the FID weights")

# Filled once per session, removed at its end; named by the process, since pytest may import this file twice.
SYNTHETIC = Path(tempfile.gettempdir()) / f"evoface-tests-{os.getpid()}"
FACES, NON_FACES = SYNTHETIC / "faces", SYNTHETIC / "non_faces"
FOLDER_IMAGES = 400  # of each kind


def synthetic_faces(n: int, size: int, seed: int = 0, height: int | None = None) -> np.ndarray:
    """(n, height, size, 3) uint8 drawn faces: on a random background, a skin-toned ellipse with two dark eyes, brows
    and a mouth, each face at its own position, scale and tone."""
    rng, height = np.random.default_rng(seed), height or size
    images = []
    for _ in range(n):
        image = Image.new("RGB", (size, height), tuple(int(v) for v in rng.integers(0, 256, 3)))
        draw = ImageDraw.Draw(image)
        cx, cy = size * (0.5 + rng.uniform(-0.06, 0.06)), height * (0.5 + rng.uniform(-0.06, 0.06))
        w, h = size * rng.uniform(0.28, 0.36), height * rng.uniform(0.36, 0.44)
        skin = np.array([225, 175, 140]) * rng.uniform(0.55, 1.1) + rng.integers(-15, 15, 3)
        draw.ellipse([cx - w, cy - h, cx + w, cy + h], fill=tuple(int(v) for v in np.clip(skin, 0, 255)))
        eye_y, eye_dx, eye_r = cy - 0.25 * h, 0.42 * w, max(1.0, 0.13 * w)
        for side in (-1, 1):
            ex = cx + side * eye_dx
            draw.ellipse([ex - eye_r * 1.4, eye_y - eye_r, ex + eye_r * 1.4, eye_y + eye_r], fill=(30, 25, 25))
            draw.line([ex - eye_r * 1.8, eye_y - 2.2 * eye_r, ex + eye_r * 1.8, eye_y - 2.4 * eye_r],
                      fill=(60, 40, 30), width=max(1, size // 32))
        mouth_y, mouth_w = cy + 0.5 * h, w * rng.uniform(0.35, 0.6)
        draw.ellipse([cx - mouth_w, mouth_y - 0.07 * h, cx + mouth_w, mouth_y + 0.07 * h], fill=(140, 40, 50))
        draw.line([cx, cy - 0.05 * h, cx, cy + 0.2 * h], fill=tuple(int(v) for v in skin * 0.75), width=1)
        pixels = np.asarray(image, np.int16) + rng.integers(-6, 7, (height, size, 3))  # sensor noise
        images.append(np.clip(pixels, 0, 255).astype(np.uint8))
    return np.stack(images)


def synthetic_non_faces(n: int, size: int, seed: int = 0) -> np.ndarray:
    """(n, size, size, 3) uint8 images without faces: stripes, smooth gradients, scattered blobs and uniform noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size] / size
    images = []
    for i in range(n):
        a, b = rng.integers(0, 256, (2, 3))
        kind = i % 4
        if kind == 0:  # stripes at a random angle and frequency
            angle, frequency = rng.uniform(0, np.pi), rng.uniform(2, 10)
            t = (np.sin(2 * np.pi * frequency * (x * np.cos(angle) + y * np.sin(angle))) + 1) / 2
        elif kind == 1:  # a smooth gradient
            t = np.clip(rng.uniform(-1, 1) * x + rng.uniform(-1, 1) * y + rng.uniform(0, 1), 0, 1)
        elif kind == 2:  # blobs
            t = np.zeros((size, size))
            for _ in range(rng.integers(3, 9)):
                cx, cy, r = rng.random(2).tolist() + [rng.uniform(0.05, 0.25)]
                t = np.maximum(t, np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * r * r)))
        else:  # uniform noise
            images.append(rng.integers(0, 256, (size, size, 3), dtype=np.uint8))
            continue
        image = a + t[..., None] * (b.astype(float) - a) + rng.normal(0, 8, (size, size, 3))
        images.append(np.clip(image, 0, 255).astype(np.uint8))
    return np.stack(images)


def write_images(images: np.ndarray, folder: Path, prefix: str = "img") -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"{prefix}{i:04d}.png" for i in range(len(images))]
    for image, path in zip(images, paths):
        Image.fromarray(image).save(path)
    return paths


@pytest.fixture(scope="session", autouse=True)
def _synthetic_folders():
    """FACES: drawn faces, 72x88 (cropped to a square by the loader); NON_FACES: 32x32 textures in two subfolders
    (upsampled by the loader, like CIFAR-10)."""
    write_images(synthetic_faces(FOLDER_IMAGES, 72, seed=1, height=88), FACES)
    non_faces = synthetic_non_faces(FOLDER_IMAGES, 32, seed=2)
    write_images(non_faces[::2], NON_FACES / "textures")
    write_images(non_faces[1::2], NON_FACES / "more" / "textures")
    yield
    shutil.rmtree(SYNTHETIC, ignore_errors=True)


def run_cli(args, capsys):
    """Run ``evoface ARGS`` in this process: (exit code, stderr)."""
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    err = capsys.readouterr().err.strip()
    return exit_info.value.code, err


def assert_one_line_error(code, err, fragment):
    assert code == 2
    assert len(err.splitlines()) == 1 and err.startswith("error:"), err
    assert fragment in err, err
    assert "Traceback" not in err


@pytest.fixture
def fast_paths_on(monkeypatch):
    """The kernels switch at auto, whatever ``EVOFACE_KERNELS`` says: for the tests of a fast path against its plain
    reference, which must run the fast path to compare it."""
    from evoface.kernels import switch

    monkeypatch.delenv(switch.ENVIRONMENT, raising=False)
    before = switch.selected_mode()
    switch.select("auto")
    yield
    switch.select(before)


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("EVOFACE_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


@pytest.fixture(scope="session")
def faces32() -> np.ndarray:
    return synthetic_faces(300, 32, seed=3)


@pytest.fixture(scope="session")
def negatives32() -> np.ndarray:
    return synthetic_non_faces(300, 32, seed=4)


def copy_images(source: Path, target: Path, n: int) -> list[Path]:
    """Copy the first n images of a folder (searched recursively) into ``target``."""
    target.mkdir(parents=True, exist_ok=True)
    files = sorted(f for f in source.rglob("*") if f.suffix in (".jpg", ".png"))[:n]
    return [Path(shutil.copy(f, target / f.name)) for f in files]
