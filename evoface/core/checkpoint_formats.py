"""Checkpoint formats: the version every checkpoint carries, the keys each kind needs, and the upgrades of old ones.

Every checkpoint evoface writes carries ``format`` (FORMAT) and ``evoface_version``. One written before formats were
numbered is format 1. ``upgrade`` brings a loaded checkpoint to FORMAT, one function per kind, all here; code that
reads checkpoints then relies on the current keys only.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from evoface.core.errors import InputError

FORMAT = 2

# keys a checkpoint of each kind needs to be used (sampled, scored) and, for a run's last.pt, to be resumed
_TRAINER = ("config", "epoch", "elapsed", "best", "best_row", "bad_epochs", "data_generator", "rng")
USE_KEYS = {
    "evolve": ("genes", "fitness", "hof_genes", "hof_fitness"),
    "gan": ("model_config", "generator"),
    "vae": ("model_config", "model"),
    "faceness": ("model_config", "state_dict"),
    "illuminate": ("genome", "image_size", "measures", "ranges", "archive"),
}
RESUME_KEYS = {
    "evolve": ("generation", "rng", "seed_stream", "elites_first", "elapsed", "config"),
    "gan": (*_TRAINER, "trained_generator", "discriminator", "opt_g", "opt_d"),
    "vae": (*_TRAINER, "optimizer"),
    "faceness-train": (*_TRAINER, "model", "optimizer"),
    "illuminate": ("iteration", "evaluations", "elapsed", "config", "emitters", "scheduler", "rng"),
}


def _evolve_from_1(ckpt: dict[str, Any]) -> None:
    """evoface 0.1 drew the operators' seed stream from the numpy generator on resume, and kept its elites in the
    first rows: do the same draw here (advancing the stored generator state past it)."""
    if "seed_stream" not in ckpt and isinstance(ckpt.get("rng"), dict) and "numpy" in ckpt["rng"]:
        rng = np.random.default_rng()
        rng.bit_generator.state = ckpt["rng"]["numpy"]
        ckpt["seed_stream"] = int(rng.integers(0, 2**63))  # what SeedStream.from_generator draws
        ckpt["rng"] = {**ckpt["rng"], "numpy": rng.bit_generator.state}
    ckpt.setdefault("elites_first", True)


def _trainer_from_1(ckpt: dict[str, Any]) -> None:
    ckpt.setdefault("best_row", {})
    ckpt.setdefault("bad_epochs", 0)


def _gan_from_1(ckpt: dict[str, Any]) -> None:
    """Before G-EMA, "generator" held the trained weights, which were also the sampling weights."""
    _trainer_from_1(ckpt)
    if "generator" in ckpt:
        ckpt.setdefault("trained_generator", ckpt["generator"])


UPGRADES_FROM_1: dict[str, Callable[[dict[str, Any]], None]] = {
    "evolve": _evolve_from_1,
    "gan": _gan_from_1,
    "vae": _trainer_from_1,
    "faceness-train": _trainer_from_1,
}


def upgrade(ckpt: dict[str, Any], name: str, for_resume: bool = False) -> dict[str, Any]:
    """Bring a loaded checkpoint to FORMAT and check it has the keys its kind needs; InputError otherwise."""
    version = ckpt.get("format", 1)
    if not isinstance(version, int) or version > FORMAT:
        raise InputError(f"{name} has checkpoint format {version!r}, written by evoface "
                         f"{ckpt.get('evoface_version', '?')}; this evoface reads formats up to {FORMAT}: upgrade it")
    kind = ckpt["kind"]
    if version < 2 and kind in UPGRADES_FROM_1:
        UPGRADES_FROM_1[kind](ckpt)
    needed = USE_KEYS.get(kind, ()) + (RESUME_KEYS.get(kind, ()) if for_resume else ())
    missing = [key for key in dict.fromkeys(needed) if key not in ckpt]
    if missing:
        raise InputError(f"{name} is an incomplete {kind} checkpoint (it lacks {', '.join(missing)})")
    ckpt["format"] = FORMAT
    return ckpt
