"""The build step of an illuminate run: ``IlluminateConfig`` (and, to resume, a checkpoint dict) -> an
``Illumination``: evolve's scorer, the genome, the measures, and pyribs' archive, emitters and scheduler, ready for
the ask / evaluate / tell loop of ``evoface.illuminate``. The checkpoint schema is declared here, beside
``Illumination.state`` that writes it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from ribs.archives import GridArchive
from ribs.schedulers import Scheduler

from evoface.core import rng as rng_state
from evoface.core.errors import InputError
from evoface.evolve_build import Scoring, build_scoring, pixel_mutation
from evoface.ga.face_space_mutation import FaceBasis, random_faces
from evoface.ga.seed_stream import SeedStream
from evoface.illuminate_config import KIND, IlluminateConfig
from evoface.latent_genome import LatentGenome
from evoface.qd import archive_state
from evoface.qd.emitters import cma_me, latent_ga, pixel_ga
from evoface.qd.measures import (Measure, MeasureContext, built_in, evaluate_measures, format_ranges,
                                 parse_ranges)
from neural.face_space import load_face_space

# The checkpoint of an illuminate run (checkpoints/last.pt): "kind", "iteration", "evaluations", "elapsed", "config"
# (the IlluminateConfig as a dict), "genome", "decoder" (latent), "measures" (names) and "ranges" ((m, 2) lows and
# highs), "archive", "emitters" and "scheduler" (pyribs' state, ``evoface.qd.archive_state``), "rng" (python's,
# numpy's and torch's global random states).
STATE_KEYS = ("iteration", "evaluations", "elapsed", "config", "genome", "measures", "ranges", "archive", "emitters",
              "scheduler", "rng")


@dataclass
class Illumination:
    """A built run: its config, scorer, genome (the latent one, or None for pixels), measures, pyribs' archive and
    scheduler, and how far it got."""

    config: IlluminateConfig
    scoring: Scoring
    latent: LatentGenome | None
    measures: list[Measure]
    archive: GridArchive
    scheduler: Scheduler
    iteration: int = 0
    evaluations: int = 0
    elapsed: float = 0.0

    @property
    def size(self) -> int:
        return self.scoring.scorer.size

    def images(self, genes: np.ndarray) -> np.ndarray:
        """(n, L) genes -> (n, S, S, 3) uint8 images, as the fitness model sees them."""
        if self.latent:
            return self.latent.images(np.ascontiguousarray(genes, np.float32))
        return np.ascontiguousarray(genes, np.uint8).reshape(len(genes), self.size, self.size, 3)

    def evaluate(self, genes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(objective (n,), measures (n, m)) of a batch, decoded once and scored in one scorer call."""
        images = self.images(genes)
        objective = self.scoring.scorer(images.reshape(len(images), -1))
        return objective, evaluate_measures(self.measures, images, genes)

    def step(self) -> None:
        """One iteration: every emitter asks, the batch is evaluated, the archive and emitters are told."""
        genes = self.scheduler.ask()
        objective, measures = self.evaluate(genes)
        self.scheduler.tell(objective, measures)
        self.iteration += 1
        self.evaluations += len(genes)

    def state(self, elapsed: float) -> dict[str, Any]:
        """The checkpoint dict of the run now (schema: ``STATE_KEYS``)."""
        emitters = self.scheduler.emitters
        genome = self.latent.checkpoint_fields() if self.latent else {"genome": "pixel"}
        return {"kind": KIND, "iteration": self.iteration, "evaluations": self.evaluations, "elapsed": elapsed,
                "config": dataclasses.asdict(self.config), **genome,
                "measures": [m.name for m in self.measures], "ranges": [[m.low, m.high] for m in self.measures],
                "image_size": self.size, "archive": archive_state.capture(self.archive),
                "emitters": [archive_state.capture(e, shared=(self.archive,)) for e in emitters],
                "scheduler": archive_state.capture(self.scheduler, shared=(self.archive, *emitters)),
                "rng": rng_state.capture()}


def resolve_measures(config: IlluminateConfig, scoring: Scoring, latent: LatentGenome | None,
                     custom: list[Measure] | None = None) -> list[Measure]:
    """The run's measures: ``custom`` ones (Python callables) by name, the built-in ones for the rest; with the
    config's ranges where given, else each measure's own (real faces'); InputError for one that does not fit."""
    by_name = {m.name: m for m in custom or []}
    names = config.measure_names
    face_space = scoring.face_space
    if face_space is None and any(n.startswith("face-space:") and n not in by_name for n in names):
        face_space = load_face_space(config.prior_model)
    context = MeasureContext(config.genome, scoring.scorer.size, face_space, config.prior_model is None,
                             latent.length if latent else None)
    measures = [by_name[name] if name in by_name else built_in(name, context) for name in names]
    if config.ranges is not None:
        measures = [m.with_range(low, high) for m, (low, high) in zip(measures, parse_ranges(config.ranges,
                                                                                             len(measures)))]
    for m in measures:
        if not m.low < m.high:
            raise InputError(f"measure {m.name}: its range {m.low:g}..{m.high:g} is empty")
    return measures


def new_archive(config: IlluminateConfig, measures: list[Measure], length: int, seed: int) -> GridArchive:
    """An empty archive of the run's cells over its measures' ranges (objective offset 0: QD-score is the sum of the
    elites' objectives)."""
    return GridArchive(solution_dim=length, dims=config.dims, ranges=[(m.low, m.high) for m in measures],
                       seed=seed, solution_dtype=np.float32 if config.genome == "latent" else np.uint8,
                       objective_dtype=np.float64, measures_dtype=np.float64)


def _emitters(config: IlluminateConfig, archive: GridArchive, scoring: Scoring, seeds: list[int]) -> list:
    """``config.emitter_count`` emitters of ``config.emitters``, each seeded from its own seed."""
    if config.emitters == "cma-me":
        return [cma_me(archive, seed, config.batch, sigma0=config.latent_sigma) for seed in seeds]
    if config.genome == "latent":
        return [latent_ga(archive, SeedStream(seed), config.batch, sigma=config.sigma,
                          latent_sigma=config.latent_sigma, latent_indpb=config.latent_indpb) for seed in seeds]
    evolve_config, basis = config.scoring_config(), FaceBasis.of(scoring.face_space)
    side = scoring.face_space.config.size
    emitters = []
    for seed in seeds:
        stream = SeedStream(seed)
        mutate = pixel_mutation(evolve_config, basis, scoring.scorer.size, side, stream)
        emitters.append(pixel_ga(archive, stream, config.batch, sigma=config.sigma, mutate=mutate, basis=basis))
    return emitters


def random_genomes(illumination: Illumination, n: int, seeds: SeedStream) -> np.ndarray:
    """The random-sampling baseline's genomes: N(0, I) decoder codes, or random face-space draws for pixels."""
    if illumination.latent:
        return np.random.default_rng(seeds.next_seed()).standard_normal(
            (n, illumination.latent.length), dtype=np.float32)
    return random_faces(FaceBasis.of(illumination.scoring.face_space), n, seeds)


def build_illumination(config: IlluminateConfig, state: dict[str, Any] | None = None,
                       measures: list[Measure] | None = None, target_path: str | Path | None = None) -> Illumination:
    """An ``Illumination`` of ``config`` (validated), fresh from its seed or, with ``state`` (a checkpoint dict, see
    ``STATE_KEYS``), exactly where that state was. ``measures``: Python measures named in ``config.measures``;
    ``target_path``: the run's stored target, read instead of ``config.target``."""
    config.validate()
    scoring = build_scoring(config.scoring_config(), target_path)
    latent = LatentGenome(config.decoder, scoring.scorer.size, scoring.scorer.device) if config.genome == "latent" \
        else None
    measures = resolve_measures(config, scoring, latent, measures)
    if config.ranges is None:
        config.ranges = format_ranges(measures)  # stored in config.json: a resumed run spans the same cells
    length = latent.length if latent else scoring.scorer.genome_length
    rng = rng_state.seed_everything(config.seed)
    archive_seed, *emitter_seeds = (int(s) for s in rng.integers(0, 2**63, config.emitter_count + 1))
    archive = new_archive(config, measures, length, archive_seed)
    emitters = _emitters(config, archive, scoring, emitter_seeds)
    scheduler = Scheduler(archive, emitters)
    illumination = Illumination(config, scoring, latent, measures, archive, scheduler)
    if state is not None:
        if state["measures"] != [m.name for m in measures] or state["archive"]["_store"]["_fields"]["solution"] \
                .shape[1] != length:
            raise InputError("the run's checkpoint does not match its config (measures or genome length)")
        archive_state.restore(archive, state["archive"])
        for emitter, saved in zip(emitters, state["emitters"], strict=True):
            archive_state.restore(emitter, saved)
        archive_state.restore(scheduler, state["scheduler"])
        rng_state.restore(state["rng"])
        illumination.iteration, illumination.evaluations = state["iteration"], state["evaluations"]
        illumination.elapsed = state["elapsed"]
    return illumination
