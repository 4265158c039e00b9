"""The q-elitist generational GA: the q best survive unchanged, crossover + mutation offspring fill the rest."""

from __future__ import annotations

import random

import numpy as np

from evoface.toolbox import as_individuals


def population_arrays(population: list) -> tuple[np.ndarray, np.ndarray]:
    """(mu, L) genes and (mu,) fitness values (NaN where invalid) of a population."""
    genes = np.stack(population)
    fitness = np.array([ind.fitness.values[0] if ind.fitness.valid else np.nan for ind in population])
    return genes, fitness


def evaluate_invalid(population: list, toolbox) -> int:
    """Evaluate, in one batch, the individuals whose fitness is invalid; return how many were evaluated."""
    invalid = [ind for ind in population if not ind.fitness.valid]
    if invalid:
        for ind, fit in zip(invalid, toolbox.evaluate(invalid)):
            ind.fitness.values = fit
    return len(invalid)


def next_generation(population: list, toolbox, q: int, cxpb: float,
                    into: tuple[np.ndarray, list] | None = None) -> list:
    """One generation of q-elitism.

    The q best individuals are copied unchanged (fitness kept); mu - q parents are selected with ``toolbox.select``,
    copied, paired for ``toolbox.mate`` with probability ``cxpb`` and mutated as one block with ``toolbox.mutate``.
    Only the offspring are evaluated. ``into``: a (mu, L) genes array and its individuals (as made by
    ``as_individuals``), not the population's own, to write the new generation into without allocating memory.
    """
    mu = len(population)
    elites = sorted(population, key=lambda ind: ind.fitness, reverse=True)[:q]
    parents = toolbox.select(population, mu - q)
    if into is None:
        genes = np.stack(elites + parents)
        new = as_individuals(genes)
    else:
        genes, new = into
        np.stack(elites + parents, out=genes)
    for ind, elite in zip(new, elites):
        ind.fitness.values = elite.fitness.values
    offspring = new[q:]
    for ind in offspring:
        del ind.fitness.values
    for i in range(1, len(offspring), 2):
        if random.random() < cxpb:
            toolbox.mate(offspring[i - 1], offspring[i])
    toolbox.mutate(genes[q:])
    evaluate_invalid(new, toolbox)
    return new
