"""Alternate GA runs and adversarial refinement of the faceness model, round after round.

Round r evolves against the current model (round 0: the shipped one, or ``fitness``), then fine-tunes that model
with the evolved images of every round so far added as non-faces; the result is the next round's model. Each round
is a normal evolve run and a normal train-fitness run inside OUT/round<r>/, and rounds already finished are skipped,
so an interrupted loop resumes where it stopped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from evoface.evolve import EvolveConfig, evolve
from evoface.refinement import refinement_negatives
from evoface.core.configs import RunConfig, bounded, seed_field
from evoface.core.errors import InputError
from evoface.core.rundir import RunDir
from fitness_data.sources import load_sources
from neural.face_detector import detect_faces
from neural.faceness_store import load_faceness, resolve_faceness_path, score_images
from neural.fitness_training import FitnessTrainConfig, train_fitness
from evoface.sampling import evolve_run_images


@dataclass
class RefineRoundsConfig(RunConfig):
    """Every parameter of ``evoface refine-rounds``."""

    command = "refine-rounds"

    faces: list[str]
    negatives: list[str]
    out: str
    rounds: int = bounded(3, 1, 1000)
    fitness: str | None = None
    generations: int = bounded(2000, 1, 10**9)
    epochs: int = bounded(3, 1, 1_000_000)
    max_images: int | None = bounded(None, 1, 10**9)
    genome_size: int | None = bounded(None, 4, 128)
    tv_weight: float = bounded(0.0, 0.0, 1e6)
    evolve_options: dict[str, Any] = field(default_factory=dict)
    device: str = "auto"
    seed: int = seed_field()


def coarse_genome_mutation(genome_size: int | None) -> dict[str, Any]:
    """A coarse genome cannot take the default face-space mutation (it moves full-size images): per-gene resets."""
    return {"mutation": "reset"} if genome_size else {}


def check_inputs(config: RefineRoundsConfig) -> Path:
    """Check the settings, the first model and the image folders before any folder is made; return the model."""
    config.validate()
    model = resolve_faceness_path(config.fitness)
    size = load_faceness(model).config.size
    for specs in (config.faces, config.negatives):  # decoded (and cached) now, read again from the cache later
        load_sources(specs, size, limit=config.max_images, seed=config.seed)
    return model


def _score(model_path: Path, image) -> float:
    return float(score_images(load_faceness(model_path), torch.from_numpy(image[None]).permute(0, 3, 1, 2))[0])


def refine_rounds(config: RefineRoundsConfig) -> list[dict[str, Any]]:
    """Run the rounds; returns (and writes to OUT/metrics.jsonl) one summary row per round."""
    model = check_inputs(config)
    created = not Path(config.out).exists()
    existing = RunDir(config.out, create=None)
    if not created and existing.config_path.is_file():  # a re-run resumes: only its own rounds
        stored = existing.read_stored_config()
        if "kind" in stored or "rounds" not in stored:  # another command's run (they store a kind), or no rounds
            raise InputError(f"--out {config.out} holds another command's run, not refine-rounds rounds: choose a new "
                             f"--out")
    run = RunDir(config.out)
    run.created = created  # a first call that fails before any round's checkpoint leaves no folder
    with run.failing():
        return _run_rounds(config, run, model)


def _run_rounds(config: RefineRoundsConfig, run: RunDir, model: Path) -> list[dict[str, Any]]:
    run.write_config(config)
    done = {row["round"]: row for row in run.read_metrics()}
    ga_runs: list[str] = []
    for r in range(config.rounds):
        round_dir = run.path / f"round{r}"
        ga_dir, fit_dir = round_dir / "ga", round_dir / "fit"
        ga_runs.append(str(ga_dir))
        if r in done:
            model = fit_dir / "checkpoints" / "best.pt"
            continue
        if not (ga_dir / "checkpoints" / "last.pt").is_file():
            evolve(EvolveConfig(out=str(ga_dir), fitness=str(model), generations=config.generations,
                                genome_size=config.genome_size, tv_weight=config.tv_weight, device=config.device,
                                seed=config.seed + r,
                                **{**coarse_genome_mutation(config.genome_size), **config.evolve_options}))
        best = evolve_run_images(ga_dir, 1)[0]
        refined = fit_dir / "checkpoints" / "best.pt"
        if not refined.is_file():
            train_fitness(FitnessTrainConfig(faces=config.faces, negatives=config.negatives, out=str(fit_dir),
                                             size=load_faceness(model).config.size, epochs=config.epochs,
                                             patience=config.epochs, max_images=config.max_images, init=str(model),
                                             extra_negatives=refinement_negatives(ga_runs), device=config.device,
                                             seed=config.seed))
        row = {"round": r, "model": str(model), "best_fitness_before": _score(model, best),
               "best_fitness_after": _score(refined, best), "best_face_detected": bool(detect_faces(best[None])[0])}
        run.append_metrics([row])
        print(f"round {r}: best image {row['best_fitness_before']:.3f} -> {row['best_fitness_after']:.3f} after "
              f"refinement; detector {'finds' if row['best_face_detected'] else 'does not find'} a face")
        model = refined
    return run.read_metrics()
