"""One step of interactive evolution: the person's choice (optionally blended with the CNN faceness) is the fitness."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from evoface.ga.operators import sel_truncation
from evoface.ga.seed_stream import SeedStream


@dataclass
class Choice:
    """What the person said about one grid: the faces they chose (ids into the grid, in the order chosen), the one
    they marked closest (or None), and the page's options."""

    chosen: list[int]
    closest: int | None
    strength: float   # mutation strength, 0..1
    blend: float      # weight of the CNN faceness in the fitness, 0 (the person alone) .. 1 (the CNN alone)


def blended_fitness(n: int, chosen: list[int], faceness: np.ndarray, blend: float) -> np.ndarray:
    """(n,) float64 fitness: (1 - blend) * [chosen] + blend * faceness."""
    human = np.zeros(n)
    human[chosen] = 1.0
    return (1.0 - blend) * human + blend * np.asarray(faceness, np.float64)


def favourite(choice: Choice, fitness: np.ndarray) -> int:
    """The face that stands for a generation in the history: the closest, else the fittest chosen one."""
    if choice.closest is not None:
        return choice.closest
    return max(choice.chosen, key=lambda face: fitness[face])  # max keeps the first chosen among ties


def grid_origins(n: int, q: int, fresh: int) -> list[str]:
    """Where each face of a bred grid of n comes from: the q chosen ("kept"), "child", or ``fresh`` new ones
    ("fresh"; fewer when the chosen leave no room)."""
    n_fresh = min(fresh, n - q)
    return ["kept"] * q + ["child"] * (n - q - n_fresh) + ["fresh"] * n_fresh


def breed(genome, genes: np.ndarray, faceness: np.ndarray, choice: Choice, fresh: int,
          seeds: SeedStream) -> np.ndarray:
    """The next grid, as many faces as ``genes``: the chosen faces unchanged (q-elitism with q = the number chosen),
    then children, then ``fresh`` new random faces (fewer when the chosen leave no room).

    Parents are drawn uniformly from the q fittest by the blended fitness (with blend 0: the chosen faces); a face
    marked closest is the first parent of every pair. Children come from the genome's crossover, then its mutation.
    """
    n, q = len(genes), len(choice.chosen)
    fitness = blended_fitness(n, choice.chosen, faceness, choice.blend)
    origins = grid_origins(n, q, fresh)
    n_fresh, n_children = origins.count("fresh"), origins.count("child")
    children = np.empty((n_children + n_children % 2, genes.shape[1]), genes.dtype)  # crossover works in pairs
    if n_children:
        rows = sel_truncation(fitness, len(children), q, seeds)
        if choice.closest is not None:
            rows[0::2] = choice.closest
        genome.cross(np.ascontiguousarray(genes), rows, children, seeds)
        children = children[:n_children]
        genome.mutate(children, choice.strength, seeds)
    parts = [genes[choice.chosen], children[:n_children]]
    if n_fresh:
        parts.append(genome.random(n_fresh, seeds))
    return np.ascontiguousarray(np.concatenate(parts))
