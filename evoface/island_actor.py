"""One island of the island model: a single population (its own scorer, toolbox and GA, ``evoface.evolve_build``)
that a Ray actor holds and steps through the evolve loop (``evoface.evolve_loop``). Plain Python:
``evoface.islands`` wraps it with ``ray.remote``."""

from __future__ import annotations

import os
import signal
import threading
from typing import Any

import numpy as np
import torch

from evoface.evolve_build import Evolution, build_evolution
from evoface.evolve_loop import evolve_generations
from evoface.island_state import best_rows, island_config, worst_rows
from evoface.kernels import switch


class Island:
    """Island ``index`` of the run ``config``: started from the run's derived seed, or from ``state`` (its
    checkpoint dict, see ``evoface.island_state.split_state``), handed over in memory: the run's folder is the
    driver's, so an island needs no shared file system."""

    def __init__(self, config: Any, index: int, state: dict[str, Any] | None = None):
        torch.set_num_threads(1)
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's: it stops every island at once
        switch.select(config.kernels)
        self.config, self.index = config, index
        self.restore(state)

    def restore(self, state: dict[str, Any] | None) -> int:
        """(Re)build the island, fresh or from a checkpoint dict; returns its generation."""
        self.evolution: Evolution = build_evolution(island_config(self.config, self.index, ""), state)
        return self.evolution.generation

    def where(self) -> dict[str, Any]:
        """The worker process and Ray node this island runs on."""
        import ray  # present wherever an island runs: Ray started it

        return {"pid": os.getpid(), "node": ray.get_runtime_context().get_node_id()}

    def advance(self, generations: int) -> list[dict[str, Any]]:
        """Evolve ``generations`` generations; their metrics rows, each with an ``island`` column."""
        return [{**row, "island": self.index} for row in evolve_generations(self.evolution, generations)]

    def state(self) -> dict[str, Any]:
        return self.evolution.state(self.evolution.elapsed)

    def emigrants(self, count: int) -> tuple[np.ndarray, np.ndarray]:
        """Copies of the ``count`` best-ranked individuals' genes and fitness, best first (by fitness; with niching,
        by its ranking, so that they come from distinct niches)."""
        ga = self.evolution.ga
        rows = best_rows(ga.ranking(), count)
        return ga.genes[rows].copy(), ga.fitness[rows].copy()

    def immigrate(self, genes: np.ndarray, fitness: np.ndarray) -> None:
        """Replace the worst-ranked individuals with ``genes`` (already evaluated: ``fitness``)."""
        ga = self.evolution.ga
        ga.replace(worst_rows(ga.ranking(), len(genes)), genes, fitness)

    def best(self, count: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The hall of fame's ``count`` best as images the fitness model sees, (n, size, size, 3) uint8, their
        fitness and their genes."""
        top = list(self.evolution.sync_hall_of_fame())[:count]
        genes = np.stack(top)
        fitness = np.array([individual.fitness.values[0] for individual in top])
        return self.evolution.images(genes), fitness, genes
