"""Faster fitness forwards against the fp32 reference: do they keep the ranking, and what do they gain?

Ranking: Spearman correlation between each fast variant's and the fp32 scores of the shipped model, on GA populations
early, in the middle and late in one default run (evolve checkpoints, ``--populations``; by default a run made here),
and on validation images (../shared/data celeba vs cifar10, skipped without it); also how many of the fp32 top q=20
the variant puts in its own top 20 (what q-elitism keeps). Speed: milliseconds per forward of one default CPU chunk
(40 images at 64 px), every variant taking turns, median and range. The reference is fp32, eager, with the fast
kernels off (``evoface.kernels.switch.plain``); variants: the default fp32 forward (the scorer's TorchScript graph that
oneDNN fuses, ``evoface.kernels.onednn.Graphed``), bf16 (``neural/precision.py``, the path ``--precision bf16`` runs),
int8 (FX post-training quantization, x86 backend, calibrated on noise and the populations; bench-only).
``torch.compile`` (``--precision fp32-compiled``) is timed by ``bench/forward_peak.py``: it compiles anew for every
batch size, and this bench's sets have three. The same ranking is printed for evolve's whole default fitness (faceness
minus the realism prior, whose products are oneDNN's or MKL's, by CPU: ``evoface.kernels.onednn.matmul``), fp32 and
with the faceness in bf16, against fp32 with the fast kernels off.

Run: python bench/fitness_precision.py [--populations CKPT ...] [--generations 50 1000 3000] [--repeats 7]
"""

from __future__ import annotations

import argparse
import copy
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from evoface.kernels import onednn, switch  # noqa: E402
from evoface.scoring import chunk_size, fuse_for_inference  # noqa: E402
from neural.faceness import FacenessNet  # noqa: E402
from neural.faceness_store import load_faceness  # noqa: E402
from neural.precision import at_precision, rank_correlation  # noqa: E402

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
TOP = 20  # the default q
REFERENCE = "fp32 plain"
CPU = torch.device("cpu")


def as_images(genes: np.ndarray, size: int) -> torch.Tensor:
    """(n, 3, size, size) uint8 channels-last view of (n, size*size*3) HWC genes, as the scorer passes them."""
    return torch.from_numpy(np.ascontiguousarray(genes)).view(-1, size, size, 3).permute(0, 3, 1, 2)


def population_snapshots(generations: list[int], workdir: Path) -> list[Path]:
    """One default evolve run of the shipped model (fp32, seed 1), its checkpoint copied at each of ``generations``."""
    from evoface.evolve import EvolveConfig, evolve, resume_config

    out, paths = workdir / "run", []
    for i, generation in enumerate(sorted(generations)):
        if i == 0:
            evolve(EvolveConfig(out=str(out), generations=generation, precision="fp32", seed=1,
                                snapshot_every=10**6), resume=False)
        else:
            evolve(resume_config(out, generations=generation), resume=True)
        paths.append(Path(shutil.copy(out / "checkpoints" / "last.pt", workdir / f"generation{generation}.pt")))
    return paths


def int8_model(model: torch.nn.Module, calibration: list[torch.Tensor]) -> torch.nn.Module:
    """The fused model's convolutions and linear layers quantized to int8 (FX, x86), calibrated on ``calibration``;
    the input scaling and the sigmoid stay in float."""
    from torch.ao.quantization import get_default_qconfig_mapping, quantize_fx

    inner = copy.deepcopy(torch.nn.Sequential(model.features, model.head)).eval()
    for module in inner.modules():
        if isinstance(module, torch.nn.LeakyReLU):
            module.inplace = False  # quantized LeakyReLU has no in-place form (it warns on every call)
    scale = FacenessNet.scaled_input
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prepared = quantize_fx.prepare_fx(inner, get_default_qconfig_mapping("x86"), (scale(calibration[0]),))
        with torch.inference_mode():
            for images in calibration:
                prepared(scale(images))
        quantized = quantize_fx.convert_fx(prepared)
    return lambda images: torch.sigmoid(quantized(scale(images))).squeeze(1)


def default_fitness(fast: bool, precision: str = "fp32"):
    """evolve's default pixel fitness (the shipped faceness model minus the default weight times the shipped face
    space's distance; ``BatchScorer`` at ``precision``, the prior in fp32) on (n, 3, S, S) uint8 images; with the
    fast kernels unless not ``fast``."""
    from evoface.evolve import EvolveConfig
    from evoface.scoring import BatchScorer
    from neural.face_space import load_face_space

    scorer = BatchScorer(load_faceness(None), CPU, precision=precision, prior=load_face_space(None),
                         prior_weight=EvolveConfig(out="").prior_weight)

    def score(images: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(scorer(images.permute(0, 2, 3, 1).reshape(len(images), -1).numpy()))
    return score if fast else switch.plain()(score)


def variants(model: torch.nn.Module, calibration: list[torch.Tensor]):
    """name -> callable on (n, 3, S, S) uint8 images, each returning (n,) float scores; ``REFERENCE`` (fp32, eager,
    oneDNN's kernels off) is the reference of every other; "fp32 (the default)" is the scorer's oneDNN graph."""
    return {REFERENCE: switch.plain()(lambda images: model(images)), "fp32 (the default)": onednn.Graphed(model),
            "bf16": at_precision(model, CPU, "bf16"), "int8": int8_model(model, calibration)}


def ranking_table(found: dict, sets: dict[str, torch.Tensor]) -> None:
    print(f"\n== ranking against fp32: Spearman correlation / fp32 top {TOP} kept in the variant's top {TOP}")
    names = [name for name in found if name != REFERENCE]
    print(f"{'images':>34} {'n':>5} {'fp32 spread':>12} " + " ".join(f"{name:>24}" for name in names))
    with torch.inference_mode():
        for label, images in sets.items():
            reference = found[REFERENCE](images).double()
            cells = []
            for name in names:
                scores = found[name](images).double()
                best = [set(torch.topk(values, TOP).indices.tolist()) for values in (reference, scores)]
                top = len(best[0] & best[1])
                cells.append(f"{rank_correlation(scores, reference):.5f} / {top:2d}")
            print(f"{label:>34} {len(images):5d} {float(reference.max() - reference.min()):12.5f} "
                  + " ".join(f"{cell:>24}" for cell in cells))


def speed_table(found: dict, chunk: torch.Tensor, repeats: int, calls: int = 20) -> None:
    times = {name: [] for name in found}
    with torch.inference_mode():
        for score in found.values():  # warm-up: the default's graph for this batch size is traced on its first call
            for _ in range(3):
                score(chunk)
        for turn in range(repeats):
            for name in found if turn % 2 == 0 else reversed(list(found)):
                start = time.perf_counter()
                for _ in range(calls):
                    found[name](chunk)
                times[name].append((time.perf_counter() - start) / calls * 1e3)
    reference = np.median(times[REFERENCE])
    print(f"\n== ms per forward of {len(chunk)} images, {repeats} turns each, alternating (median, range, "
          f"speed-up of the medians over fp32)")
    for name, values in times.items():
        values = np.array(values)
        print(f"{name:>26} {np.median(values):7.2f} ({values.min():.2f}-{values.max():.2f})  "
              f"{reference / np.median(values):5.2f}x")


def validation_images(size: int, count: int) -> torch.Tensor | None:
    from fitness_data.folder import load_folder

    folders = [SHARED_DATA / "celeba", SHARED_DATA / "cifar10"]
    if not all(folder.is_dir() for folder in folders):
        return None
    images = np.concatenate([load_folder(folder, size, limit=count, quiet=True).images for folder in folders])
    return as_images(images.reshape(len(images), -1), size)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--populations", nargs="*", default=[], help="evolve checkpoints (last.pt) to rank")
    parser.add_argument("--generations", type=int, nargs="*", default=[50, 1000, 3000],
                        help="without --populations: the generations of the run made here to take populations from")
    parser.add_argument("--validation", type=int, default=200, help="celeba and cifar10 images each")
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    model = fuse_for_inference(load_faceness(None)).to(memory_format=torch.channels_last)
    size = model.config.size
    with tempfile.TemporaryDirectory() as tmp:
        paths = [Path(p) for p in args.populations] or population_snapshots(args.generations, Path(tmp))
        sets = {}
        for path in paths:
            checkpoint = torch.load(path, weights_only=True)
            sets[f"population, generation {checkpoint['generation']}"] = as_images(checkpoint["genes"].numpy(), size)
    validation = validation_images(size, args.validation)
    if validation is None:
        print("validation images skipped: no ../shared/data/celeba and cifar10")
    else:
        sets["celeba + cifar10 validation"] = validation
    rng = np.random.default_rng(0)
    chunk = as_images(rng.integers(0, 256, (chunk_size(80, CPU, size), size * size * 3), dtype=np.uint8), size)
    found = variants(model, [chunk, *sets.values()])
    ranking_table(found, sets)
    print("\n(the default fitness: faceness minus the realism prior; fp32 with the fast kernels (oneDNN's graph, the "
          "prior's oneDNN or MKL product) and the faceness in bf16, against fp32 in plain torch)")
    ranking_table({REFERENCE: default_fitness(fast=False), "default fitness (fast)": default_fitness(fast=True),
                   "default fitness, bf16 faceness": default_fitness(fast=True, precision="bf16")}, sets)
    speed_table(found, chunk, args.repeats)


if __name__ == "__main__":
    main()
