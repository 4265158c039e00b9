"""The DEAP toolbox of the latent GA: the same registered operators as the pixel GA's, on float32 latent vectors.

An individual is a ``FaceIndividual`` holding a float32 latent code of a generator; ``evaluate`` receives the (n, k)
block of codes and must decode and score them. ``mate`` is normal-point crossover on the vector or slerp; ``mutate``
is Gaussian mutation plus ``foreign`` fresh N(0, I) individuals per generation; ``population`` draws N(0, I).
"""

from __future__ import annotations

from typing import Callable

import numpy as np
from deap import base

from evoface.ga.operators import cx_normal_point_rows, cx_slerp_rows, mutate_latent_block
from evoface.ga.seed_stream import SeedStream
from evoface.ga.toolbox import as_individuals, build_toolbox

LATENT_CROSSOVERS = ("normal-point", "slerp")
LATENT_NORMS = ("sphere", "free")


def build_latent_toolbox(scorer: Callable[[np.ndarray], np.ndarray], rng: np.random.Generator, seeds: SeedStream, *,
                         crossover: str, sigma: float, cxpb: float, latent_indpb: float, latent_sigma: float,
                         foreign: int, selection: str, truncation: int, tournsize: int,
                         sphere: bool = False) -> base.Toolbox:
    """The pixel GA's toolbox (selection, evaluation) with the latent genome's crossover, mutation and population."""
    toolbox = build_toolbox(scorer, rng, seeds, sigma=sigma, cxpb=cxpb, indpb=0.0, selection=selection,
                            truncation=truncation, tournsize=tournsize)
    if crossover == "normal-point":
        toolbox.register("mate", cx_normal_point_rows, sigma=sigma, cxpb=cxpb, seeds=seeds)
    elif crossover == "slerp":
        toolbox.register("mate", cx_slerp_rows, cxpb=cxpb, seeds=seeds)
    else:
        raise ValueError(f"unknown crossover {crossover!r}")
    toolbox.register("mutate", mutate_latent_block, indpb=latent_indpb, sigma=latent_sigma, foreign=foreign,
                     seeds=seeds, sphere=sphere)
    toolbox.register("population", lambda n, length: as_individuals(
        rng.standard_normal((n, length), dtype=np.float32)))
    return toolbox
