"""Shared fixtures: small real subsets of ../shared/data, loaded once per session."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from fitness_data.folder import load_folder

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
CELEBA, UTKFACE, CIFAR10 = SHARED_DATA / "celeba", SHARED_DATA / "utkface", SHARED_DATA / "cifar10"


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("EVOFACE_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


@pytest.fixture(scope="session")
def faces32() -> np.ndarray:
    return load_folder(CELEBA, 32, limit=300, quiet=True).images


@pytest.fixture(scope="session")
def negatives32() -> np.ndarray:
    return load_folder(CIFAR10, 32, limit=300, quiet=True).images


def copy_images(source: Path, target: Path, n: int) -> list[Path]:
    """Copy the first n images of a shared folder into ``target``."""
    target.mkdir(parents=True, exist_ok=True)
    files = sorted(source.rglob("*.jpg"))[:n]
    return [Path(shutil.copy(f, target / f.name)) for f in files]
