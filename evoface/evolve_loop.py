"""The evolve loop, as DEAP's ``eaSimple`` is written: a population and its operators in, then a short loop of one
generation step, one metrics row, and the hooks whose cadence has come (snapshots, checkpoints, the progress bar),
until a stopping rule says why to stop. A single population and every island of the island model run this loop."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from evoface.core.words import plural
from evoface.evolve_build import Evolution
from evoface.ga.engine import fitness_statistics
from evoface.kernels.allocator import large_blocks_on_heap
from evoface.kernels.threads import MachineShare


@dataclass(frozen=True)
class StoppingRules:
    """An evolve run's stopping rules: total generations, seconds of evolution in all, a best fitness to reach (None:
    not a rule)."""

    generations: int | None = None
    time_limit: float | None = None
    target_fitness: float | None = None

    @classmethod
    def of(cls, config: Any) -> "StoppingRules":
        return cls(config.generations, config.time_limit, config.target_fitness)

    def reason(self, generation: int, elapsed: float, best: float) -> str | None:
        """Why the run stops now, or None to go on."""
        if self.generations is not None and generation >= self.generations:
            return f"reached {plural(self.generations, 'generation')}"
        if self.time_limit is not None and elapsed >= self.time_limit:
            return f"time limit of {self.time_limit:g}s reached"
        if self.target_fitness is not None and best >= self.target_fitness:
            return f"target fitness {self.target_fitness:g} reached"
        return None


@dataclass(frozen=True)
class Hook:
    """``call(evolution)`` after every generation that is a multiple of ``every`` (snapshots, checkpoints)."""

    every: int
    call: Callable[[Evolution], None]


class Clock:
    """Seconds of evolution: those before this process, plus this process's since ``start``."""

    def __init__(self, before: float):
        self.before, self.started = before, time.perf_counter()

    def elapsed(self) -> float:
        return self.before + time.perf_counter() - self.started

    def since_start(self) -> float:
        return max(time.perf_counter() - self.started, 1e-9)


def metrics_row(evolution: Evolution, clock: Clock, start_generation: int) -> dict[str, Any]:
    """Fitness statistics, diversity (mean per-gene std over the population) and speed of the generation now."""
    return {"generation": evolution.generation, **fitness_statistics(evolution.ga.fitness),
            "diversity": evolution.ga.diversity,
            "generations_per_s": (evolution.generation - start_generation) / clock.since_start()}


def step(evolution: Evolution) -> None:
    """One generation: the GA step, then the hall of fame where elitism does not keep it."""
    evolution.ga.step()
    config = evolution.config
    if config.q < config.top_k or evolution.niche_radius:  # otherwise elitism keeps the best top_k: sync when read
        evolution.sync_hall_of_fame()
    evolution.generation += 1


def evolve_until(evolution: Evolution, should_stop: Callable[[Clock], str | None],
                 record: Callable[[dict[str, Any]], None], hooks: Iterable[Hook] = ()) -> str:
    """Evolve until ``should_stop(clock)`` gives a reason, and return it. After each generation, ``record`` takes its
    metrics row (DEAP's logbook), then each hook whose cadence has come runs. ``evolution.elapsed`` counts the seconds
    of evolution in all, across resumes. The run shares the machine's cores with other runs (``MachineShare``)."""
    clock, start_generation = Clock(evolution.elapsed), evolution.generation
    with MachineShare() as share, large_blocks_on_heap():
        while not (reason := should_stop(clock)):
            share.update()
            step(evolution)
            evolution.elapsed = clock.elapsed()
            record(metrics_row(evolution, clock, start_generation))
            for hook in hooks:
                if evolution.generation % hook.every == 0:
                    hook.call(evolution)
    return reason


def evolve_generations(evolution: Evolution, count: int) -> list[dict[str, Any]]:
    """``count`` more generations (an island's stretch between migrations); their metrics rows."""
    last, rows = evolution.generation + count, []
    evolve_until(evolution, lambda clock: "done" if evolution.generation >= last else None, rows.append)
    return rows
