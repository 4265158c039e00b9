"""The q-elitist generational GA: the q best survive unchanged, crossover + mutation offspring fill the rest."""

from __future__ import annotations

from functools import lru_cache

import numba
import numpy as np

from evoface.ga.operators import keep_elites
from evoface.ga.toolbox import as_individuals, fitness_values, set_fitness


def population_arrays(population: list) -> tuple[np.ndarray, np.ndarray]:
    """(mu, L) genes and (mu,) fitness values (NaN where invalid) of a population."""
    return np.stack(population), fitness_values(population)


DIVERSITY_RUNS, DIVERSITY_RUN = 16, 64  # diversity samples 16 evenly spaced runs of 64 genes


@lru_cache(maxsize=8)
def diversity_runs(length: int) -> tuple[np.ndarray, int]:
    """(starts, run): the genes diversity looks at are ``DIVERSITY_RUNS`` evenly spaced runs of ``DIVERSITY_RUN``
    genes (one run of all genes for a shorter genome). Cached: the same for every generation of a run."""
    if length <= DIVERSITY_RUNS * DIVERSITY_RUN:
        return np.zeros(1, np.int64), length
    return np.linspace(0, length - DIVERSITY_RUN, DIVERSITY_RUNS).astype(np.int64), DIVERSITY_RUN


@numba.njit(cache=True)
def _mean_run_std(genes, starts, run):
    """Mean over the genes of the runs ``genes[:, start:start + run]`` of their standard deviation across rows. Run by
    run, so that the sums of one run stay in registers while the rows stream past."""
    n = genes.shape[0]
    sums, squares = np.zeros(run, np.int64), np.zeros(run, np.int64)
    total = 0.0
    for start in starts:
        sums[:] = 0
        squares[:] = 0
        for i in range(n):
            genes_of_run = genes[i, start:start + run]
            for j in range(run):
                value = np.int64(genes_of_run[j])
                sums[j] += value
                squares[j] += value * value
        for j in range(run):
            mean = sums[j] / n
            total += np.sqrt(max(squares[j] / n - mean * mean, 0.0))
    return total / (len(starts) * run)


def mean_run_std(genes: np.ndarray, starts: np.ndarray, run: int) -> float:
    """Mean over the genes of the runs ``genes[:, start:start + run]`` of their standard deviation across rows."""
    return float(_mean_run_std(genes, starts, run))


def diversity(genes: np.ndarray) -> float:
    """Mean standard deviation across the population of the sampled genes (``diversity_runs``): 0 when all
    individuals agree, about 74 for uniform noise. A sample, so that it costs microseconds at any image size.
    A float (latent) genome is short: the mean std of all its genes, about 1 for N(0, I) latents."""
    if genes.dtype != np.uint8:
        return float(genes.std(axis=0).mean())
    return mean_run_std(genes, *diversity_runs(genes.shape[1]))


def evaluate_invalid(population: list, toolbox) -> int:
    """Evaluate, in one batch, the individuals whose fitness is invalid; return how many were evaluated."""
    invalid = [ind for ind in population if not ind.fitness.valid]
    if invalid:
        set_fitness(invalid, toolbox.evaluate(np.stack(invalid)))
    return len(invalid)


@numba.njit(cache=True)
def _summary(values):
    n = values.shape[0]
    high, low, total = values[0], values[0], 0.0
    for value in values:
        high, low, total = max(high, value), min(low, value), total + value
    mean = total / n
    squares = 0.0
    for value in values:
        squares += (value - mean) ** 2
    return high, mean, low, np.sqrt(squares / n)


def fitness_statistics(fitness: np.ndarray) -> dict[str, float]:
    """max, mean, min and (population) std of a fitness vector, in one compiled call."""
    high, mean, low, std = _summary(fitness)
    return {"max": high, "mean": mean, "min": low, "std": std}


class QElitistGA:
    """Generations of q-elitism in one gene buffer, so no image memory is allocated and the elites never move.

    The buffer holds 2 * mu - q rows laid out as [children A | elites | children B]. The current generation is the
    mu-row window [A | elites] or [elites | B], so it is always one contiguous block. Each step ranks it by fitness
    (or by ``toolbox.rank(descriptors, fitness, incumbents)`` where one is registered: niching), selects mu - q parents
    from it with ``toolbox.select`` and writes their children with ``toolbox.mate`` into the other children zone (the
    children of two generations ago, no longer in the population). Then ``keep_elites`` moves the q best-ranked of the
    generation into the elite zone (those already there stay put), ``toolbox.mutate`` mutates the children as one
    block, and one ``toolbox.evaluate`` call scores them. The window then shifts to the elites and the new children.

    The current generation is ``genes`` with its ``fitness`` and ``diversity``; ``elites_first`` says which window it
    is (a checkpoint stores it, so that a resumed run continues exactly); ``population`` shows it as DEAP individuals
    viewing the rows of ``genes``.
    """

    def __init__(self, population: list, toolbox, q: int, elites_first: bool = True):
        genes, fitness = population_arrays(population)
        if np.isnan(fitness).any():
            raise ValueError("evaluate the population before evolving it")
        mu, length = genes.shape
        self.toolbox, self.q = toolbox, q
        self._buffer = np.empty((2 * mu - q, length), genes.dtype)  # uint8 pixels or float32 latents
        self._working_buffer = self._buffer  # the one the step writes (the tensor engine's is on its device)
        self._fitness = np.full(2 * mu - q, np.nan)
        self._windows = (slice(0, mu), slice(mu - q, 2 * mu - q))  # [A | elites], [elites | B]
        self._children = (slice(0, mu - q), slice(mu, 2 * mu - q))  # A, B
        self._elite_start = (mu - q, 0)  # where the elite zone starts in each window
        rows = np.arange(mu)
        self._incumbents = tuple((rows >= start) & (rows < start + q) for start in self._elite_start)  # as row masks
        self._individuals = tuple(as_individuals(self._buffer[window]) for window in self._windows)
        self._phase = int(elites_first)
        self._buffer[self._windows[self._phase]], self.fitness[:] = genes, fitness
        self._fitness_pending = True
        self._described = None  # ``descriptors`` of the current generation, once read
        self.diversity = diversity(self.genes)

    @property
    def elites_first(self) -> bool:
        return bool(self._phase)

    @property
    def genes(self) -> np.ndarray:
        return self._buffer[self._windows[self._phase]]

    @property
    def fitness(self) -> np.ndarray:
        return self._fitness[self._windows[self._phase]]

    @property
    def population(self) -> list:
        """The current generation as DEAP individuals. Their fitness is set on the first read after a step, not in
        the step: the loop itself needs only the ``fitness`` array."""
        individuals = self._individuals[self._phase]
        if self._fitness_pending:
            set_fitness(individuals, self.fitness)
            self._fitness_pending = False
        return individuals

    @property
    def descriptors(self) -> np.ndarray:
        """What niching compares of the current generation: ``toolbox.describe(genes)`` where one is registered (for
        pixels, face-space coordinates), else the genes themselves. Computed once a generation, for the ranking and
        the hall of fame both."""
        if self._described is None:
            describe = getattr(self.toolbox, "describe", None)
            self._described = describe(self.genes) if describe is not None else self.genes
        return self._described

    def ranking(self) -> np.ndarray:
        """The current generation's fitness as selection ranks it: ``toolbox.rank(descriptors, fitness, incumbents)``
        where one is registered (niching; the elites in place win its ties, as in ``keep_elites``), else the fitness
        itself."""
        if not hasattr(self.toolbox, "rank"):
            return self.fitness
        return self.toolbox.rank(self.descriptors, self.fitness, self._incumbents[self._phase])

    def replace(self, rows: np.ndarray, genes: np.ndarray, fitness: np.ndarray) -> None:
        """Overwrite rows of the current generation with evaluated individuals (immigrants, in the island model)."""
        self._buffer[self._windows[self._phase]][rows], self.fitness[rows] = genes, fitness
        self._fitness_pending = True
        self._described = None
        self.diversity = diversity(self.genes)

    # the steps that touch the gene buffer, as the tensor engine (``evoface.ga.tensor_engine``) replaces them
    keep_elites = staticmethod(keep_elites)
    measure_diversity = staticmethod(diversity)

    def step(self) -> None:
        """One generation."""
        toolbox, q, phase, buffer = self.toolbox, self.q, self._phase, self._working_buffer
        genes, fitness = buffer[self._windows[phase]], self.fitness
        children = buffer[self._children[1 - phase]]
        rank = self.ranking()
        toolbox.mate(genes, toolbox.select(rank, len(children)), children)
        self.keep_elites(genes, fitness, q, self._elite_start[phase], rank)  # after mating: parents may drop out
        toolbox.mutate(children)
        self._phase = phase = 1 - phase
        self.diversity = self.measure_diversity(buffer[self._windows[phase]])  # now, while the children are in cache
        self._fitness[self._children[phase]] = toolbox.evaluate(children)
        self._fitness_pending = True
        self._described = None
        self._genes_changed()

    def _genes_changed(self) -> None:
        """Called after each step: the host buffer is the working one here."""
