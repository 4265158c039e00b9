"""GA speed: generations/s of the real evolve loop at 64, 100 and 128 px (mu=100, q=20), the share of each generation
spent outside the CNN forward pass, one forward pass against the CPU's default chunks, and the numba mutation kernel
against a plain numpy version of the operator.

Run: python bench/ga_speed.py [--generations 1000] [--repeats 3] [--device cpu]
The 100 px figure compares with the original study's code (a torch GA with per-image Python loops and its
classifier), which the issue reports at 4.86 generations/s on this 2-core machine; that code is not available here, so
that figure is quoted, not re-measured.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from evoface.evolve import EvolveConfig, EvolveRun  # noqa: E402
from evoface.operators import mut_uniform_reset_block, mut_uniform_reset_numpy  # noqa: E402
from evoface.seed_stream import SeedStream  # noqa: E402
from neural.faceness import FacenessConfig, FacenessNet  # noqa: E402
from neural.faceness_store import save_faceness  # noqa: E402

ORIGINAL_GENERATIONS_PER_S_100PX = 4.86
WARMUP_GENERATIONS = 20


class TimedScorer:
    """Wraps a scorer and adds up the seconds spent in it."""

    def __init__(self, scorer):
        self.scorer, self.seconds = scorer, 0.0

    def __getattr__(self, name):
        return getattr(self.scorer, name)

    def __call__(self, genes):
        start = time.perf_counter()
        try:
            return self.scorer(genes)
        finally:
            self.seconds += time.perf_counter() - start


def time_evolve(size: int, generations: int, device: str, workdir: Path) -> tuple[float, float, float]:
    """(generations/s, share of time outside the forward pass, microseconds per generation outside it) of the real
    EvolveRun loop."""
    workdir.mkdir(parents=True, exist_ok=True)
    model_path = workdir / f"faceness{size}.pt"
    save_faceness(FacenessNet(FacenessConfig(size=size)).eval(), model_path)
    config = EvolveConfig(out=str(workdir / f"run{size}"), fitness=str(model_path), generations=generations,
                          checkpoint_every=10**9, snapshot_every=10**9, device=device, seed=0)
    run = EvolveRun(config, resume=False)
    config.generations = WARMUP_GENERATIONS  # first calls load numba's cached kernel and warm torch up: not timed
    run.run_until_stop()
    config.generations = WARMUP_GENERATIONS + generations
    timed = TimedScorer(run.toolbox.evaluate)
    run.toolbox.register("evaluate", timed)
    start = time.perf_counter()
    run.run_until_stop()
    total = time.perf_counter() - start
    t0 = time.perf_counter()  # the end-of-run grid, plot and GIF are not part of a generation: take them out
    run.write_outputs()
    loop = total - (time.perf_counter() - t0)
    return generations / loop, 1.0 - timed.seconds / loop, (loop - timed.seconds) / generations * 1e6


def time_chunking(size: int, device: str, repeats: int) -> tuple[float, float, int]:
    """Microseconds to score an 80-offspring block as one batch and in the default chunks, alternating; the chunk."""
    import torch

    from evoface.scoring import BatchScorer, chunk_size

    model = FacenessNet(FacenessConfig(size=size)).eval()
    block = np.random.default_rng(0).integers(0, 256, (80, size * size * 3), dtype=np.uint8)
    target = torch.device(device)
    chunk = chunk_size(len(block), target, size)
    scorers = [BatchScorer(model, target, batch_size=len(block)), BatchScorer(model, target)]
    seconds = [0.0, 0.0]
    for i in range(2 * (repeats + 5)):
        start = time.perf_counter()
        scorers[i % 2](block)
        if i >= 10:  # the first calls warm up
            seconds[i % 2] += time.perf_counter() - start
    return seconds[0] / repeats * 1e6, seconds[1] / repeats * 1e6, chunk


def time_mutation(length: int, indpb: float, repeats: int) -> tuple[float, float]:
    rng, seeds = np.random.default_rng(0), SeedStream(0)
    block = rng.integers(0, 256, (80, length), dtype=np.uint8)
    mut_uniform_reset_block(block, indpb, seeds)  # compile
    result = []
    for operator, source in ((mut_uniform_reset_block, seeds), (mut_uniform_reset_numpy, rng)):
        start = time.perf_counter()
        for _ in range(repeats):
            operator(block, indpb, source)
        result.append((time.perf_counter() - start) / repeats * 1e6)
    return result[0], result[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generations", type=int, default=1000, help="timed generations per size, after a warm-up")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=3,
                        help="measurements per size, the sizes taking turns (timings here drift between runs)")
    args = parser.parse_args()
    import torch

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {args.device}")
    print(f"\n== evolve loop, mu=100, q=20, {args.generations} generations each, {args.repeats} times")
    print(f"{'size':>5} {'gen/s':>8} {'outside CNN':>12} {'us/gen outside':>15} {'vs original 4.86 gen/s':>24}")
    sizes = (64, 100, 128)
    results: dict[int, list[tuple[float, float, float]]] = {size: [] for size in sizes}
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(args.repeats):
            for size in sizes:
                results[size].append(time_evolve(size, args.generations, args.device, Path(tmp) / str(repeat)))
    for size in sizes:
        rates, shares, outside = (np.array(column) for column in zip(*results[size]))
        ratio = f"{np.median(rates) / ORIGINAL_GENERATIONS_PER_S_100PX:.1f}x" if size == 100 else ""
        print(f"{size:>5} {np.median(rates):8.1f} {np.median(shares):11.1%} {np.median(outside):15.0f} {ratio:>24}"
              f"   median of {len(rates)}; range {rates.min():.1f}-{rates.max():.1f} gen/s, "
              f"{shares.min():.1%}-{shares.max():.1%} outside")
    print("\n== scoring an 80-offspring block: one batch vs the default chunks (microseconds per call, alternating)")
    print(f"{'size':>5} {'one batch':>10} {'chunks':>10} {'images/chunk':>13} {'speed-up':>9}")
    for size in (64, 100, 128):
        whole, chunked, chunk = time_chunking(size, args.device, repeats=100)
        print(f"{size:>5} {whole:10.0f} {chunked:10.0f} {chunk:13d} {whole / chunked:8.2f}x")
    print("\n== mutation of an 80-offspring block (microseconds per call)")
    print(f"{'size':>5} {'indpb':>7} {'numba':>9} {'numpy':>10} {'speed-up':>9}")
    for size in (64, 100, 128):
        for indpb in (0.001, 0.01):
            fast, slow = time_mutation(size * size * 3, indpb, repeats=30)
            print(f"{size:>5} {indpb:7.3f} {fast:9.1f} {slow:10.1f} {slow / fast:8.0f}x")


if __name__ == "__main__":
    main()
