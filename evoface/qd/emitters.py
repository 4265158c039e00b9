"""The emitters of ``evoface illuminate``, from pyribs: CMA-ME (``EvolutionStrategyEmitter``) for the latent genome,
and ``OperatorEmitter``, a MAP-Elites GA whose variation is the project's own block operators (normal-point crossover,
then the genome's mutation), asked and told through pyribs like any emitter.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import numpy as np
from ribs.emitters import EmitterBase, EvolutionStrategyEmitter

from evoface.ga.face_space_mutation import FaceBasis, random_faces
from evoface.ga.operators import cx_normal_point_rows, fill_foreign, mutate_latent_block
from evoface.ga.seed_stream import SeedStream

EMITTERS = ("cma-me", "ga")


class OperatorEmitter(EmitterBase):
    """A GA on the archive: each ``ask`` draws ``batch_size`` parents uniformly from the elites (pyribs'
    ``sample_elites``), crosses them in pairs with ``mate(source, rows, out)`` and changes the children in place with
    ``mutate(block)``; while the archive is empty it asks ``initial(n)`` for fresh genomes. ``tell`` keeps nothing:
    selection is the archive's (MAP-Elites). ``seeds`` is the operators' random source (saved with the emitter)."""

    def __init__(self, archive, *, mate: Callable, mutate: Callable, initial: Callable[[int], np.ndarray],
                 seeds: SeedStream, batch_size: int, bounds: tuple[float, float] = (-np.inf, np.inf)):
        dim = archive.solution_dim
        super().__init__(archive, solution_dim=dim, bounds=None, lower_bounds=np.full(dim, bounds[0]),
                         upper_bounds=np.full(dim, bounds[1]))
        self._mate, self._mutate, self._initial = mate, mutate, initial
        self.seeds, self._batch_size = seeds, batch_size

    @property
    def batch_size(self) -> int:
        return self._batch_size

    def ask(self) -> np.ndarray:
        if self.archive.empty:
            return self._initial(self._batch_size)
        parents = np.ascontiguousarray(self.archive.sample_elites(self._batch_size)["solution"])
        children = np.empty_like(parents)
        self._mate(parents, np.arange(self._batch_size), children)  # pairs (0, 1), (2, 3), ... cross
        self._mutate(children)
        return children

    def tell(self, solution, objective, measures, add_info, **fields) -> None:
        """MAP-Elites: the archive has kept what improves it; the GA itself has no state to update."""


def latent_ga(archive, seeds: SeedStream, batch_size: int, *, sigma: float, latent_sigma: float,
              latent_indpb: float) -> OperatorEmitter:
    """The latent genome's GA emitter: the latent GA's normal-point crossover and Gaussian mutation (codes kept at
    norm sqrt(k), where the decoder's training codes lie); N(0, I) codes to start."""
    def initial(n: int) -> np.ndarray:
        block = np.empty((n, archive.solution_dim), np.float32)
        fill_foreign(block, seeds)
        return block

    return OperatorEmitter(archive, mate=partial(cx_normal_point_rows, sigma=sigma, cxpb=1.0, seeds=seeds),
                           mutate=partial(mutate_latent_block, indpb=latent_indpb, sigma=latent_sigma, foreign=0,
                                          seeds=seeds, sphere=True),
                           initial=initial, seeds=seeds, batch_size=batch_size)


def pixel_ga(archive, seeds: SeedStream, batch_size: int, *, sigma: float, mutate: Callable,
             basis: FaceBasis) -> OperatorEmitter:
    """The pixel genome's GA emitter: normal-point crossover over the uint8 image and the pixel GA's default
    mutation (``mutate``, built by ``evoface.evolve_build.pixel_mutation``); random face-space draws to start."""
    return OperatorEmitter(archive, mate=partial(cx_normal_point_rows, sigma=sigma, cxpb=1.0, seeds=seeds),
                           mutate=mutate, initial=partial(random_faces, basis, seeds=seeds), seeds=seeds,
                           batch_size=batch_size, bounds=(0, 255))


def cma_me(archive, seed: int, batch_size: int, *, sigma0: float) -> EvolutionStrategyEmitter:
    """CMA-ME (Fontaine et al. 2020): CMA-ES from the zero code with step ``sigma0``, ranking its children by their
    improvement of the archive (pyribs' "2imp" ranker), restarting when none improves it."""
    x0 = np.zeros(archive.solution_dim, archive.dtypes["solution"])
    return EvolutionStrategyEmitter(archive, x0=x0, sigma0=sigma0, ranker="2imp", selection_rule="filter",
                                    restart_rule="no_improvement", batch_size=batch_size, seed=seed)
