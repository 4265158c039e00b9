"""The ``evoface evolve`` workflow for a single population: open or resume the run folder, build the run
(``evoface.evolve_build``), run the loop (``evoface.evolve_loop``) with its snapshots and checkpoints as hooks, and
write the grid, the plot and the timelapse. ``evoface.islands`` runs the island model; the CLI chooses between them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from deap import base
from tqdm import tqdm

from evoface.core.checkpoints import load_checkpoint, save_atomic
from evoface.core.configs import run_config
from evoface.core.errors import InputError
from evoface.core.interrupts import StopRequest
from evoface.core.plots import image_grid, plot_series, save_png
from evoface.core.rundir import RunDir, open_run
from evoface.core.timelapse import write_timelapse
from evoface.evolve_build import Evolution, build_evolution
from evoface.evolve_config import KIND, EvolveConfig
from evoface.evolve_loop import Hook, StoppingRules, evolve_until
from evoface.kernels import switch
from evoface.target import TARGET_FILE, keep_target

__all__ = ["EvolveConfig", "evolve", "resume_config", "open_evolution", "save_snapshot", "write_outputs"]


def save_snapshot(run: RunDir, generation: int, image: np.ndarray) -> None:
    """samples/best_GGGGGGG.png: the best image at ``generation``, drawn fast (every ``snapshot_every``)."""
    save_png(image_grid(image[None], scale=4, pad=0), run.samples / f"best_{generation:07d}.png", compress_level=1)


def write_outputs(run: RunDir, top: np.ndarray, series: list[str], title: str, rows: list[dict[str, Any]]
                  ) -> dict[str, str]:
    """top_grid.png of the ``top`` images, plots/fitness.png of the ``series`` of ``rows`` by generation, and
    timelapse.gif of the snapshots; their paths."""
    grid = save_png(image_grid(top, scale=3), run.path / "top_grid.png")
    plot_series(rows, "generation", series, run.plots / "fitness.png", title, "faceness")
    gif = write_timelapse(sorted(run.samples.glob("best_*.png")), run.path / "timelapse.gif")
    return {"grid": str(grid), "gif": str(gif), "run": str(run.path)}


def open_evolution(config: EvolveConfig, resume: bool, toolbox: base.Toolbox | None = None
                   ) -> tuple[RunDir, Evolution]:
    """The run folder and the built run of ``config``: a new one claimed once built, or the one resumed from its
    last checkpoint (a folder with none yet starts again)."""
    if toolbox is not None:
        config.engine = "reference"  # the user's DEAP operators run on the reference engine
    config.validate()
    if config.islands > 1:
        raise InputError("--islands runs on Ray: call evoface.islands.evolve_islands (the CLI chooses it)")
    switch.select(config.kernels)
    run, resume = open_run(config.out, resume)
    state = load_checkpoint(run.last_checkpoint, KIND, for_resume=True) if resume else None
    stored_target = run.path / TARGET_FILE  # a resumed run keeps the target it started with
    evolution = build_evolution(config, state, toolbox, stored_target if resume and stored_target.is_file() else None)
    if resume:
        run.truncate_metrics("generation", evolution.generation)
    else:
        with run.begin().failing():
            run.write_config(config, chosen={"kernels": evolution.kernels, "precision": evolution.scorer.precision})
            if evolution.scoring.target is not None:
                keep_target(run.path, evolution.scoring.target)
    return run, evolution


class SingleRun:
    """The hooks and outputs of one population's run in its folder."""

    def __init__(self, run: RunDir, evolution: Evolution):
        self.run, self.evolution, self.pending = run, evolution, []
        config = evolution.config
        engine = f", tensor engine on {evolution.scorer.device}" if evolution.engine == "tensor" else ""
        self.bar = tqdm(total=config.generations, initial=evolution.generation,
                        desc=f"evolve ({evolution.scorer.precision}{engine})", unit="gen", disable=None)

    def record(self, row: dict[str, Any]) -> None:
        """The generation's metrics row: the detector's verdict where due, the progress bar, kept for the log."""
        evolution, config = self.evolution, self.evolution.config
        if config.detector_every and evolution.generation % config.detector_every == 0:
            row["best_face_detected"] = self.best_face_detected()
        self.pending.append(row)
        self.bar.update(1)
        if evolution.generation % 20 == 0:
            self.bar.set_postfix(best=f"{row['max']:.4f}", mean=f"{row['mean']:.3f}")

    def best_face_detected(self) -> bool:
        from neural.face_detector import detect_faces  # dlib: loaded only when asked for

        # a judge only (dlib's CNN detector): it never feeds the fitness or the selection
        best = self.evolution.image(self.evolution.sync_hall_of_fame()[0])
        return bool(detect_faces(best[None], "cnn")[0])

    def snapshot(self, evolution: Evolution) -> None:
        save_snapshot(self.run, evolution.generation, evolution.image(evolution.sync_hall_of_fame()[0]))

    def checkpoint(self, evolution: Evolution) -> None:
        """The metrics rows so far, then the checkpoint (atomically)."""
        self.run.append_metrics(self.pending)
        self.pending = []
        save_atomic(evolution.state(evolution.elapsed), self.run.last_checkpoint)

    def evolve(self) -> dict[str, Any]:
        """Evolve until a stopping rule fires or a stop is requested; the run's summary."""
        evolution, config = self.evolution, self.evolution.config
        if evolution.generation == 0:
            self.snapshot(evolution)
        rules = StoppingRules.of(config)
        hooks = [Hook(config.snapshot_every, self.snapshot), Hook(config.checkpoint_every, self.checkpoint)]
        with StopRequest() as stop:
            reason = evolve_until(
                evolution, lambda clock: rules.reason(evolution.generation, clock.elapsed(), evolution.ga.fitness.max())
                or ("interrupted" if stop else None), self.record, hooks)
        self.bar.close()
        self.checkpoint(evolution)
        self.snapshot(evolution)
        return {"reason": reason, **self.summary()}

    def summary(self) -> dict[str, Any]:
        """The outputs written, and what the run chose."""
        evolution = self.evolution
        top = evolution.images(np.stack(evolution.sync_hall_of_fame()))
        paths = write_outputs(self.run, top, ["max", "mean", "min"], "evolve: faceness of the population",
                              self.run.read_metrics())
        return {"generation": evolution.generation, "best_fitness": evolution.hall_of_fame[0].fitness.values[0],
                **paths, "precision": evolution.scorer.precision,
                "precision_note": evolution.scoring.precision_note, "engine": evolution.engine,
                "kernels": evolution.kernels}


def evolve(config: EvolveConfig, resume: bool = False, toolbox: base.Toolbox | None = None) -> dict[str, Any]:
    """Start or resume a single-population evolve run; returns why it stopped, where its outputs are, and the
    kernels and precision it ran.

    ``toolbox``: a DEAP toolbox with your own ``select``, ``mate`` and/or ``mutate`` (DEAP signatures, e.g.
    ``tools.cxTwoPoint``); the ones it lacks are the method's. It runs on the reference engine (``config.engine``
    becomes "reference"); pass the same toolbox again to resume. ``config.islands`` > 1 is the island model
    (``evoface.islands.evolve_islands``).
    """
    run, evolution = open_evolution(config, resume, toolbox)
    with run.held():  # a start that fails before its first checkpoint leaves no folder behind
        return SingleRun(run, evolution).evolve()


def resume_config(run_dir: str | Path, **overrides: Any) -> EvolveConfig:
    """The stored config of the evolve run in ``run_dir`` with the non-None overrides applied, as ``evolve --resume``
    builds it (stopping rules given now replace all stored ones; see evoface.core.configs)."""
    return run_config(EvolveConfig, {k: v for k, v in overrides.items() if v is not None}, run_dir)[0]
