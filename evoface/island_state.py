"""The island model's bookkeeping, without Ray: per-island seeds and configs, ring migration, and the one checkpoint
that holds every island.

The checkpoint of an island run is an ordinary evolve checkpoint whose population (``genes``, ``fitness``) is every
island's, island i in rows [i * mu, (i + 1) * mu), and whose hall of fame is the best of all islands: so `sample`,
`compare` and `--init-from` read it as any evolve run. ``islands`` holds each island's own state (generation, hall of
fame, random sources, window), which with its rows is exactly the checkpoint a single-population run would write.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import numpy as np
import torch

from evoface.core.configs import SEED_MAX
from evoface.evolve_build import niching
from evoface.ga.niching import clearing_mask
from neural.face_space import load_face_space

ROWS = ("genes", "fitness")  # stored once, as the whole population's rows
OWN = ("generation", "hof_genes", "hof_fitness", "rng", "seed_stream", "elites_first", "elapsed")


def island_seed(seed: int, index: int) -> int:
    """Island ``index``'s seed, derived from the run's ``--seed`` and the index (numpy's SeedSequence)."""
    return int(np.random.SeedSequence([seed, index]).generate_state(1, np.uint64)[0]) & SEED_MAX


def island_config(config: Any, index: int, out: str) -> Any:
    """The single-population config island ``index`` runs: the run's, with its own seed and folder."""
    return dataclasses.replace(config, out=out, seed=island_seed(config.seed, index), islands=1, ray_address=None)


def ring_sources(islands: int) -> list[int]:
    """Where each island's immigrants come from on the ring (DEAP's migRing): island i takes island i - 1's best."""
    return [(i - 1) % islands for i in range(islands)]


def best_rows(fitness: np.ndarray, count: int) -> np.ndarray:
    """Indices of the ``count`` fittest rows, fittest first (ties: the earlier row)."""
    return np.argsort(-fitness, kind="stable")[:count]


def worst_rows(fitness: np.ndarray, count: int) -> np.ndarray:
    """Indices of the ``count`` least fit rows, least fit first (ties: the earlier row)."""
    return np.argsort(fitness, kind="stable")[:count]


def merge_best(blocks: list[np.ndarray], fitness: list[np.ndarray], count: int, niche_radius: float = 0.0,
               genes: list[np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The ``count`` fittest of several (n_i, ...) blocks with their fitness, fittest first. With ``niche_radius``,
    only the best of each niche of their ``genes`` (default: the blocks themselves; ``evoface.ga.niching``), so that
    migrants copied between islands do not fill the merged hall of fame twice."""
    all_blocks, all_fitness = np.concatenate(blocks), np.concatenate(fitness)
    rows = best_rows(all_fitness, len(all_fitness))
    if niche_radius:
        standing = ~clearing_mask(np.concatenate(genes if genes is not None else blocks), all_fitness, niche_radius)
        rows = rows[standing[rows]]
    return all_blocks[rows[:count]], all_fitness[rows[:count]]


_face_space = functools.lru_cache(maxsize=4)(load_face_space)  # the driver merges at every checkpoint


def merge_niching(config: Any, genes: list[np.ndarray]) -> tuple[float, list[np.ndarray] | None]:
    """(radius, descriptors of each island's ``genes``) for merging the islands' halls of fame as each island niches
    its own (``evolve_build.niching``); (0.0, None) without niching."""
    pixel = config.genome == "pixel" and config.niche_radius
    radius, describe = niching(config, _face_space(config.prior_model) if pixel else None, genes[0].shape[1])
    if not radius:
        return 0.0, None
    return radius, [describe(g) for g in genes] if describe is not None else genes


def merge_halls(images: list[np.ndarray], fitness: list[np.ndarray], genes: list[np.ndarray],
                config: Any) -> tuple[np.ndarray, np.ndarray]:
    """The run's hall of fame from the islands' (``merge_best``), niched as the islands' own are."""
    radius, described = merge_niching(config, genes)
    return merge_best(images, fitness, config.top_k, radius, described)


def combine_states(states: list[dict[str, Any]], config: Any, elapsed: float) -> dict[str, Any]:
    """One checkpoint from the islands' checkpoint dicts (as ``EvolveRun.state`` returns them)."""
    halls = [s["hof_genes"].numpy() for s in states]
    hof_genes, hof_fitness = merge_halls(halls, [s["hof_fitness"].numpy() for s in states], halls, config)
    return {**states[0], **{key: torch.cat([s[key] for s in states]) for key in ROWS},
            "hof_genes": torch.from_numpy(hof_genes), "hof_fitness": torch.from_numpy(hof_fitness),
            "elapsed": elapsed, "config": dataclasses.asdict(config),
            "islands": [{key: s[key] for key in OWN} for s in states]}


def split_state(ckpt: dict[str, Any], index: int, config: Any) -> dict[str, Any]:
    """Island ``index``'s checkpoint dict out of the combined one, for the single-population ``config``."""
    islands = ckpt["islands"]
    mu = len(ckpt["genes"]) // len(islands)
    rows = slice(index * mu, (index + 1) * mu)
    shared = {k: v for k, v in ckpt.items() if k not in ("islands", "format", "evoface_version")}
    return {**shared, **islands[index], **{key: ckpt[key][rows] for key in ROWS},
            "config": dataclasses.asdict(config)}
