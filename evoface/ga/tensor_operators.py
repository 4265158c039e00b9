"""The pixel GA's operators on genes held as a torch tensor on their own device (a GPU): the tensor engine's.

What is drawn a few numbers at a time comes from the host, from the same seeds and compiled draws as the numba
operators: the parents (selection reads the host's fitness vector), the crossover cuts and the elites. So on the
same scores the two engines select, cross and keep alike, bit for bit. What is drawn per gene or per child (the
resets, the face-space moves) is drawn on the device, by a torch generator seeded from the run's ``SeedStream``:
the same seeds give the same children on one device, and a checkpoint needs no state beyond the seed stream's. Only
the genes a reader asks for (the diversity's sample, a snapshot, a checkpoint) ever leave the device.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

from evoface.ga.engine import diversity_runs, mean_run_std
from evoface.ga.face_space_mutation import FaceBasis
from evoface.ga.operators import elite_moves, normal_cuts
from evoface.ga.seed_stream import SeedStream

RESET_STEPS = 2**23  # a reset's probability in steps of 2^-23: thresholds of a 31-bit draw that are multiples of 256


def seeded_generator(device: torch.device, seeds: SeedStream) -> torch.Generator:
    """A torch generator on ``device`` seeded with the stream's next seed."""
    generator = torch.Generator(device=device)
    generator.manual_seed(seeds.next_seed())
    return generator


def _on_device(values: np.ndarray, device: torch.device) -> torch.Tensor:
    """int64 host values on ``device``, without waiting for the work queued there (the copy is staged first)."""
    return torch.from_numpy(np.ascontiguousarray(values, np.int64)).to(device, non_blocking=True)


@lru_cache(maxsize=8)
def _positions(length: int, device: torch.device) -> torch.Tensor:
    return torch.arange(length, device=device)


def cx_normal_point_tensor(source: torch.Tensor, rows: np.ndarray, out: torch.Tensor, sigma: float, cxpb: float,
                           seeds: SeedStream) -> np.ndarray:
    """``operators.cx_normal_point_rows`` on tensors: child i of the pair (2j, 2j + 1) takes its mate's genes before
    the pair's cut and its own parent's from the cut on; a last unpaired child copies its parent. The cuts are drawn
    on the host as there; returns them."""
    n, length = out.shape
    rows = np.asarray(rows, np.int64)
    if len(rows) != n or source.shape[1] != length or source.dtype != out.dtype:
        raise ValueError(f"crossover writes one child per parent row into a block of the source's genes: got "
                         f"{len(rows)} rows, out {tuple(out.shape)} {out.dtype}, source {tuple(source.shape)} "
                         f"{source.dtype}")
    if n and (rows.min() < 0 or rows.max() >= len(source)):
        raise IndexError("a parent row is outside the source block")
    cuts = normal_cuts(n // 2, length, sigma, seeds, cxpb)
    children = np.arange(n)
    mates = children ^ 1
    paired = mates < n
    mates[~paired] = children[~paired]
    child_cuts = np.zeros(n, np.int64)
    child_cuts[paired] = cuts[children[paired] // 2]
    own, other, child_cuts = _on_device(np.stack([rows, rows[mates], child_cuts]), source.device)  # one copy
    torch.where(_positions(length, source.device) < child_cuts[:, None], source[other], source[own], out=out)
    return cuts


def keep_elites_tensor(genes: torch.Tensor, fitness: np.ndarray, q: int, start: int,
                       rank: np.ndarray | None = None) -> int:
    """``operators.keep_elites`` for genes on a device: the bookkeeping on the host, the copies on the device."""
    sources, slots = elite_moves(fitness, q, start, rank, rows=len(genes))
    if len(sources):
        slots, sources = _on_device(np.stack([slots, sources]), genes.device)
        genes[slots] = genes[sources]
    return len(sources)


def reset_genes_tensor(block: torch.Tensor, indpb: float, seeds: SeedStream) -> torch.Tensor:
    """The method's mutation on an (n, L) uint8 tensor in place: each gene, with probability ``indpb`` (in steps of
    2^-23, at least one where it is above 0), becomes a uniform value in 0..255. One 31-bit draw per gene decides
    both: a gene resets when its draw is below a multiple of 256, so the draw's low byte is then exactly uniform.
    Returns the number of resets as a 0-d tensor (reading it waits for the device)."""
    generator = seeded_generator(block.device, seeds)
    threshold = (max(round(min(indpb, 1.0) * RESET_STEPS), 1) if indpb > 0 else 0) * 256
    if threshold == 0:
        return torch.zeros((), dtype=torch.int64, device=block.device)
    draws = torch.randint(0, 2**31, block.shape, generator=generator, device=block.device, dtype=torch.int32)
    resets = draws < threshold if threshold < 2**31 else torch.ones_like(block, dtype=torch.bool)
    block.copy_(torch.where(resets, draws.bitwise_and_(255).to(torch.uint8), block))
    return resets.sum()


def face_space_move_tensor(block: torch.Tensor, basis: FaceBasis, step: float, pull: float,
                           draws: torch.Tensor, shrink: float = 0.0) -> None:
    """The face-space move (``evoface.ga.face_space_mutation``) of an (n, D) uint8 tensor in place, for (n, k) standard
    normal ``draws``, in fp32 on the block's device: x + pull * (projection(x) - x) - shrink * (projection(x) - mean)
    + sum_j draws_j step std_j v_j."""
    mean, components, std, mean_coefficients = basis.tensors(block.device)
    pixels = block.float()
    coefficients = (pixels @ components).div_(255).sub_(mean_coefficients)
    coefficients.mul_(pull - shrink).add_(draws * (step * std))
    moved = pixels.mul_(1 - pull).add_(mean, alpha=255 * pull).add_(coefficients @ components.T, alpha=255)
    block.copy_(moved.clamp_(0, 255).round_())


def mut_face_space_tensor(block: torch.Tensor, basis: FaceBasis, step: float, pull: float, indpb: float,
                          seeds: SeedStream, shrink: float = 0.0) -> torch.Tensor:
    """``face_space_mutation.mut_face_space_block`` on a tensor: the resets, then the face-space move, its draws from
    the next seed. Returns the number of resets (a 0-d tensor)."""
    basis.check_block(block)
    resets = reset_genes_tensor(block, indpb, seeds)
    generator = seeded_generator(block.device, seeds)
    draws = torch.randn((len(block), len(basis.std)), generator=generator, device=block.device)
    face_space_move_tensor(block, basis, step, pull, draws, shrink)
    return resets


@lru_cache(maxsize=8)
def _sampled_columns(length: int, device: torch.device) -> torch.Tensor:
    starts, run = diversity_runs(length)
    return _on_device((starts[:, None] + np.arange(run)).ravel(), device)


def diversity_tensor(genes: torch.Tensor) -> float:
    """``engine.diversity`` of uint8 genes on a device, the same number: only its sampled genes come to the host."""
    starts, run = diversity_runs(genes.shape[1])
    sample = genes[:, _sampled_columns(genes.shape[1], genes.device)].cpu().numpy()  # (n, 1024): 100 KB at mu 100
    return mean_run_std(sample, np.arange(len(starts)) * run, run)
