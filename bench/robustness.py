"""How a capped pixel run's best image changes with run length: where it lies in face space, its contrast, and how
robust it is to the run's own mutation.

Run: python bench/robustness.py 'runs/ga-quality-pcn/pcnclip-s*' [--at 100 300 1000] [--children 400] [--pairs 200]
For each run folder of the glob (made by ``evoface evolve``, e.g. by ``ga_quality.py``) and each length in seconds of
evolution, the best image is read from the run's snapshot nearest that length (``samples/best_*.png``, at the run's
mean rate). Printed, as the mean over the runs: its faceness (uncapped); the share of ``--children`` copies of it,
each changed once by the run's mutation (its stored configuration), whose faceness still reaches the run's cap; its
contrast (the standard deviation of its values, 0-255); its mean |coordinate| in face space, in real faces' standard
deviations, on the first four and the last sixteen components (real faces: about 0.85 on each). With the faceness
capped, the fitness ranks capped images by their distance from face space alone; these figures show what else changes
meanwhile: an image whose children keep the cap more often has more children in the running, and one near the mean
face (small first coordinates) is a plainer face. Then, per glob: the mean |coordinate| on the first four components
of children that the run's crossover makes from random pairs of each run's final hall of fame (16 distinct faces),
against their parents' (a cut joins one face's upper part to another's lower part: this asks whether that pulls the
coordinates in towards the mean face).
"""

from __future__ import annotations

import argparse
import glob
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import machine  # noqa: E402
from bench.ga_quality import SNAPSHOT_SCALE  # noqa: E402
from bench.prior_ceiling import as_chw  # noqa: E402
from evoface.core.checkpoints import load_checkpoint  # noqa: E402
from evoface.evolve import resume_config  # noqa: E402
from evoface.evolve_build import pixel_mutation  # noqa: E402
from evoface.sampling import evolve_run_images  # noqa: E402
from evoface.ga.face_space_mutation import FaceBasis  # noqa: E402
from evoface.ga.operators import cx_normal_point  # noqa: E402
from evoface.ga.seed_stream import SeedStream  # noqa: E402
from evoface.scoring import BatchScorer  # noqa: E402
from neural.face_space import load_face_space  # noqa: E402
from neural.faceness_store import load_faceness  # noqa: E402


def best_at(run: Path, seconds: float) -> np.ndarray:
    """(S, S, 3) uint8: the run's best image in the snapshot nearest ``seconds`` of evolution, at the run's mean
    rate (its metrics' rates restart with each resume)."""
    ckpt = load_checkpoint(run / "checkpoints" / "last.pt", "evolve")
    generation = seconds * int(ckpt["generation"]) / float(ckpt["elapsed"])
    snapshots = {int(path.stem.split("_")[1]): path for path in (run / "samples").glob("best_*.png")}
    image = np.asarray(Image.open(snapshots[min(snapshots, key=lambda g: abs(g - generation))]).convert("RGB"))
    return image[::SNAPSHOT_SCALE, ::SNAPSHOT_SCALE]


def abs_coordinates(face_space, images: np.ndarray) -> np.ndarray:
    """(n, k) |coordinates| of (n, S, S, 3) uint8 images in face space, in real faces' standard deviations."""
    with torch.inference_mode():
        return face_space.coefficients(as_chw(images)).abs().numpy()


class RunProbe:
    """One run's stored configuration, face space and an uncapped fp32 faceness scorer, loaded once."""

    def __init__(self, run: Path):
        self.run, self.config = run, resume_config(run)
        self.face_space = load_face_space(self.config.prior_model)
        self.scorer = BatchScorer(load_faceness(self.config.fitness), torch.device("cpu"), precision="fp32")

    def at(self, seconds: float, children: int) -> dict:
        """The figures of the module docstring at one length."""
        image = best_at(self.run, seconds)
        block = np.repeat(image.reshape(1, -1), children, axis=0)
        mutate = pixel_mutation(self.config, FaceBasis.of(self.face_space), image.shape[0],
                                self.face_space.config.size, SeedStream(self.config.seed))
        mutate(block)
        coordinates = abs_coordinates(self.face_space, image[None])[0]
        return {"faceness": float(self.scorer(image.reshape(1, -1))[0]),
                "children at the cap": float((self.scorer(block) >= self.config.faceness_cap).mean()),
                "contrast": float(image.std()),
                "first 4": float(coordinates[:4].mean()), "last 16": float(coordinates[-16:].mean())}

    def crossover_shrink(self, pairs: int) -> tuple[float, float]:
        """Mean |first-four coordinate| of the parents and of the children of ``pairs`` random pairs of the run's
        final hall of fame, crossed by the run's normal-point crossover."""
        hall = evolve_run_images(self.run, 16)
        rng, seeds = np.random.default_rng(self.config.seed), SeedStream(self.config.seed)
        parents, children = [], []
        for _ in range(pairs):
            first, second = rng.choice(len(hall), 2, replace=False)
            parents += [hall[first], hall[second]]
            children += cx_normal_point(hall[first].reshape(-1).copy(), hall[second].reshape(-1).copy(),
                                        self.config.sigma, seeds)
        children = np.stack(children).reshape(-1, *hall.shape[1:])
        return (float(abs_coordinates(self.face_space, np.stack(parents))[:, :4].mean()),
                float(abs_coordinates(self.face_space, children)[:, :4].mean()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="globs of evolve run folders, one block of rows per glob")
    parser.add_argument("--at", type=float, nargs="+", default=[100, 300, 1000], help="seconds of evolution")
    parser.add_argument("--children", type=int, default=400)
    parser.add_argument("--pairs", type=int, default=200, help="random pairs of each hall of fame crossed")
    args = parser.parse_args()
    print(machine())
    names = ["faceness", "children at the cap", "contrast", "first 4", "last 16"]
    print(f"{'runs':45} {'s':>5} " + " ".join(f"{name:>19}" for name in names))
    for pattern in args.runs:
        runs = [RunProbe(Path(run)) for run in sorted(glob.glob(pattern))]
        for seconds in args.at:
            rows = [run.at(seconds, args.children) for run in runs]
            means = [np.mean([row[name] for row in rows]) for name in names]
            print(f"{pattern + f' ({len(runs)})':45} {seconds:5g} " + " ".join(f"{m:19.3f}" for m in means),
                  flush=True)
        parents, children = np.mean([run.crossover_shrink(args.pairs) for run in runs], axis=0)
        print(f"{pattern}: crossover of the final halls' faces, mean |coordinate| on the first 4 components: parents "
              f"{parents:.3f}, children {children:.3f}", flush=True)


if __name__ == "__main__":
    main()
