"""What the speed benches share: a built evolve run, warmed up, whose scorer is timed, and generations of the real
loop (``evoface.evolve_loop``) timed on it, in all and part by part. Only ratios from one bench run compare; absolute
figures hold for the machine printed with them."""

from __future__ import annotations

import time
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

import numpy as np
from deap import base

from evoface.evolve_build import Evolution, build_evolution
from evoface.evolve_config import EvolveConfig
from evoface.evolve_loop import evolve_generations
from evoface.kernels import switch
from neural.faceness import FacenessConfig, FacenessNet
from neural.faceness_store import save_faceness

WARMUP_GENERATIONS = 20
# the method's own fitness (faceness) and per-gene mutation, which every image size has (the default realism prior
# and face-space mutation ship for 64 px only)
ORIGINAL = {"prior": "none", "mutation": "reset"}


class TimedScorer:
    """Wraps a scorer and records when each call starts and how long it takes."""

    def __init__(self, scorer):
        self.scorer, self.starts, self.seconds = scorer, [], []

    def __getattr__(self, name):
        return getattr(self.scorer, name)

    def __call__(self, genes):
        start = time.perf_counter()
        try:
            return self.scorer(genes)
        finally:
            self.starts.append(start)
            self.seconds.append(time.perf_counter() - start)

    def generation_figures(self) -> tuple[float, float, float]:
        """(generations/s, share of time outside the forward pass, microseconds per generation outside it), from the
        start of the first call to the start of the last: whole generations, none of a run's start or end."""
        generations, span = len(self.starts) - 1, self.starts[-1] - self.starts[0]
        inside = sum(self.seconds[:-1])
        return generations / span, 1.0 - inside / span, (span - inside) / generations * 1e6


def kernels_of(config: EvolveConfig) -> AbstractContextManager:
    """The kernels ``config`` asks for, as a context: ``switch.plain()`` for ``kernels="plain"``. The evolve command
    sets the switch for its whole process; a bench that times several runs in turns sets it around each."""
    return switch.plain() if config.kernels == "plain" else nullcontext()


def timed_run(config: EvolveConfig, toolbox: base.Toolbox | None = None, warmup: int = WARMUP_GENERATIONS,
              batch_size: int | None = None) -> tuple[Evolution, TimedScorer]:
    """The run of ``config``, built and warmed up for ``warmup`` generations (numba's cached kernels loaded, torch
    warm, the forward's graphs traced), its scorer timed from then on; one forward pass per ``batch_size`` images
    (None: the default chunks)."""
    with kernels_of(config):
        evolution = build_evolution(config, toolbox=toolbox)
        evolution.scorer.batch_size = batch_size
        evolve_generations(evolution, warmup)
    timed = TimedScorer(evolution.toolbox.evaluate)
    evolution.toolbox.register("evaluate", timed)
    return evolution, timed


def warm_run(size: int, device: str, workdir: Path, batch_size: int | None = None, precision: str = "auto",
             shipped: bool = False, options: dict | None = None,
             width: int = FacenessConfig.width) -> tuple[Evolution, TimedScorer]:
    """A warmed-up run of an untrained faceness net at ``size`` px and first-block ``width`` (mu=100, q=20;
    ``shipped``: the shipped 64 px model), its scorer timed; one forward pass per ``batch_size`` images (None: the
    default chunks), the models at ``precision``; ``options``: more evolve options (default: ``ORIGINAL``)."""
    workdir.mkdir(parents=True, exist_ok=True)
    model_path = workdir / f"faceness{size}-{width}.pt"
    save_faceness(FacenessNet(FacenessConfig(size=size, width=width)).eval(), model_path)
    options = dict(ORIGINAL if options is None else options)
    config = EvolveConfig(out=str(workdir / "unused"), fitness=None if shipped else str(model_path),
                          generations=None, time_limit=1e8, device=device, seed=0, precision=precision, **options)
    return timed_run(config, batch_size=batch_size)


def time_generations(run: Evolution, timed: TimedScorer, generations: int) -> tuple[float, float, float]:
    """``TimedScorer.generation_figures`` of ``generations`` (at least 2) more generations of the real loop."""
    if generations < 2:
        raise ValueError(f"a rate takes at least 2 timed generations, got {generations}")
    timed.starts, timed.seconds = [], []
    with kernels_of(run.config):
        evolve_generations(run, generations)
    return timed.generation_figures()


class Stopwatch:
    """Wraps a callable and adds up the seconds spent in it."""

    def __init__(self, call):
        self.call, self.seconds = call, 0.0

    def __call__(self, *args):
        start = time.perf_counter()
        try:
            return self.call(*args)
        finally:
            self.seconds += time.perf_counter() - start


def time_parts(run: Evolution, timed: TimedScorer, generations: int) -> dict[str, float]:
    """Milliseconds per generation of ``generations`` more generations of the real loop, in all and in: the faceness
    forward, the realism prior (inside the scorer; 0 without one), the mutation, and the rest (crossover, selection,
    elitism, metrics)."""
    scorer, toolbox = run.scorer, run.toolbox
    original_prior, original_mutate = scorer.prior, toolbox.mutate
    prior, mutation = Stopwatch(original_prior) if original_prior is not None else None, Stopwatch(original_mutate)
    scorer.prior = prior
    toolbox.register("mutate", mutation)
    try:
        rate, _, _ = time_generations(run, timed, generations)
    finally:
        scorer.prior = original_prior
        toolbox.register("mutate", original_mutate)
    per_generation = 1000 / generations
    inside, prior_ms = sum(timed.seconds[:-1]) * per_generation, (prior.seconds if prior else 0.0) * per_generation
    parts = {"faceness forward": inside - prior_ms, "realism prior": prior_ms,
             "mutation": mutation.seconds * per_generation}
    parts["the rest"] = 1000 / rate - sum(parts.values())
    return {"generation": 1000 / rate, **parts}


def median_parts(turns: list[dict[str, float]]) -> dict[str, float]:
    """The median of each part over ``time_parts`` turns."""
    return {name: float(np.median([turn[name] for turn in turns])) for name in turns[0]}


def parts_text(parts: dict[str, float]) -> str:
    """"generation 5.07, faceness forward 2.57, ...": milliseconds per generation."""
    return ", ".join(f"{name} {value:.2f}" for name, value in parts.items())
