"""One island of the island model: a single-population ``EvolveRun`` (its own scorer, toolbox and GA) that a Ray
actor holds and steps. Plain Python: ``evoface.islands`` wraps it with ``ray.remote``."""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from evoface.core.allocator import large_blocks_on_heap
from evoface.core.checkpoints import save_atomic
from evoface.core.rundir import RunDir
from evoface.evolve import EvolveRun
from evoface.island_state import best_rows, island_config, worst_rows


class Island:
    """Island ``index`` of the run ``config``: started from the run's derived seed, or from ``state`` (its
    checkpoint dict, see ``evoface.island_state.split_state``). The run's folder is the driver's: the island builds
    its ``EvolveRun`` in a private temporary folder, removed once built, so it needs no shared file system."""

    def __init__(self, config: Any, index: int, state: dict[str, Any] | None = None):
        torch.set_num_threads(1)
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's: it stops every island at once
        self.config, self.index = config, index
        self.restore(state)

    def restore(self, state: dict[str, Any] | None) -> int:
        """(Re)build the island, fresh or from a checkpoint dict; returns its generation."""
        scratch = Path(tempfile.mkdtemp(prefix=f"evoface-island{self.index}-"))
        try:
            config = island_config(self.config, self.index, str(scratch / "run"))
            if state is not None:
                run_dir = RunDir(config.out)
                run_dir.write_config(config)
                save_atomic(state, run_dir.checkpoints / "last.pt")
            self.run = EvolveRun(config, resume=state is not None)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        self.started, self.start_generation = time.perf_counter(), self.run.evolution.generation
        return self.start_generation

    def where(self) -> dict[str, Any]:
        """The worker process and Ray node this island runs on."""
        import ray

        return {"pid": os.getpid(), "node": ray.get_runtime_context().get_node_id()}

    def advance(self, generations: int) -> list[dict[str, Any]]:
        """Evolve ``generations`` generations; their metrics rows, each with an ``island`` column."""
        with large_blocks_on_heap(self.run.keep_blocks_on_heap):
            rows = [self.run.advance(self.started, self.start_generation) for _ in range(generations)]
        return [{**row, "island": self.index} for row in rows]

    def state(self) -> dict[str, Any]:
        return self.run.state(self.started)

    def emigrants(self, count: int) -> tuple[np.ndarray, np.ndarray]:
        """Copies of the ``count`` best-ranked individuals' genes and fitness, best first (by fitness; with niching,
        by its ranking, so that they come from distinct niches)."""
        ga = self.run.evolution.ga
        rows = best_rows(ga.ranking(), count)
        return ga.genes[rows].copy(), ga.fitness[rows].copy()

    def immigrate(self, genes: np.ndarray, fitness: np.ndarray) -> None:
        """Replace the worst-ranked individuals with ``genes`` (already evaluated: ``fitness``)."""
        ga = self.run.evolution.ga
        ga.replace(worst_rows(ga.ranking(), len(genes)), genes, fitness)

    def best(self, count: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The hall of fame's ``count`` best as images the fitness model sees, (n, size, size, 3) uint8, their
        fitness and their genes."""
        state = self.run.state(self.started)  # brings the hall of fame up to date
        genes, fitness = state["hof_genes"].numpy()[:count], state["hof_fitness"].numpy()[:count]
        return self.run.images(genes), fitness, genes
