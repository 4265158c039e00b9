"""Adversarial refinement: images an evolve run produced become non-faces for fine-tuning the faceness model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from evoface.core.checkpoints import load_checkpoint
from evoface.core.errors import InputError
from evoface.core.rundir import RunDir
from neural.faceness_store import resolve_faceness_path
from evoface.sampling import evolve_checkpoint_images

EXPORT_FOLDER = "refine-negatives"


def export_run_images(run_dir: str | Path) -> Path:
    """Write the distinct images of a run's final population and hall of fame as PNGs; return their folder."""
    run = RunDir(run_dir, create=False)
    ckpt = load_checkpoint(run.last_checkpoint, "evolve")
    images = evolve_checkpoint_images(ckpt)
    folder = run.path / EXPORT_FOLDER
    folder.mkdir(exist_ok=True)
    for i, image in enumerate(images):
        Image.fromarray(image).save(folder / f"gen{ckpt['generation']:07d}_{i:04d}.png")
    return folder


def refinement_negatives(runs: list[str] | tuple[str, ...]) -> list[str]:
    """Export every run's images; return the folders, to be added as non-faces."""
    return [str(export_run_images(run)) for run in runs]


def refinement_init(runs: list[str] | tuple[str, ...]) -> str:
    """The faceness checkpoint the first run evolved against: fine-tuning starts from it."""
    from evoface.evolve import EvolveConfig

    return str(resolve_faceness_path(RunDir(runs[0], create=False).read_config(EvolveConfig).fitness))
