"""Which fp32 product is faster at the face space's shapes on this CPU: MKL's (torch's default) or oneDNN's?

The realism prior's and the face-space mutation's products with the shipped face space, for 40 and 80 rows (a default
chunk and all offspring): uint8 genes (as fp32) x components, and the mutation's move (coefficients x components^T),
each through MKL and through oneDNN's inner-product primitive, every kernel taking turns; prints ms a call, median
(range), and which one evoface's ``onednn.matmul`` takes on this CPU (oneDNN's off Intel's CPUs only). The times hold
for the machine printed first.

Run: python bench/products.py [--turns 5] [--calls 200]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import OFFSPRING, machine, median_range, onednn_product, rate_of, take_turns  # noqa: E402
from evoface.kernels.cpu import cpu_is_intel  # noqa: E402
from neural.face_space import load_face_space  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=5)
    parser.add_argument("--calls", type=int, default=200, help="calls a turn")
    args = parser.parse_args()
    print(machine(), flush=True)
    components = load_face_space().components
    transposed = components.T.contiguous()
    print(f"\n== the face space's products, {components.shape[0]} x {components.shape[1]}; ms a call, median (range) "
          f"of {args.turns} turns of {args.calls} calls; evoface takes {'MKL' if cpu_is_intel() else 'oneDNN'} here")
    for rows in (OFFSPRING // 2, OFFSPRING):
        floats = torch.randint(0, 256, (rows, components.shape[0]), dtype=torch.uint8).float()
        coefficients = torch.randn(rows, components.shape[1])
        kernels = {"genes x components, MKL fp32": lambda: floats @ components,
                   "genes x components, oneDNN fp32": lambda: onednn_product(floats, transposed),
                   "move, MKL fp32": lambda: coefficients @ transposed,
                   "move, oneDNN fp32": lambda: onednn_product(coefficients, components)}
        with torch.inference_mode():
            for kernel in kernels.values():  # warm-up: oneDNN builds its primitive on the first call
                kernel()
            rates = take_turns({name: lambda k=kernel: rate_of(k, args.calls) for name, kernel in kernels.items()},
                               args.turns)
        for name, values in rates.items():
            print(f"{rows:>4} rows, {name}: {median_range(1000 / np.array(values), 3)} ms")


if __name__ == "__main__":
    main()
