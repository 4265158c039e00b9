"""The reference GA: the q-elitist method written plainly in DEAP's own idiom. It is the spec the fast engine
(``evoface.ga.engine.QElitistGA``) is tested against, and the engine that runs any DEAP operator a user registers.

One generation (``next_generation``): the q best individuals (``tools.selBest``) survive unchanged; ``toolbox.select``
picks mu - q parents, which are cloned; each consecutive pair is crossed by ``toolbox.mate`` with probability cxpb,
every child is mutated by ``toolbox.mutate``, and only the individuals whose fitness is invalid are evaluated, in one
``toolbox.evaluate`` call on their stacked genes ((n, L) -> (n,) fitness, so the CNN scores them in one batch). The new
population is [elites | offspring].

The method's operators in DEAP signatures (they draw from a numpy Generator):
- ``cx_normal_point(ind1, ind2, sigma, rng)``: one cut from N(L/2, (sigma L)^2), genes before it swapped.
- ``mut_uniform_reset(individual, indpb, rng)``: each gene reset with probability indpb to a uniform 0..255.
- ``sel_truncation(individuals, k, top, rng)``: k parents drawn uniformly from the ``top`` best.
DEAP's own operators plug in unchanged, e.g. ``toolbox.register("mate", tools.cxTwoPoint)``,
``toolbox.register("mutate", tools.mutUniformInt, low=0, up=255, indpb=0.001)`` or
``toolbox.register("select", tools.selTournament, tournsize=3)`` (they draw from python's ``random``). With numpy
individuals a crossover must swap copies of the slices (DEAP's onemax_numpy example): ``tools.cxTwoPoint`` swaps views,
so only the first child gets the other's segment.
"""

from __future__ import annotations

import random

import numpy as np
from deap import base, tools

from evoface.ga.engine import diversity, evaluate_invalid, population_arrays

# Generations/s of the fast engine over the reference one at 64 px on the shipped model, with the method's operators
# and with DEAP's cxTwoPoint + mutUniformInt: ``python bench/engine_speed.py --generations 100 --deap-generations 3
# --threads 1``, side by side in one process on a 2-core CPU at a load of 30-57, where the forward pass took most of
# each generation (see the README, "The reference engine and your own DEAP operators").
REFERENCE_SLOWDOWN_64PX, DEAP_OPERATORS_SLOWDOWN_64PX = 1.1, 2.8


def reference_notice() -> str:
    """The word a user of the reference engine gets on its speed."""
    return (f"evolve: the reference engine (a plain DEAP loop, one Python call per individual and operator) runs "
            f"{REFERENCE_SLOWDOWN_64PX:.1f}x fewer generations/s than the fast engine with the method's operators and "
            f"{DEAP_OPERATORS_SLOWDOWN_64PX:.1f}x fewer with DEAP's cxTwoPoint + mutUniformInt (64 px, measured on a "
            f"loaded 2-core CPU where the CNN took most of the time; more where the CNN is fast).")


def normal_cut(length: int, sigma: float, rng: np.random.Generator) -> int:
    """A crossover cut drawn from N(L/2, (sigma*L)^2), rounded and clamped to [0, L]."""
    return int(min(max(np.rint(length / 2 + sigma * length * rng.standard_normal()), 0), length))


def crossover_at(ind1: np.ndarray, ind2: np.ndarray, cut: int) -> tuple[np.ndarray, np.ndarray]:
    """Swap the genes before ``cut`` in place (copies of the slices, as numpy individuals need)."""
    ind1[:cut], ind2[:cut] = ind2[:cut].copy(), ind1[:cut].copy()
    return ind1, ind2


def cx_normal_point(ind1: np.ndarray, ind2: np.ndarray, sigma: float, rng: np.random.Generator):
    """Normal-point crossover of two individuals in place (DEAP's ``mate`` signature)."""
    return crossover_at(ind1, ind2, normal_cut(len(ind1), sigma, rng))


def mut_uniform_reset(individual: np.ndarray, indpb: float, rng: np.random.Generator) -> tuple[np.ndarray]:
    """Reset each gene with probability indpb to a uniform value in 0..255, in place (DEAP's ``mutate`` signature)."""
    reset = rng.random(len(individual)) < indpb
    individual[reset] = rng.integers(0, 256, int(reset.sum()), dtype=individual.dtype)
    return (individual,)


def sel_truncation(individuals: list, k: int, top: int, rng: np.random.Generator) -> list:
    """k individuals drawn uniformly, with replacement, from the ``top`` fittest (DEAP's ``select`` signature)."""
    best = tools.selBest(individuals, top)
    return [best[i] for i in rng.integers(0, len(best), k)]


def per_individual(block_operator):
    """A DEAP ``mutate(individual)`` made from an operator on (n, L) gene blocks (such as the fast engine's blob and
    face-space mutations): it mutates the individual as a one-row block, in place."""
    def mutate(individual: np.ndarray) -> tuple[np.ndarray]:
        block_operator(individual[None])
        return (individual,)
    return mutate


def use_reference_operators(toolbox: base.Toolbox, rng: np.random.Generator, *, sigma: float, indpb: float,
                            selection: str, truncation: int, tournsize: int) -> base.Toolbox:
    """Register the method's select, mate and mutate on ``toolbox`` in DEAP signatures (its evaluate and population
    stay): truncation selection is ``sel_truncation``, tournament selection is DEAP's ``tools.selTournament``."""
    toolbox.register("mate", cx_normal_point, sigma=sigma, rng=rng)
    toolbox.register("mutate", mut_uniform_reset, indpb=indpb, rng=rng)
    if selection == "truncation":
        toolbox.register("select", sel_truncation, top=truncation, rng=rng)
    elif selection == "tournament":
        toolbox.register("select", tools.selTournament, tournsize=tournsize)
    else:
        raise ValueError(f"unknown selection {selection!r}")
    return toolbox


def next_generation(population: list, toolbox: base.Toolbox, q: int, cxpb: float) -> tuple[list, int]:
    """One q-elitist generation; returns the new population [elites | offspring] and how many were evaluated."""
    elites = tools.selBest(population, q)
    offspring = [toolbox.clone(ind) for ind in toolbox.select(population, len(population) - q)]
    for child1, child2 in zip(offspring[::2], offspring[1::2]):
        if random.random() < cxpb:
            toolbox.mate(child1, child2)
    for child in offspring:
        toolbox.mutate(child)
        del child.fitness.values
    return elites + offspring, evaluate_invalid(offspring, toolbox)


def fitness_statistics() -> tools.Statistics:
    """max, mean, min and (population) std of the fitness, as the fast engine's metrics rows report them."""
    stats = tools.Statistics(key=lambda ind: ind.fitness.values[0])
    for name, function in (("max", np.max), ("mean", np.mean), ("min", np.min), ("std", np.std)):
        stats.register(name, function)
    return stats


def q_elitist(population: list, toolbox: base.Toolbox, q: int, cxpb: float, ngen: int,
              stats: tools.Statistics | None = None, halloffame: tools.HallOfFame | None = None,
              verbose: bool = False) -> tuple[list, tools.Logbook]:
    """Evolve ``population`` for ``ngen`` q-elitist generations with the user's toolbox, as DEAP's
    ``algorithms.eaSimple`` does for its method; returns the final population and a Logbook (gen, nevals and the
    ``stats`` fields, generation 0 being the initial population).

    ``toolbox`` needs ``select(individuals, k)``, ``mate(ind1, ind2)``, ``mutate(individual)`` (any DEAP operator, or
    this module's) and ``evaluate(genes)``: the (n, L) stacked genes of the invalid individuals -> (n,) fitness.
    ``halloffame`` should be built with ``similar=numpy.array_equal``.
    """
    logbook = tools.Logbook()
    logbook.header = ["gen", "nevals"] + (stats.fields if stats else [])

    def record(generation: int, nevals: int) -> None:
        if halloffame is not None:
            halloffame.update(population)
        logbook.record(gen=generation, nevals=nevals, **(stats.compile(population) if stats else {}))
        if verbose:
            print(logbook.stream)

    record(0, evaluate_invalid(population, toolbox))
    for generation in range(1, ngen + 1):
        population, nevals = next_generation(population, toolbox, q, cxpb)
        record(generation, nevals)
    return population, logbook


class ReferenceGA:
    """The reference engine behind the interface ``evoface.evolve`` drives (``QElitistGA``'s): ``step()``, and the
    current generation as ``population`` (DEAP individuals), ``genes``, ``fitness``, ``diversity``, ``elites_first``."""

    def __init__(self, population: list, toolbox: base.Toolbox, q: int, cxpb: float, elites_first: bool = True):
        self.population, self.toolbox, self.q, self.cxpb = list(population), toolbox, q, cxpb
        self.elites_first = elites_first  # after a step always True: the population is [elites | offspring]
        self._read_population()
        if np.isnan(self.fitness).any():
            raise ValueError("evaluate the population before evolving it")

    def _read_population(self) -> None:
        self.genes, self.fitness = population_arrays(self.population)
        self.diversity = diversity(self.genes)

    def step(self) -> None:
        """One generation."""
        self.population, _ = next_generation(self.population, self.toolbox, self.q, self.cxpb)
        self.elites_first = True
        self._read_population()
