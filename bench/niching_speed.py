"""The latent GA's speed with and without niching, side by side.

Run: python bench/niching_speed.py [--decoder gan] [--pairs 3] [--budget 30] [--out runs/niching-speed]

PAIRS pairs of ``evoface evolve --genome latent --time-limit BUDGET`` runs with the defaults, one with niching
(``--niche-radius 0.5``, the default) and one without (``--niche-radius 0``), taking turns (the order swapped every
pair); prints each run's generations per second over its second half, the medians and the median ratio of the pairs.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.latent_quality import evolve_run  # noqa: E402

RADII = {"niching": 0.5, "no niching": 0.0}


def speed(out: Path, decoder: str, radius: float, budget: float, seed: int) -> float:
    shutil.rmtree(out, ignore_errors=True)
    return evolve_run(out, decoder, "latent", budget, seed, {"niche_radius": radius})["generations_per_s"]


def main() -> None:
    root = Path(__file__).resolve().parents[1]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decoder", default="gan")
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--budget", type=float, default=30.0, help="seconds per run")
    parser.add_argument("--out", default=str(root / "runs" / "niching-speed"))
    args = parser.parse_args()
    rates: dict[str, list[float]] = {name: [] for name in RADII}
    for pair in range(args.pairs):
        for name in (list(RADII) if pair % 2 == 0 else list(reversed(RADII))):
            rates[name].append(speed(Path(args.out) / name.replace(" ", "-"), args.decoder, RADII[name],
                                     args.budget, pair))
            print(f"pair {pair}: {name} {rates[name][-1]:.1f} gen/s", flush=True)
    for name, values in rates.items():
        print(f"{name}: median {statistics.median(values):.1f} gen/s ({min(values):.1f}-{max(values):.1f})")
    ratios = [a / b for a, b in zip(rates["niching"], rates["no niching"])]
    print(f"niching / no niching: median {statistics.median(ratios):.3f} ({min(ratios):.3f}-{max(ratios):.3f})")


if __name__ == "__main__":
    main()
