"""Face-space mutation: structured changes to a pixel genome drawn from a linear basis of real faces.

Given a mean image and k orthonormal components with their standard deviations (a face space, fitted by
``evoface train-prior``), each child x (values in [0, 1]) becomes

    x + pull * (projection(x) - x) + sum_j a_j v_j,    a_j ~ N(0, (step * std_j)^2),

then gets the method's per-gene resets (probability ``indpb``). The first term is a Lamarckian step: it moves the child
a share ``pull`` of the way to its nearest point in face space, which removes pixel noise a little every generation;
the second proposes a change the way faces vary (a wider mouth, darker hair, lighter skin) rather than white noise.
The chromosome stays the image: every pixel can still take any value, and the residual off face space is the GA's to
keep when the fitness rewards it. Both terms cost two (n, D) x (D, k) products. With ``products="bf16"`` they run in
bf16 (AVX-512 BF16 or AMX; fp32 accumulation inside each product, its output rounded to bf16): a mutation is a random
proposal, so its products need not be exact, and the children then differ from the fp32 ones by a level or two at
most (tested).
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
import torch

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
        components = torch.from_numpy(self.components)
        object.__setattr__(self, "mean_coefficients", torch.from_numpy(self.mean) @ components)
        object.__setattr__(self, "bf16", (components.bfloat16(), components.T.contiguous().bfloat16()))

    @classmethod
    def of(cls, face_space) -> "FaceBasis":
        """The plain float32 arrays of a ``neural.face_space.FaceSpace``."""
        return cls(*(getattr(face_space, name).detach().cpu().numpy().astype(np.float32)
                     for name in ("mean", "components", "std")))


@numba.njit(cache=True)
def _write_moved(block, move, keep, offset):
    """block = clip(round(keep * block + offset + 255 * move)): the child, back in uint8, in one pass."""
    n, dims = block.shape
    for i in range(n):
        for j in range(dims):
            value = np.rint(keep * np.float32(block[i, j]) + offset[j] + np.float32(255) * move[i, j])
            block[i, j] = np.uint8(min(max(value, 0.0), 255.0))


MUTATION_PRODUCTS = ("fp32", "bf16")


def mut_face_space_block(block: np.ndarray, basis: FaceBasis, step: float, pull: float, indpb: float,
                         seeds: SeedStream, products: str = "fp32") -> int:
    """Mutate the (n, D) uint8 block in place: per-gene resets, then the pull towards face space and a random move
    along it (see the module docstring), its two products in ``products`` precision. Returns the number of gene
    resets."""
    if block.ndim != 2 or block.dtype != np.uint8 or block.shape[1] != basis.mean.shape[0]:
        raise ValueError(f"face-space mutation needs an (n, {basis.mean.shape[0]}) uint8 block, got {block.shape} "
                         f"{block.dtype}")
    if products not in MUTATION_PRODUCTS:
        raise ValueError(f"face-space mutation products run in {' or '.join(MUTATION_PRODUCTS)}, not {products!r}")
    resets = mut_uniform_reset_block(block, indpb, seeds)
    draws = np.random.default_rng(seeds.next_seed()).standard_normal((len(block), len(basis.std)), np.float32)
    # the two products run on torch's thread pool, the one the fitness forward uses: numpy's BLAS threads, spinning
    # after each call, took the cores from the forward pass that follows (the loop ran 2.2-2.4x slower)
    genes = torch.from_numpy(block)
    if products == "bf16":
        components, components_t = basis.bf16
        sums = (genes.to(torch.bfloat16) @ components).float()  # uint8 values are exact in bf16
    else:
        components = torch.from_numpy(basis.components)
        components_t = components.T
        sums = genes.float() @ components
    centred_coefficients = sums.mul_(1 / 255).sub_(basis.mean_coefficients)
    coefficients = centred_coefficients.mul_(pull).add_(torch.from_numpy(draws * (np.float32(step) * basis.std)))
    move = (coefficients.to(components_t.dtype) @ components_t).float()  # (n, D), in [0, 1] units
    _write_moved(block, move.numpy(), np.float32(1 - pull), np.float32(255 * pull) * basis.mean)
    return resets


def random_faces(basis: FaceBasis, n: int, seeds: SeedStream) -> np.ndarray:
    """(n, D) uint8 images drawn from face space: the mean plus N(0, std_j^2) along each component."""
    draws = np.random.default_rng(seeds.next_seed()).standard_normal((n, len(basis.std)), np.float32)
    faces = torch.from_numpy(draws * basis.std) @ torch.from_numpy(basis.components).T + torch.from_numpy(basis.mean)
    return faces.mul_(255).round_().clamp_(0, 255).to(torch.uint8).numpy()


def face_space_mutation_reference(genes: np.ndarray, basis: FaceBasis, step: float, pull: float,
                                  draws: np.ndarray) -> np.ndarray:
    """One child's face-space move in float64, written as the formula (no resets): the operator's reference."""
    x = genes.astype(np.float64) / 255
    components = basis.components.astype(np.float64)
    projection = basis.mean + components @ (components.T @ (x - basis.mean))
    moved = x + pull * (projection - x) + components @ (draws * step * basis.std)
    return np.clip(np.rint(moved * 255), 0, 255).astype(np.uint8)
