"""Niching by clearing (Pétrowski 1996), so that a population keeps several distinct faces instead of converging on one.

Individuals closer than a radius share a niche. In fitness order, the first ``capacity`` individuals of each niche
keep their rank (the niche's winners); every other one is *cleared*: it ranks below every winner, and among the cleared
by its own fitness. Selection and q-elitism then act on that ranking, so the q elites are the bests of q different
niches; the fitness values themselves (metrics, hall of fame, checkpoints) stay the raw ones.
"""

from __future__ import annotations

import copy

import numba
import numpy as np
from deap import tools


@numba.njit(cache=True)
def _cleared(genes, order, radius_squared, capacity):
    """Which rows are cleared: ``order`` lists the rows fittest first."""
    n, length = genes.shape
    cleared = np.zeros(n, np.bool_)
    winners = np.empty(n, np.int64)
    count = 0
    for row in order:
        crowd = 0
        for w in range(count):  # the winners so far within the radius of this row
            other = winners[w]
            squared = 0.0
            for j in range(length):
                difference = genes[row, j] - genes[other, j]
                squared += difference * difference
            if squared < radius_squared:
                crowd += 1
                if crowd >= capacity:
                    break
        if crowd >= capacity:
            cleared[row] = True
        else:
            winners[count] = row
            count += 1
    return cleared


def clearing_mask(genes: np.ndarray, fitness: np.ndarray, radius: float, capacity: int = 1,
                  incumbents: np.ndarray | None = None) -> np.ndarray:
    """(n,) bool: the rows of ``genes`` (float descriptors) that clearing at ``radius`` removes from their niche. A row is
    cleared when ``capacity`` fitter rows that were not cleared lie within ``radius`` of it. Ties: the rows marked in
    ``incumbents`` (the elites already in place) are the fitter, then the earlier row."""
    if capacity < 1:
        raise ValueError("a niche holds at least one winner")
    later = np.zeros(len(fitness), bool) if incumbents is None else ~incumbents
    order = np.lexsort((np.arange(len(fitness)), later, -fitness))  # by fitness, then incumbents, then row
    return _cleared(np.ascontiguousarray(genes, np.float32), order, float(radius) ** 2, capacity)


def clearing_ranking(genes: np.ndarray, fitness: np.ndarray, incumbents: np.ndarray | None = None, *, radius: float,
                     capacity: int = 1) -> np.ndarray:
    """The fitness that selection sees after clearing: the winners' own values, and the cleared rows' values lowered
    by more than the population's fitness span, so that every winner outranks every cleared row."""
    cleared = clearing_mask(genes, fitness, radius, capacity, incumbents)
    span = float(fitness.max() - fitness.min()) + 1.0
    return np.where(cleared, fitness - span, fitness).astype(np.float64)


def typical_distance(length: int) -> float:
    """The expected distance between two independent N(0, I) codes of ``length`` genes: sqrt(2 length)."""
    return float(np.sqrt(2.0 * length))


def radius_in_genes(share: float | None, length: int) -> float:
    """``--niche-radius`` (a share of the distance between two random codes; None or 0: off) in gene units."""
    return (share or 0.0) * typical_distance(length)


class NicheHallOfFame(tools.HallOfFame):
    """A hall of fame of the best individual of each niche: an update keeps the ``maxsize`` fittest of its members and
    the newcomers that clearing at ``radius`` (capacity 1) leaves standing, so it never holds two near-copies.

    ``describe``: (n, L) genes -> (n, d) what clearing compares (default: the genes as float32); ``polish``: (k, L)
    genes and (k,) fitness of newcomers -> the same, possibly changed (for pixels: their stray dots removed where
    that does not lower the fitness), applied to the hall's own copies as they enter."""

    def __init__(self, maxsize: int, radius: float, describe=None, polish=None):
        super().__init__(maxsize, similar=np.array_equal)
        self.radius = radius
        self.describe = describe or (lambda genes: genes.astype(np.float32))
        self.polish = polish
        self._descriptors: list[np.ndarray] = []  # the members', in their order

    def restore(self, members: list) -> None:
        """Set the members a checkpoint saved (fittest first), as they were: not polished again."""
        self.items = list(members)
        self.keys = [member.fitness for member in reversed(self.items)]
        self._descriptors = list(self.describe(np.stack([np.asarray(m) for m in members]))) if members else []

    def update(self, population, descriptors: np.ndarray | None = None) -> None:
        """Take in ``population``'s newcomers; ``descriptors``: its rows' (the engine's, computed once a generation),
        else described here."""
        candidates = [*self, *population]  # members first: a member's copy in the population is cleared, not it
        if not candidates:
            return
        if descriptors is None:
            descriptors = self.describe(np.stack([np.asarray(ind) for ind in population]))
        described = np.concatenate([np.asarray(self._descriptors, np.float32).reshape(len(self), -1),
                                    np.asarray(descriptors, np.float32)]) if len(self) else descriptors
        fitness = np.array([ind.fitness.values[0] for ind in candidates])
        standing = ~clearing_mask(described, fitness, self.radius)
        best = [i for i in np.argsort(-fitness, kind="stable") if standing[i]][:self.maxsize]
        if len(best) == len(self) and all(i == rank for rank, i in enumerate(best)):
            return  # no newcomer made it in (members come first, in their order)
        kept = len(self)
        newcomers = [i for i in best if i >= kept]
        # copies of newcomers: the population's rows are views of the GA's gene buffer
        copies = {i: copy.deepcopy(candidates[i]) for i in newcomers}
        rows = {i: described[i] for i in best}
        if self.polish is not None and newcomers:
            genes = np.stack([np.asarray(copies[i]) for i in newcomers])
            polished, values = self.polish(genes, fitness[newcomers])
            changed = [n for n, i in enumerate(newcomers) if not np.array_equal(polished[n], genes[n])]
            for n in changed:
                copies[newcomers[n]][:] = polished[n]
                copies[newcomers[n]].fitness.values = (float(values[n]),)
            if changed:
                again = self.describe(polished[changed])
                for n, row in zip(changed, again):
                    rows[newcomers[n]] = row
        members = [copies.get(i, candidates[i]) for i in best]
        order = np.argsort([-m.fitness.values[0] for m in members], kind="stable")  # a polish may raise a fitness
        # set directly, in this order: DEAP's insert would put a newcomer before the members it ties with, so that
        # ties (the norm under a faceness cap) would swap on every rebuild, and a resumed run would differ
        self.items = [members[j] for j in order]
        self.keys = [member.fitness for member in reversed(self.items)]
        self._descriptors = [rows[best[j]] for j in order]
