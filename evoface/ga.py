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


def next_generation(population: list, toolbox, q: int, cxpb: float) -> list:
    """One generation of q-elitism.

    The q best individuals are copied unchanged (fitness kept); mu - q parents are selected with ``toolbox.select``,
    copied, paired for ``toolbox.mate`` with probability ``cxpb`` and mutated as one block with ``toolbox.mutate``.
    Only the offspring are evaluated.
    """
    mu = len(population)
    elites = sorted(population, key=lambda ind: ind.fitness, reverse=True)[:q]
    parents = toolbox.select(population, mu - q)
    genes = np.stack(elites + parents)
    fitness = np.full(mu, np.nan)
    fitness[:q] = [ind.fitness.values[0] for ind in elites]
    new = as_individuals(genes, fitness)
    offspring = new[q:]
    for i in range(1, len(offspring), 2):
        if random.random() < cxpb:
            toolbox.mate(offspring[i - 1], offspring[i])
    toolbox.mutate(genes[q:])
    evaluate_invalid(new, toolbox)
    return new
