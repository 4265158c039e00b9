"""The ``evoface illuminate`` workflow: a quality-diversity map of faces. Open or resume the run folder, build the
run (``evoface.illuminate_build``), then ask / evaluate / tell until a stopping rule fires, with the metrics, the map
and the checkpoints as hooks; write map.png, heatmap.png and plots/qd.png. ``archive_images`` gives other commands
(sample, compare) a finished or running map's elites.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from evoface.core.checkpoints import load_checkpoint, save_atomic
from evoface.core.configs import run_config
from evoface.core.interrupts import StopRequest
from evoface.core.rundir import RunDir, last_checkpoint, open_run
from evoface.core.words import plural
from evoface.evolve_loop import Clock
from evoface.illuminate_build import Illumination, build_illumination
from evoface.illuminate_config import KIND, IlluminateConfig
from evoface.kernels import switch
from evoface.latent_genome import latent_checkpoint_images
from evoface.qd.figures import MapAxes, draw_progress, heatmap_figure, map_figure, save_figure
from evoface.qd.measures import Measure
from evoface.target import TARGET_FILE, keep_target

__all__ = ["IlluminateConfig", "illuminate", "resume_config", "archive_images", "checkpoint_images"]


def metrics_row(illumination: Illumination, clock: Clock, start: int) -> dict[str, Any]:
    """The archive's figures now: coverage, QD-score, best and mean elite objective, and speed."""
    stats = illumination.archive.stats
    return {"iteration": illumination.iteration, "evaluations": illumination.evaluations,
            "coverage": float(stats.coverage), "qd_score": float(stats.qd_score), "elites": int(stats.num_elites),
            "best": None if stats.obj_max is None else float(stats.obj_max),
            "mean": None if stats.obj_mean is None else float(stats.obj_mean),
            "evaluations_per_s": (illumination.evaluations - start) / clock.since_start()}


def map_axes(illumination: Illumination) -> MapAxes:
    measures = illumination.measures
    return MapAxes([m.name for m in measures], [m.low for m in measures], [m.high for m in measures],
                   list(illumination.config.dims))


def draw_figures(run: RunDir, illumination: Illumination) -> dict[str, str]:
    """map.png and heatmap.png of the archive now, and plots/qd.png of the metrics so far; their paths."""
    data = illumination.archive.data(["solution", "objective", "index"])
    cells = illumination.archive.int_to_grid_index(data["index"]) if len(data["index"]) else np.zeros((0, 1), int)
    axes, coverage = map_axes(illumination), float(illumination.archive.stats.coverage)
    title = (f"{illumination.config.genome} genome, {plural(illumination.evaluations, 'evaluation')}: "
             f"{coverage:.0%} of cells")
    face_map = save_figure(map_figure(illumination.images(data["solution"]), cells, axes, title), run.path / "map.png")
    heatmap = save_figure(heatmap_figure(data["objective"], cells, axes, f"objective per cell: {title}"),
                          run.path / "heatmap.png")
    progress = draw_progress(run.read_metrics(), run.plots / "qd.png", "illuminate: the archive over evaluations")
    return {"map": str(face_map), "heatmap": str(heatmap), "plot": str(progress), "run": str(run.path)}


class IlluminateRun:
    """The hooks and outputs of one illuminate run in its folder."""

    def __init__(self, run: RunDir, illumination: Illumination):
        self.run, self.illumination, self.pending = run, illumination, []

    def reason(self, clock: Clock, stop: StopRequest) -> str | None:
        """Why the run stops now, or None to go on."""
        illumination, config = self.illumination, self.illumination.config
        if config.iterations is not None and illumination.iteration >= config.iterations:
            return f"reached {plural(config.iterations, 'iteration')}"
        if config.evaluations is not None and illumination.evaluations >= config.evaluations:
            return f"reached {plural(config.evaluations, 'evaluation')}"
        if config.time_limit is not None and clock.elapsed() >= config.time_limit:
            return f"time limit of {config.time_limit:g}s reached"
        return "interrupted" if stop else None

    def checkpoint(self) -> None:
        """The metrics rows so far, then the checkpoint (atomically)."""
        self.run.append_metrics(self.pending)
        self.pending = []
        save_atomic(self.illumination.state(self.illumination.elapsed), self.run.last_checkpoint)

    def illuminate(self) -> dict[str, Any]:
        """Ask, evaluate and tell until a stopping rule fires or a stop is requested; the run's summary."""
        illumination, config = self.illumination, self.illumination.config
        clock, start = Clock(illumination.elapsed), illumination.evaluations
        bar = tqdm(total=config.evaluations, initial=illumination.evaluations, desc=f"illuminate ({config.genome})",
                   unit="eval", disable=None)
        with StopRequest() as stop:
            while not (reason := self.reason(clock, stop)):
                before = illumination.evaluations
                illumination.step()
                illumination.elapsed = clock.elapsed()
                row = metrics_row(illumination, clock, start)
                self.pending.append(row)
                bar.update(illumination.evaluations - before)
                bar.set_postfix(coverage=f"{row['coverage']:.0%}", best=f"{row['best']:.3f}")
                if illumination.iteration % config.checkpoint_every == 0:
                    self.checkpoint()
                if illumination.iteration % config.snapshot_every == 0:
                    self.run.append_metrics(self.pending)  # the studio reads the map and the rows while it runs
                    self.pending = []
                    draw_figures(self.run, illumination)
        bar.close()
        self.checkpoint()
        stats = illumination.archive.stats
        return {"reason": reason, "iteration": illumination.iteration, "evaluations": illumination.evaluations,
                "coverage": float(stats.coverage), "qd_score": float(stats.qd_score),
                "best": None if stats.obj_max is None else float(stats.obj_max), "emitters": config.emitters,
                **draw_figures(self.run, illumination)}


def open_illumination(config: IlluminateConfig, resume: bool, measures: list[Measure] | None = None
                      ) -> tuple[RunDir, Illumination]:
    """The run folder and the built run of ``config``: a new one claimed once built, or the one resumed from its
    last checkpoint (a folder with none yet starts again)."""
    config.validate()
    switch.select(config.kernels)
    run, resume = open_run(config.out, resume)
    state = load_checkpoint(run.last_checkpoint, KIND, for_resume=True) if resume else None
    stored_target = run.path / TARGET_FILE  # a resumed run keeps the target it started with
    illumination = build_illumination(config, state, measures,
                                      stored_target if resume and stored_target.is_file() else None)
    if resume:
        run.truncate_metrics("iteration", illumination.iteration)
    else:
        with run.begin().failing():
            run.write_config(config, chosen={"precision": illumination.scoring.scorer.precision})
            if illumination.scoring.target is not None:
                keep_target(run.path, illumination.scoring.target)
    return run, illumination


def illuminate(config: IlluminateConfig, resume: bool = False, measures: list[Measure] | None = None
               ) -> dict[str, Any]:
    """Start or resume an illuminate run; returns why it stopped, the archive's figures and where its outputs are.

    ``measures``: your own ``Measure`` objects (any callable of (images, genes) with a range), named in
    ``config.measures`` beside built-in ones; pass them again to resume.
    """
    run, illumination = open_illumination(config, resume, measures)
    with run.held():  # a start that fails before its first checkpoint leaves no folder behind
        return IlluminateRun(run, illumination).illuminate()


def resume_config(run_dir: str | Path, **overrides: Any) -> IlluminateConfig:
    """The stored config of the illuminate run in ``run_dir`` with the non-None overrides applied."""
    return run_config(IlluminateConfig, {k: v for k, v in overrides.items() if v is not None}, run_dir)[0]



def checkpoint_images(ckpt: dict[str, Any], n: int | None = None) -> np.ndarray:
    """Up to n (default: all) elites of a loaded illuminate checkpoint, best first, as the fitness model saw them."""
    store = ckpt["archive"]["_store"]
    occupied = store["_props"]["occupied_list"].numpy()[:store["_props"]["n_occupied"]]
    objective = store["_fields"]["objective"].numpy()[occupied]
    genes = store["_fields"]["solution"].numpy()[occupied[np.argsort(-objective, kind="stable")]][:n]
    if ckpt.get("genome") == "latent":
        return latent_checkpoint_images(ckpt, genes)
    side = ckpt["image_size"]
    return genes.reshape(len(genes), side, side, 3)


def archive_images(run_dir: str | Path, n: int | None = None) -> np.ndarray:
    """Up to n elites of the illuminate run in ``run_dir``, best first."""
    return checkpoint_images(load_checkpoint(last_checkpoint(run_dir), KIND), n)
