"""Face-space mutation: structured changes to a pixel genome drawn from a linear basis of real faces.

Given a mean image and k orthonormal components with their standard deviations (a face space, fitted by
``evoface train-prior``), each child x (values in [0, 1]) becomes

    x + pull * (projection(x) - x) - shrink * (projection(x) - mean) + sum_j a_j v_j,    a_j ~ N(0, (step * std_j)^2),

then gets the method's per-gene resets (probability ``indpb``). The first term is a Lamarckian step: it moves the child
a share ``pull`` of the way to its nearest point in face space, which removes pixel noise a little every generation;
the last proposes a change the way faces vary (a wider mouth, darker hair, lighter skin) rather than white noise.
The middle term shrinks the child's face-space coordinates c towards the mean face: c' = (1 - shrink) c + a. With
``shrink = prior_shrink(step)`` the move is the preconditioned Crank-Nicolson proposal of MCMC, which leaves real faces'
Gaussian N(0, std^2) unchanged: left to itself, a coordinate keeps the spread of real faces' instead of wandering off
as a random walk does (shrink 0), so selection decides among faces as typical as the prior's own draws.
The chromosome stays the image: every pixel can still take any value, and the residual off face space is the GA's to
keep when the fitness rewards it. Both terms cost two fp32 (n, D) x (D, k) products: the child's coordinates and the
move (``evoface.kernels.onednn.matmul``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
import torch

from evoface.kernels import onednn
from evoface.ga.operators import mut_uniform_reset_block
from evoface.ga.seed_stream import SeedStream


@dataclass(frozen=True)
class FaceBasis:
    """A face space as plain arrays: ``mean`` (D,) and ``components`` (D, k) float32 in [0, 1] units, HWC order;
    ``std`` (k,) the standard deviation of real faces along each component."""

    mean: np.ndarray
    components: np.ndarray
    std: np.ndarray

    def __post_init__(self):
        dims, k = self.components.shape
        if self.mean.shape != (dims,) or self.std.shape != (k,):
            raise ValueError(f"a face basis needs mean ({dims},) and std ({k},), got {self.mean.shape}, "
                             f"{self.std.shape}")
        # the mean's coefficients, once (with torch: a numpy product would wake numpy's BLAS threads, see below)
        object.__setattr__(self, "mean_coefficients", torch.from_numpy(self.mean) @ torch.from_numpy(self.components))
        object.__setattr__(self, "_tensors", {})

    def tensors(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(mean, components, std, mean_coefficients) as float32 tensors on ``device``: copied there once."""
        device = torch.device(device)
        if device not in self._tensors:
            self._tensors[device] = tuple(torch.as_tensor(value).float().to(device) for value in
                                          (self.mean, self.components, self.std, self.mean_coefficients))
        return self._tensors[device]

    def check_block(self, block: np.ndarray | torch.Tensor) -> None:
        """Raise unless ``block`` (numpy or torch) is an (n, D) uint8 block of this space's images."""
        if block.ndim != 2 or block.dtype not in (np.uint8, torch.uint8) or block.shape[1] != self.mean.shape[0]:
            raise ValueError(f"face-space mutation needs an (n, {self.mean.shape[0]}) uint8 block, got "
                             f"{tuple(block.shape)} {block.dtype}")

    def centred_coefficients(self, block: np.ndarray) -> torch.Tensor:
        """(n, k) float32: the (n, D) uint8 images' coordinates along the components less the mean's, in [0, 1]
        units. With torch, on the thread pool the fitness forward uses: numpy's BLAS threads, spinning after each
        call, took the cores from the forward pass that follows (the loop ran 2.2-2.4x slower)."""
        block = np.ascontiguousarray(block)
        if not block.flags.writeable:  # torch.from_numpy warns on read-only memory (an array from Ray's object store)
            block = block.copy()
        sums = onednn.matmul(torch.from_numpy(block).float(), torch.from_numpy(self.components))
        return sums.mul_(1 / 255).sub_(self.mean_coefficients)

    def coordinates(self, block: np.ndarray) -> np.ndarray:
        """(n, k) float32: the (n, D) uint8 images' coordinates along the components, in real faces' stds (where
        two random real faces lie about sqrt(2k) apart): the distance in which pixel niching tells faces apart."""
        self.check_block(block)
        return self.centred_coefficients(block).div_(torch.from_numpy(self.std)).numpy()

    @classmethod
    def of(cls, face_space) -> "FaceBasis":
        """The plain float32 arrays of a ``neural.face_space.FaceSpace``."""
        return cls(*(getattr(face_space, name).detach().cpu().numpy().astype(np.float32)
                     for name in ("mean", "components", "std")))


@numba.njit(cache=True)
def _write_moved(block, move, keep, offset):
    """block = clip(round(keep * block + offset + 255 * move)): the child, back in uint8, in one pass."""
    n, dims = block.shape
    low, high = np.float32(0), np.float32(255)
    for i in range(n):
        for j in range(dims):
            value = keep * np.float32(block[i, j]) + offset[j] + np.float32(255) * move[i, j]
            # clipped before rounding (the same: 0 and 255 are whole), in float32 throughout, so the loop vectorises
            block[i, j] = np.uint8(np.int32(np.rint(min(max(value, low), high))))


def prior_shrink(step: float) -> float:
    """The coordinates' shrink that makes a face-space move of ``step`` (in real faces' std, at most 1) keep real
    faces' Gaussian: (1 - shrink)^2 + step^2 = 1."""
    if not 0 <= step <= 1:
        raise ValueError(f"a move that keeps the prior needs a step in [0, 1], got {step}")
    return 1 - float(np.sqrt(1 - step * step))


def mut_face_space_block(block: np.ndarray, basis: FaceBasis, step: float, pull: float, indpb: float,
                         seeds: SeedStream, shrink: float = 0.0) -> int:
    """Mutate the (n, D) uint8 block in place: per-gene resets, then the pull towards face space and a random move
    along it (see the module docstring). Returns the number of gene resets."""
    basis.check_block(block)
    resets = mut_uniform_reset_block(block, indpb, seeds)
    draws = np.random.default_rng(seeds.next_seed()).standard_normal((len(block), len(basis.std)), np.float32)
    components = torch.from_numpy(basis.components)
    moves = torch.from_numpy(draws * (np.float32(step) * basis.std))
    coefficients = basis.centred_coefficients(block).mul_(pull - shrink).add_(moves)
    move = onednn.matmul(coefficients, components.T)  # (n, D), in [0, 1] units
    _write_moved(block, move.numpy(), np.float32(1 - pull), np.float32(255 * pull) * basis.mean)
    return resets


def random_faces(basis: FaceBasis, n: int, seeds: SeedStream) -> np.ndarray:
    """(n, D) uint8 images drawn from face space: the mean plus N(0, std_j^2) along each component."""
    draws = np.random.default_rng(seeds.next_seed()).standard_normal((n, len(basis.std)), np.float32)
    faces = torch.from_numpy(draws * basis.std) @ torch.from_numpy(basis.components).T + torch.from_numpy(basis.mean)
    return faces.mul_(255).round_().clamp_(0, 255).to(torch.uint8).numpy()


def face_space_mutation_reference(genes: np.ndarray, basis: FaceBasis, step: float, pull: float,
                                  draws: np.ndarray, shrink: float = 0.0) -> np.ndarray:
    """One child's face-space move in float64, written as the formula (no resets): the operator's reference."""
    x = genes.astype(np.float64) / 255
    components = basis.components.astype(np.float64)
    projection = basis.mean + components @ (components.T @ (x - basis.mean))
    moved = (x + pull * (projection - x) - shrink * (projection - basis.mean)
             + components @ (draws * step * basis.std))
    return np.clip(np.rint(moved * 255), 0, 255).astype(np.uint8)
