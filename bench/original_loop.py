"""The original study's GA loop, rebuilt from its description, for side-by-side timing only
(``bench/original_vs_default.py``).

Population 100 of flattened RGB images (torch float tensors of values 0..255, uniform noise at the start). Each
generation: every individual is scored by the original classifier (``bench/original_classifier.py``, sized for the
image) on images normalised one by one in a Python loop; the 25 fittest are the parents and are copied into the next
generation; each of the other 75 children comes from an ordered pair of distinct parents, the pairs drawn at random
without repeating one, with a single cut at N(L/2, L/2) clamped to [0, L] (the first part from the first parent); each
child is mutated with probability 0.9 by resetting 10% of its genes (positions drawn with replacement) to uniform
values. The description gives no fitness cache, so all 100 are scored every generation.
"""

from __future__ import annotations

import itertools
import random

import torch

from bench.original_classifier import OriginalClassifier

POPULATION, PARENTS = 100, 25
MUTATION_PROBABILITY, MUTATED_SHARE = 0.9, 0.1


class OriginalLoop:
    """``step()`` runs one generation of the original loop on ``device``; ``best`` is the last best fitness."""

    def __init__(self, size: int, device: torch.device | str = "cpu", seed: int = 0):
        self.size, self.device = size, torch.device(device)
        self.length = size * size * 3
        self.random = random.Random(seed)
        self.generator = torch.Generator(device=self.device).manual_seed(seed)
        self.classifier = OriginalClassifier(size).eval().to(self.device)
        self.population = self.uniform((POPULATION, self.length))
        self.best = float("nan")
        self.pairs = list(itertools.permutations(range(PARENTS), 2))

    def uniform(self, shape) -> torch.Tensor:
        return torch.randint(0, 256, shape, generator=self.generator, device=self.device).float()

    @torch.no_grad()
    def fitness(self, population: torch.Tensor) -> torch.Tensor:
        images = []
        for genome in population:  # as the original: one image at a time
            image = genome.view(self.size, self.size, 3).permute(2, 0, 1) / 255.0
            images.append((image - 0.5) / 0.5)
        return self.classifier(torch.stack(images))

    def crossover(self, first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
        cut = int(min(max(round(self.random.gauss(self.length / 2, self.length / 2)), 0), self.length))
        return torch.cat([first[:cut], second[cut:]])

    def mutate(self, child: torch.Tensor) -> torch.Tensor:
        if self.random.random() < MUTATION_PROBABILITY:
            count = int(MUTATED_SHARE * self.length)
            positions = torch.randint(0, self.length, (count,), generator=self.generator, device=self.device)
            child[positions] = self.uniform((count,))
        return child

    def step(self) -> None:
        scores = self.fitness(self.population)
        order = torch.argsort(scores, descending=True)
        parents = self.population[order[:PARENTS]]
        self.best = float(scores[order[0]])
        children = [self.mutate(self.crossover(parents[i], parents[j]))
                    for i, j in self.random.sample(self.pairs, POPULATION - PARENTS)]
        self.population = torch.cat([parents, torch.stack(children)])
