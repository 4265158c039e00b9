"""The q-elitist generational GA: the q best survive unchanged, crossover + mutation offspring fill the rest."""

from __future__ import annotations

from functools import lru_cache

import numba
import numpy as np

from evoface.toolbox import as_individuals, fitness_values, set_fitness


def population_arrays(population: list) -> tuple[np.ndarray, np.ndarray]:
    """(mu, L) genes and (mu,) fitness values (NaN where invalid) of a population."""
    return np.stack(population), fitness_values(population)


DIVERSITY_RUNS, DIVERSITY_RUN = 16, 64  # diversity samples 16 evenly spaced runs of 64 genes


@lru_cache(maxsize=8)
def diversity_sample(length: int) -> np.ndarray:
    """Indices of the genes diversity looks at: ``DIVERSITY_RUNS`` evenly spaced runs of ``DIVERSITY_RUN`` genes (all
    genes of a shorter genome). Cached: the same for every generation of a run."""
    if length <= DIVERSITY_RUNS * DIVERSITY_RUN:
        return np.arange(length)
    starts = np.linspace(0, length - DIVERSITY_RUN, DIVERSITY_RUNS).astype(np.int64)
    return (starts[:, None] + np.arange(DIVERSITY_RUN)).ravel()


@numba.njit(cache=True)
def _mean_column_std(genes, columns):
    n = genes.shape[0]
    s = np.zeros(columns.shape[0], np.int64)
    s2 = np.zeros(columns.shape[0], np.int64)
    for i in range(n):
        for c in range(columns.shape[0]):
            v = np.int64(genes[i, columns[c]])
            s[c] += v
            s2[c] += v * v
    total = 0.0
    for c in range(columns.shape[0]):
        mean = s[c] / n
        total += np.sqrt(max(s2[c] / n - mean * mean, 0.0))
    return total / columns.shape[0]


def diversity(genes: np.ndarray) -> float:
    """Mean standard deviation across the population of the sampled genes (``diversity_sample``): 0 when all
    individuals agree, about 74 for uniform noise. A sample, so that it costs microseconds at any image size."""
    return float(_mean_column_std(genes, diversity_sample(genes.shape[1])))


def evaluate_invalid(population: list, toolbox) -> int:
    """Evaluate, in one batch, the individuals whose fitness is invalid; return how many were evaluated."""
    invalid = [ind for ind in population if not ind.fitness.valid]
    if invalid:
        set_fitness(invalid, toolbox.evaluate(np.stack(invalid)))
    return len(invalid)


class QElitistGA:
    """Generations of q-elitism over two (mu, L) gene buffers that take turns, so no image memory is allocated.

    Each step copies the q fittest rows unchanged (fitness kept), selects mu - q parents with ``toolbox.select``,
    writes their children with ``toolbox.mate``, mutates the children as one block with ``toolbox.mutate`` and
    evaluates only them, in one ``toolbox.evaluate`` call. ``population`` is the current generation: DEAP
    individuals viewing the rows of ``genes``, fitness in ``fitness``, and its ``diversity``.
    """

    def __init__(self, population: list, toolbox, q: int):
        genes, fitness = population_arrays(population)
        if np.isnan(fitness).any():
            raise ValueError("evaluate the population before evolving it")
        self.toolbox, self.q = toolbox, q
        spare = np.empty_like(genes)
        self._current, self._spare = (genes, as_individuals(genes, fitness)), (spare, as_individuals(spare))
        self.fitness = fitness
        self.diversity = diversity(genes)

    @property
    def genes(self) -> np.ndarray:
        return self._current[0]

    @property
    def population(self) -> list:
        return self._current[1]

    def step(self) -> list:
        """One generation; returns the new population."""
        (source, _), (genes, individuals) = self._current, self._spare
        q, toolbox, fitness = self.q, self.toolbox, self.fitness
        elites = np.argsort(-fitness, kind="stable")[:q]
        np.take(source, elites, axis=0, out=genes[:q])
        toolbox.mate(source, toolbox.select(fitness, len(genes) - q), genes[q:])
        toolbox.mutate(genes[q:])
        self.diversity = diversity(genes)  # now, while the new generation is still in cache
        self.fitness = np.concatenate([fitness[elites], toolbox.evaluate(genes[q:])])
        set_fitness(individuals, self.fitness)
        self._current, self._spare = self._spare, self._current
        return individuals
