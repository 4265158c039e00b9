"""The tensor engine: ``QElitistGA`` with its gene buffer on a torch device, so that on a GPU the whole generation
runs there (crossover, elitism, mutation and the fitness forward) and no genes cross to the host.

The fitness vector and the rows' bookkeeping (selection, the crossover cuts, which elites move) stay on the host: a
hundred numbers a generation, the ones the run's metrics read anyway. The host's copy of the genes is brought up to
date only when it is read (``genes``, ``population``: snapshots, checkpoints, the hall of fame). On a CPU the two
buffers are apart too, so the tests there cover what a GPU runs; on a CPU the fast engine's compiled operators are
faster (``evoface.evolve.resolved_engine``).
"""

from __future__ import annotations

import numpy as np
import torch

from evoface.ga.engine import QElitistGA
from evoface.ga.tensor_operators import diversity_tensor, keep_elites_tensor


class TensorGA(QElitistGA):
    """``QElitistGA`` whose toolbox's ``mate`` and ``mutate`` take tensors on ``device`` (``tensor_operators``)."""

    keep_elites = staticmethod(keep_elites_tensor)
    measure_diversity = staticmethod(diversity_tensor)

    def __init__(self, population: list, toolbox, q: int, device: torch.device, elites_first: bool = True):
        self._host_current = True
        super().__init__(population, toolbox, q, elites_first)
        self._working_buffer = torch.from_numpy(self._buffer).to(device, copy=True)

    @property
    def genes(self) -> np.ndarray:
        """The current generation's host copy, to read: a write there does not reach the device (``replace`` writes
        both)."""
        window = self._windows[self._phase]
        if not self._host_current:
            self._buffer[window] = self._working_buffer[window].cpu().numpy()
            self._host_current = True
        return self._buffer[window]

    @property
    def population(self) -> list:
        self.genes  # the host's copy, which the individuals view, brought up to date
        return super().population

    def replace(self, rows: np.ndarray, genes: np.ndarray, fitness: np.ndarray) -> None:
        self.genes  # the other rows' host copy up to date first
        super().replace(rows, genes, fitness)
        window = self._windows[self._phase]
        self._working_buffer[window].copy_(torch.from_numpy(self._buffer[window]))

    def _genes_changed(self) -> None:
        self._host_current = False
