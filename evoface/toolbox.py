"""DEAP representation of the pixel GA: creator classes and a toolbox of registered operators.

An individual is a ``FaceIndividual``: a 1-D uint8 numpy array of H*W*3 genes (an HWC image, flattened) with a
``FitnessFace`` to maximise. Individuals are views into one (mu, L) population array, so a generation's offspring
form one contiguous block that the mutation kernel and the CNN each process in a single call.

Registered operators:
- ``mate(ind1, ind2)``: normal-point crossover, in place.
- ``mutate(block)``: numba reset mutation of a whole (n, L) offspring block, in place.
- ``select(individuals, k)``: truncation (uniform among the best) or tournament selection.
- ``evaluate(individuals)``: a list of (score,) tuples from one batched forward pass.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
from deap import base, creator, tools

from evoface.operators import cx_normal_point, mut_uniform_reset_block, sel_truncation

if not hasattr(creator, "FitnessFace"):
    creator.create("FitnessFace", base.Fitness, weights=(1.0,))
    creator.create("FaceIndividual", np.ndarray, fitness=creator.FitnessFace)

SELECTIONS = ("truncation", "tournament")


def as_individuals(genes: np.ndarray, fitness: np.ndarray | None = None) -> list:
    """Views of each row of a (mu, L) uint8 array as FaceIndividuals, with fitness values where given (not NaN)."""
    individuals = []
    for i, row in enumerate(genes):
        ind = row.view(creator.FaceIndividual)
        ind.fitness = creator.FitnessFace()
        if fitness is not None and not np.isnan(fitness[i]):
            ind.fitness.values = (float(fitness[i]),)
        individuals.append(ind)
    return individuals


def build_toolbox(scorer: Callable[[np.ndarray], np.ndarray], rng: np.random.Generator, *, sigma: float,
                  indpb: float, selection: str, truncation: int, tournsize: int) -> base.Toolbox:
    toolbox = base.Toolbox()
    toolbox.register("mate", cx_normal_point, sigma=sigma, rng=rng)
    toolbox.register("mutate", mut_uniform_reset_block, indpb=indpb, rng=rng)
    if selection == "truncation":
        toolbox.register("select", sel_truncation, top=truncation)
    elif selection == "tournament":
        toolbox.register("select", tools.selTournament, tournsize=tournsize)
    else:
        raise ValueError(f"unknown selection {selection!r}")
    toolbox.register("evaluate", lambda individuals: [(float(s),) for s in scorer(np.stack(individuals))])
    toolbox.register("population", lambda n, length: as_individuals(
        rng.integers(0, 256, size=(n, length), dtype=np.uint8)))
    return toolbox
