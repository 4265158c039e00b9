"""The face-space mutation with its two products in fp32 and in bf16, side by side.

Run: python bench/mutation_products.py [--calls 300]

80 children of 64 px mutated by the shipped face space's move (the default evolve's offspring block), each call after
a 16 MB write that evicts the caches (as the fitness forward before it does), the two precisions taking turns; prints
the median milliseconds of each and their ratio.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from evoface.ga.face_space_mutation import MUTATION_PRODUCTS, FaceBasis, mut_face_space_block  # noqa: E402
from evoface.ga.seed_stream import SeedStream  # noqa: E402
from neural.face_space import load_face_space  # noqa: E402

CHILDREN = 80


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300)
    args = parser.parse_args()
    basis = FaceBasis.of(load_face_space())
    children = np.random.default_rng(0).integers(0, 256, (CHILDREN, basis.mean.shape[0]), dtype=np.uint8)
    evictor = np.zeros(16 << 20, np.uint8)

    def seconds(products: str) -> float:
        block = children.copy()
        evictor[::64] += 1
        start = time.perf_counter()
        mut_face_space_block(block, basis, 0.3, 0.1, 0.001, SeedStream(5), products=products)
        return time.perf_counter() - start

    for products in MUTATION_PRODUCTS:  # warm-up: compiled kernels, oneDNN's primitives
        seconds(products)
    times: dict[str, list[float]] = {products: [] for products in MUTATION_PRODUCTS}
    for _ in range(args.calls):
        for products in MUTATION_PRODUCTS:
            times[products].append(seconds(products))
    median = {products: float(np.median(values)) * 1e3 for products, values in times.items()}
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; {CHILDREN} children of "
          f"{basis.mean.shape[0]} genes, median of {args.calls} calls each")
    for products, ms in median.items():
        print(f"{products}: {ms:.3f} ms")
    print(f"fp32 / bf16: {median['fp32'] / median['bf16']:.2f}x")


if __name__ == "__main__":
    main()
