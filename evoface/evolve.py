"""The ``evoface evolve`` workflow: run the pixel GA from uniform noise into a run directory, resumably."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from deap import tools
from tqdm import tqdm

from evoface.core import rng as rng_state
from evoface.core.checkpoints import load_checkpoint, save_atomic
from evoface.core.errors import InputError
from evoface.ga.engine import QElitistGA, evaluate_invalid, fitness_statistics, population_arrays
from evoface.core.interrupts import StopRequest
from evoface.core.plots import image_grid, plot_series, save_png
from evoface.rendering import render
from evoface.core.rundir import RunDir
from evoface.scoring import BatchScorer
from evoface.ga.seed_stream import SeedStream
from evoface.core.timelapse import write_timelapse
from evoface.ga.toolbox import SELECTIONS, as_individuals, build_toolbox
from neural.devices import resolve_device
from neural.faceness_store import load_faceness

KIND = "evolve"


@dataclass
class EvolveConfig:
    """Every parameter of one ``evoface evolve`` run."""

    out: str
    fitness: str | None = None          # faceness checkpoint; None = the shipped default
    ensemble: list[str] = field(default_factory=list)  # more faceness checkpoints, scored together with ``fitness``
    ensemble_rule: str = "min"          # how the ensemble's scores combine: min or mean
    size: int | None = None             # image side; None = the fitness model's, else it must match
    mu: int = 100
    q: int = 20
    selection: str = "truncation"
    truncation: int | None = None       # parents are drawn from this many best; None = q
    tournsize: int = 3
    cxpb: float = 1.0
    sigma: float = 0.5                  # crossover cut ~ N(L/2, (sigma*L)^2)
    indpb: float = 0.001
    generations: int | None = None      # total generations (a stopping rule)
    time_limit: float | None = None     # seconds of evolution in total, across resumes (a stopping rule)
    target_fitness: float | None = None  # stop once the best reaches this (a stopping rule)
    checkpoint_every: int = 500
    snapshot_every: int = 100
    detector_every: int = 0             # run the independent face detector on the best image every N generations
    top_k: int = 16
    genome_size: int | None = None      # evolve G x G genomes, shown and scored upsampled; None = the model's size
    tv_weight: float = 0.0              # fitness = faceness - tv_weight * total variation
    blur_sigma: float = 0.0             # score a Gaussian-blurred copy (pixels)
    init_from: str | None = None        # start from this run's final population, resized (coarse-to-fine)
    device: str = "auto"
    precision: str = "auto"             # fitness models: auto (bf16 where it keeps the ranking), fp32 or bf16
    seed: int = 0

    def validate(self) -> None:
        if self.mu < 2:
            raise InputError(f"--mu must be at least 2, got {self.mu}")
        if not 0 <= self.q < self.mu:
            raise InputError(f"--q must be in [0, mu) = [0, {self.mu}), got {self.q}")
        for name in ("cxpb", "indpb"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise InputError(f"--{name} must be a probability in [0, 1], got {getattr(self, name)}")
        if self.selection not in SELECTIONS:
            raise InputError(f"--selection must be one of {', '.join(SELECTIONS)}")
        if self.truncation is not None and not 1 <= self.truncation <= self.mu:
            raise InputError(f"--truncation must be in [1, mu], got {self.truncation}")
        if self.tournsize < 1:
            raise InputError(f"--tournsize must be at least 1, got {self.tournsize}")
        if self.sigma <= 0:
            raise InputError(f"--sigma must be positive, got {self.sigma}")
        if min(self.checkpoint_every, self.snapshot_every) < 1 or self.detector_every < 0:
            raise InputError("--checkpoint-every and --snapshot-every must be >= 1, --detector-every >= 0")
        if self.genome_size is not None and not 4 <= self.genome_size <= 128:
            raise InputError(f"--genome-size must be in [4, 128], got {self.genome_size}")
        if self.tv_weight < 0 or self.blur_sigma < 0:
            raise InputError("--tv-weight and --blur-sigma must be >= 0")
        if self.generations is None and self.time_limit is None and self.target_fitness is None:
            raise InputError("give a stopping rule: --generations, --time-limit or --target-fitness")


@dataclass
class Evolution:
    """The live state of a run: the GA (population, fitness, operators), hall of fame, generation, and the random
    sources: the numpy generator and the operators' seed stream."""

    ga: QElitistGA
    hall_of_fame: tools.HallOfFame
    generation: int
    rng: np.random.Generator
    seeds: SeedStream

    @property
    def population(self) -> list:
        return self.ga.population

    def checkpoint(self, config: EvolveConfig, elapsed: float, image_size: int) -> dict[str, Any]:
        genes, fitness = self.ga.genes, self.ga.fitness
        hof_genes, hof_fitness = population_arrays(list(self.hall_of_fame))
        return {"kind": KIND, "generation": self.generation, "image_size": image_size, "genes": torch.from_numpy(genes),
                "fitness": torch.from_numpy(fitness), "hof_genes": torch.from_numpy(hof_genes),
                "hof_fitness": torch.from_numpy(hof_fitness), "rng": rng_state.capture(self.rng),
                "seed_stream": self.seeds.state, "elites_first": self.ga.elites_first,
                "elapsed": elapsed, "config": dataclasses.asdict(config)}


def _hall_of_fame(size: int) -> tools.HallOfFame:
    return tools.HallOfFame(size, similar=np.array_equal)


def metrics_row(ga: QElitistGA, generation: int, started: float, start_generation: int) -> dict[str, Any]:
    """Fitness statistics, diversity (mean per-gene std over the population) and speed."""
    seconds = max(time.perf_counter() - started, 1e-9)
    return {"generation": generation, **fitness_statistics(ga.fitness), "diversity": ga.diversity,
            "generations_per_s": (generation - start_generation) / seconds}


class EvolveRun:
    """Owns the run directory, the scorer and the evolution; ``run()`` evolves until a stopping rule fires."""

    def __init__(self, config: EvolveConfig, resume: bool):
        config.validate()
        self.config = config
        self.run = RunDir(config.out)
        if not resume and self.run.config_path.exists():
            raise InputError(f"{self.run.path} already holds a run: pass --resume {self.run.path} to continue it, "
                             f"or choose a new --out")
        self.model = load_faceness(config.fitness)
        self.size = self.model.config.size
        if config.size is not None and config.size != self.size:
            raise InputError(f"--size {config.size} does not match the fitness model, which scores "
                             f"{self.size}px images")
        models = [self.model] + [load_faceness(path) for path in config.ensemble]
        self.scorer = BatchScorer(models, resolve_device(config.device), config.genome_size, config.tv_weight,
                                  config.blur_sigma, ensemble_rule=config.ensemble_rule, precision=config.precision)
        self.last_checkpoint = self.run.checkpoints / "last.pt"
        self.elapsed = 0.0
        if resume:
            ckpt = load_checkpoint(self.last_checkpoint, KIND)
            self.elapsed, generation = ckpt["elapsed"], ckpt["generation"]
            rng = np.random.default_rng()
            rng_state.restore(ckpt["rng"], rng)
            seeds = SeedStream(ckpt["seed_stream"]) if "seed_stream" in ckpt else SeedStream.from_generator(rng)
            if ckpt["genes"].shape[1] != self.scorer.genome_length:
                raise InputError(f"the run's genomes do not match its {self.size}px fitness model")
            self.run.truncate_metrics("generation", generation)
        else:
            rng, generation = rng_state.seed_everything(config.seed), 0
            seeds = SeedStream.from_generator(rng)
        self.toolbox = build_toolbox(self.scorer, rng, seeds, sigma=config.sigma, cxpb=config.cxpb, indpb=config.indpb,
                                     selection=config.selection, truncation=config.truncation or max(config.q, 2),
                                     tournsize=config.tournsize)
        hall_of_fame = _hall_of_fame(config.top_k)
        if resume:
            population = as_individuals(ckpt["genes"].numpy().copy(), ckpt["fitness"].numpy())
            hall_of_fame.update(as_individuals(ckpt["hof_genes"].numpy().copy(), ckpt["hof_fitness"].numpy()))
            elites_first = ckpt.get("elites_first", True)  # evoface 0.1 kept its elites in the first rows
        else:
            elites_first = True
            if config.init_from:
                population = as_individuals(self._initial_genes_from(config.init_from))
            else:
                population = self.toolbox.population(config.mu, self.scorer.genome_length)
            evaluate_invalid(population, self.toolbox)
            hall_of_fame.update(population)
        self.evolution = Evolution(QElitistGA(population, self.toolbox, config.q, elites_first), hall_of_fame,
                                   generation, rng, seeds)
        if not resume:
            self.run.write_config(config)

    def _initial_genes_from(self, run_dir: str) -> np.ndarray:
        """Another run's final population, best first, resized to this run's genome (coarse-to-fine)."""
        ckpt = load_checkpoint(Path(run_dir) / "checkpoints" / "last.pt", KIND)
        order = np.argsort(-ckpt["fitness"].numpy(), kind="stable")
        genes = ckpt["genes"].numpy()[order]
        genes = genes[np.arange(self.config.mu) % len(genes)]  # repeat the best when mu is larger
        images = render(genes, self.scorer.genome_size)
        return np.ascontiguousarray(images.reshape(len(images), -1))

    def _sync_hall_of_fame(self) -> tools.HallOfFame:
        """Bring the hall of fame up to date from the population's best top_k and return it."""
        self.evolution.hall_of_fame.update(tools.selBest(self.evolution.population, self.config.top_k))
        return self.evolution.hall_of_fame

    def image(self, individual: np.ndarray) -> np.ndarray:
        """The individual as the fitness model sees it: (size, size, 3) uint8."""
        return render(np.asarray(individual)[None], self.size)[0]

    def _snapshot(self) -> None:
        best = self._sync_hall_of_fame()[0]
        save_png(image_grid(self.image(best)[None], scale=4, pad=0),  # every snapshot_every generations: fast
                 self.run.samples / f"best_{self.evolution.generation:07d}.png", compress_level=1)

    def _detector_column(self, row: dict[str, Any]) -> None:
        from neural.face_detector import detect_faces

        row["best_face_detected"] = bool(detect_faces(self.image(self._sync_hall_of_fame()[0])[None])[0])

    def _save(self, started: float) -> None:
        self._sync_hall_of_fame()
        save_atomic(self.evolution.checkpoint(self.config, self.elapsed + time.perf_counter() - started, self.size),
                    self.last_checkpoint)

    def _should_stop(self, started: float) -> str | None:
        config, evolution = self.config, self.evolution
        if config.generations is not None and evolution.generation >= config.generations:
            return f"reached {config.generations} generations"
        if config.time_limit is not None and self.elapsed + time.perf_counter() - started >= config.time_limit:
            return f"time limit of {config.time_limit:g}s reached"
        if config.target_fitness is not None and evolution.ga.fitness.max() >= config.target_fitness:
            return f"target fitness {config.target_fitness:g} reached"
        return None

    def run_until_stop(self) -> dict[str, Any]:
        config, evolution = self.config, self.evolution
        started = time.perf_counter()
        start_generation = evolution.generation
        rows: list[dict[str, Any]] = []
        if evolution.generation == 0:
            self._snapshot()
        ga = evolution.ga
        bar = tqdm(total=config.generations, initial=evolution.generation, desc="evolve", unit="gen", disable=None)
        reason = None
        with StopRequest() as stop:
            while True:
                reason = self._should_stop(started) or ("interrupted" if stop else None)
                if reason:
                    break
                ga.step()
                if config.q < config.top_k:  # otherwise elitism keeps the best top_k: sync when read
                    self._sync_hall_of_fame()
                evolution.generation += 1
                row = metrics_row(ga, evolution.generation, started, start_generation)
                if config.detector_every and evolution.generation % config.detector_every == 0:
                    self._detector_column(row)
                rows.append(row)
                bar.update(1)
                if evolution.generation % 20 == 0:
                    bar.set_postfix(best=f"{row['max']:.4f}", mean=f"{row['mean']:.3f}")
                if evolution.generation % config.snapshot_every == 0:
                    self._snapshot()
                if evolution.generation % config.checkpoint_every == 0:
                    self.run.append_metrics(rows)
                    rows = []
                    self._save(started)
        bar.close()
        self.run.append_metrics(rows)
        self._save(started)
        self._snapshot()
        return {"reason": reason, **self.write_outputs()}

    def write_outputs(self) -> dict[str, Any]:
        """Final grid of the hall of fame, fitness curve, timelapse GIF; returns a summary."""
        evolution = self.evolution
        top = np.stack([self.image(ind) for ind in self._sync_hall_of_fame()])
        grid = save_png(image_grid(top, scale=3), self.run.path / "top_grid.png")
        rows = self.run.read_metrics()
        plot_series(rows, "generation", ["max", "mean", "min"], self.run.plots / "fitness.png",
                    "evolve: faceness of the population", "faceness")
        gif = write_timelapse(sorted(self.run.samples.glob("best_*.png")), self.run.path / "timelapse.gif")
        best = evolution.hall_of_fame[0].fitness.values[0]
        return {"generation": evolution.generation, "best_fitness": best, "grid": str(grid), "gif": str(gif),
                "run": str(self.run.path)}


def evolve(config: EvolveConfig, resume: bool = False) -> dict[str, Any]:
    """Start or resume an evolve run; returns why it stopped and where its outputs are."""
    return EvolveRun(config, resume).run_until_stop()


STOPPING_RULES = ("generations", "time_limit", "target_fitness")


def resume_config(run_dir: str | Path, **overrides: Any) -> EvolveConfig:
    """The stored config of a run with the non-None overrides applied; stopping rules given now replace all stored
    ones (so ``--generations`` alone is not cut short by a stored time limit)."""
    config = RunDir(run_dir, create=False).read_config(EvolveConfig)
    config.out = str(run_dir)
    overrides = {k: v for k, v in overrides.items() if v is not None}
    if any(rule in overrides for rule in STOPPING_RULES):
        overrides = {**dict.fromkeys(STOPPING_RULES), **overrides}
    return dataclasses.replace(config, **overrides)

