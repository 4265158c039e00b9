"""The q-elitist generational GA: the q best survive unchanged, crossover + mutation offspring fill the rest."""

from __future__ import annotations

import numba
import numpy as np

from evoface.toolbox import as_individuals, fitness_values, set_fitness


def population_arrays(population: list) -> tuple[np.ndarray, np.ndarray]:
    """(mu, L) genes and (mu,) fitness values (NaN where invalid) of a population."""
    return np.stack(population), fitness_values(population)


DIVERSITY_RUN, DIVERSITY_PERIOD = 64, 512  # diversity reads 64 genes in every 512: one cache line in eight


@numba.njit(cache=True)
def diversity(genes: np.ndarray) -> float:
    """Mean standard deviation across the population of the genes in the first ``DIVERSITY_RUN`` of every
    ``DIVERSITY_PERIOD`` (0 when all individuals agree there): an unbiased sample of the mean per-gene std that reads
    an eighth of the (mu, L) uint8 array, row by row."""
    n, length = genes.shape
    whole = length // DIVERSITY_PERIOD
    sampled = whole * DIVERSITY_RUN + min(DIVERSITY_RUN, length - whole * DIVERSITY_PERIOD)
    s = np.zeros(sampled)
    s2 = np.zeros(sampled)
    for i in range(n):
        c = 0
        for start in range(0, length, DIVERSITY_PERIOD):
            for j in range(start, min(start + DIVERSITY_RUN, length)):
                v = float(genes[i, j])
                s[c] += v
                s2[c] += v * v
                c += 1
    mean = s / n
    return float(np.mean(np.sqrt(np.maximum(s2 / n - mean * mean, 0.0))))


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
    individuals viewing the rows of ``genes``, fitness in ``fitness``.
    """

    def __init__(self, population: list, toolbox, q: int):
        genes, fitness = population_arrays(population)
        if np.isnan(fitness).any():
            raise ValueError("evaluate the population before evolving it")
        self.toolbox, self.q = toolbox, q
        spare = np.empty_like(genes)
        self._current, self._spare = (genes, as_individuals(genes, fitness)), (spare, as_individuals(spare))
        self.fitness = fitness

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
        self.fitness = np.concatenate([fitness[elites], toolbox.evaluate(genes[q:])])
        set_fitness(individuals, self.fitness)
        self._current, self._spare = self._spare, self._current
        return individuals
