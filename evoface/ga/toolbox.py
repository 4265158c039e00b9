"""DEAP representation of the pixel GA: creator classes and a toolbox of registered operators.

An individual is a ``FaceIndividual``: a 1-D uint8 numpy array of H*W*3 genes (an HWC image, flattened) with a
``FitnessFace`` to maximise. Individuals are views into one (mu, L) population array, so a generation's offspring
form one contiguous block that crossover, the mutation kernel and the CNN each process in a single call.

Registered operators (all act on a whole generation; ``evoface.ga.QElitistGA`` calls them):
- ``select(fitness, k)``: rows of k parents from the (mu,) fitness vector: truncation or tournament.
- ``mate(source, rows, out)``: normal-point crossover of the parent pairs ``source[rows]``, children into ``out``.
- ``mutate(block)``: numba reset mutation of a whole (n, L) offspring block, in place.
- ``evaluate(block)``: (n,) fitness of an (n, L) block from one batched forward pass.
- ``population(n, length)``: n individuals of uniform noise.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
from deap import base, creator

from evoface.ga.operators import cx_normal_point_rows, mut_uniform_reset_block, sel_tournament, sel_truncation
from evoface.ga.seed_stream import SeedStream

if not hasattr(creator, "FitnessFace"):
    creator.create("FitnessFace", base.Fitness, weights=(1.0,))
    creator.create("FaceIndividual", np.ndarray, fitness=creator.FitnessFace)

SELECTIONS = ("truncation", "tournament")


def set_fitness(individuals, fitness: np.ndarray) -> None:
    """Give each individual its value (NaN: invalid). The weight is 1.0, so the weighted values DEAP stores are the
    values themselves: set directly, without DEAP's per-call tuple arithmetic."""
    for ind, value in zip(individuals, fitness.tolist()):
        ind.fitness.wvalues = () if value != value else (value,)


def fitness_values(individuals) -> np.ndarray:
    """(n,) fitness of individuals (NaN where invalid), read from the weighted values (weight 1.0)."""
    return np.fromiter((ind.fitness.wvalues[0] if ind.fitness.wvalues else np.nan for ind in individuals), float,
                       len(individuals))


def as_individuals(genes: np.ndarray, fitness: np.ndarray | None = None) -> list:
    """Views of each row of a (mu, L) uint8 array as FaceIndividuals, with fitness values where given (not NaN)."""
    individuals = []
    for row in genes:
        ind = row.view(creator.FaceIndividual)
        ind.fitness = creator.FitnessFace()
        individuals.append(ind)
    if fitness is not None:
        set_fitness(individuals, np.asarray(fitness, float))
    return individuals


def build_toolbox(scorer: Callable[[np.ndarray], np.ndarray], rng: np.random.Generator, seeds: SeedStream, *,
                  sigma: float, cxpb: float, indpb: float, selection: str, truncation: int,
                  tournsize: int) -> base.Toolbox:
    """The GA's toolbox: the operators draw from ``seeds``, the initial noise from ``rng``."""
    toolbox = base.Toolbox()
    toolbox.register("mate", cx_normal_point_rows, sigma=sigma, cxpb=cxpb, seeds=seeds)
    toolbox.register("mutate", mut_uniform_reset_block, indpb=indpb, seeds=seeds)
    if selection == "truncation":
        toolbox.register("select", sel_truncation, top=truncation, seeds=seeds)
    elif selection == "tournament":
        toolbox.register("select", sel_tournament, tournsize=tournsize, seeds=seeds)
    else:
        raise ValueError(f"unknown selection {selection!r}")
    toolbox.register("evaluate", lambda block: np.asarray(scorer(block), float))
    toolbox.register("population", lambda n, length: as_individuals(
        rng.integers(0, 256, size=(n, length), dtype=np.uint8)))
    return toolbox
