"""Alternate GA runs and adversarial refinement of the faceness model, round after round.

Round r evolves against the current model (round 0: the shipped one, or ``fitness``), then fine-tunes that model
with the evolved images of every round so far added as non-faces; the result is the next round's model. Each round
holds two child runs, a normal evolve run (OUT/round<r>/ga) and a normal train-fitness run (OUT/round<r>/fit), and
gets a row of OUT/metrics.jsonl once both reached their budgets. Calling again with the same ``out`` resumes: each
child run continues from its own last checkpoint, and a round fine-tunes only once its evolve run's checkpoint shows
the round's generations done, so a Ctrl-C anywhere costs at most the step in progress.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from evoface.evolve import EvolveConfig, evolve
from evoface.evolve_loop import StoppingRules
from evoface.kernels.switch import MODES as KERNEL_MODES
from evoface.refinement import refinement_negatives
from evoface.core.checkpoints import load_checkpoint
from evoface.core.configs import RunConfig, bounded, seed_field
from evoface.core.errors import InputError
from evoface.core.rundir import STAMP, RunDir, best_checkpoint, last_checkpoint, open_run
from fitness_data.sources import load_sources
from neural.epoch_trainer import Progress
from neural.face_detector import detect_faces
from neural.faceness_store import load_faceness, resolve_faceness_path, score_images
from neural.fitness_training import TRAIN_KIND, FitnessTrainConfig, train_fitness
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
    kernels: str = bounded("auto", choices=KERNEL_MODES)  # the rounds' evolve runs' fast paths (``evoface.kernels``)
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


def round_evolve_config(config: RefineRoundsConfig, r: int, model: Path, out: Path) -> EvolveConfig:
    """Round r's evolve run: against ``model``, for the round's generations."""
    return EvolveConfig(out=str(out), fitness=str(model), generations=config.generations,
                        genome_size=config.genome_size, tv_weight=config.tv_weight, device=config.device,
                        kernels=config.kernels, seed=config.seed + r, **{**coarse_genome_mutation(config.genome_size), **config.evolve_options})


def round_fit_config(config: RefineRoundsConfig, model: Path, negatives: list[str], out: Path) -> FitnessTrainConfig:
    """A round's fine-tuning run: ``model`` trained on, with the evolved images in ``negatives`` as non-faces."""
    return FitnessTrainConfig(faces=config.faces, negatives=config.negatives, out=str(out),
                              size=load_faceness(model).config.size, epochs=config.epochs, patience=config.epochs,
                              max_images=config.max_images, init=str(model), extra_negatives=negatives,
                              device=config.device, seed=config.seed)


def evolve_finished(ckpt: dict[str, Any], config: EvolveConfig) -> bool:
    """Whether an evolve run's last checkpoint shows a stopping rule of ``config`` fired (not a Ctrl-C)."""
    return StoppingRules.of(config).reason(ckpt["generation"], ckpt["elapsed"], float(ckpt["fitness"].max())) is not None


def _last_state(run_dir: Path, kind: str) -> dict[str, Any] | None:
    """A child run's last checkpoint; None before it wrote one."""
    path = last_checkpoint(run_dir)
    return load_checkpoint(path, kind, for_resume=True) if path.is_file() else None


def evolve_round(config: EvolveConfig) -> str | None:
    """Start, resume or leave a round's evolve run until a stopping rule fires; None once one fired, else where it
    stopped."""
    ckpt = _last_state(Path(config.out), "evolve")
    if ckpt is None or not evolve_finished(ckpt, config):
        evolve(config, resume=ckpt is not None)
        ckpt = _last_state(Path(config.out), "evolve")
    if evolve_finished(ckpt, config):
        return None
    return f"its evolve run stopped at generation {ckpt['generation']} of {config.generations}"


def fine_tune_round(config: FitnessTrainConfig) -> str | None:
    """Start, resume or leave a round's fine-tuning until its epochs; None once done, else where it stopped."""
    ckpt = _last_state(Path(config.out), TRAIN_KIND)
    if ckpt is None or Progress.of(ckpt).stop_reason(config) is None:
        train_fitness(config, resume=ckpt is not None)
        ckpt = _last_state(Path(config.out), TRAIN_KIND)
    if Progress.of(ckpt).stop_reason(config) is not None:
        return None
    return f"its fine-tuning stopped at epoch {ckpt['epoch']} of {config.epochs}"


def _holds_rounds(out: str) -> bool:
    """Whether ``out`` holds an earlier call's rounds (which a call resumes); InputError for another command's run."""
    run = RunDir(out, create=None)
    if not run.config_path.is_file():
        return False
    stored = run.read_stored_config()
    if stored.get(STAMP) != "evoface":
        return False  # not a run: ``open_run`` says why it is refused
    if "kind" in stored or "rounds" not in stored:  # another command's run (they store a kind), or no rounds
        raise InputError(f"--out {out} holds another command's run, not refine-rounds rounds: choose a new --out")
    return True


def _score(model_path: Path, image) -> float:
    return float(score_images(load_faceness(model_path), torch.from_numpy(image[None]).permute(0, 3, 1, 2))[0])


def refine_rounds(config: RefineRoundsConfig) -> list[dict[str, Any]]:
    """Run (or resume) the rounds; returns the summary rows of OUT/metrics.jsonl, one per finished round (fewer than
    ``config.rounds`` when a round was stopped: calling again resumes it)."""
    model = check_inputs(config)
    run, resume = open_run(config.out, _holds_rounds(config.out))
    if not resume:
        run.begin()
    with run.held():  # a first call stopped before any checkpoint leaves nothing behind
        run.write_config(config)
        return _run_rounds(config, run, model)


def _run_rounds(config: RefineRoundsConfig, run: RunDir, model: Path) -> list[dict[str, Any]]:
    done = {row["round"] for row in run.read_metrics()}
    ga_runs: list[str] = []
    for r in range(config.rounds):
        ga_dir, fit_dir = run.path / f"round{r}" / "ga", run.path / f"round{r}" / "fit"
        ga_runs.append(str(ga_dir))
        if r not in done:
            stopped = _run_round(config, r, model, ga_runs)
            if stopped:
                print(f"round {r}: {stopped}; run the same command again to resume it")
                break
            _record_round(run, r, model, ga_dir, best_checkpoint(fit_dir))
        model = best_checkpoint(fit_dir)
    return run.read_metrics()


def _run_round(config: RefineRoundsConfig, r: int, model: Path, ga_runs: list[str]) -> str | None:
    """Round r's evolve run, then its fine-tuning on every round's evolved images, each to its budget; None once both
    are done, else where it stopped."""
    ga_dir = Path(ga_runs[-1])
    stopped = evolve_round(round_evolve_config(config, r, model, ga_dir))
    if stopped:
        return stopped
    return fine_tune_round(round_fit_config(config, model, refinement_negatives(ga_runs), ga_dir.parent / "fit"))


def _record_round(run: RunDir, r: int, model: Path, ga_dir: Path, refined: Path) -> None:
    """The round's row: its best image's faceness under the model before and after refinement, and the detector."""
    best = evolve_run_images(ga_dir, 1)[0]
    row = {"round": r, "model": str(model), "best_fitness_before": _score(model, best),
           "best_fitness_after": _score(refined, best), "best_face_detected": bool(detect_faces(best[None])[0])}
    run.append_metrics([row])
    print(f"round {r}: best image {row['best_fitness_before']:.3f} -> {row['best_fitness_after']:.3f} after "
          f"refinement; detector {'finds' if row['best_face_detected'] else 'does not find'} a face")
