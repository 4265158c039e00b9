"""Faceness CNN against the original study's classifier: inference throughput and accuracy after equal training.

Run: python bench/fitness_speed.py [--data ../shared/data] [--repeats 5] [--epochs 3] [--images 3000]
Throughput is measured side by side in interleaved repetitions (batch 100, eval mode, inference_mode), the median
reported; accuracy comes from training both with the same loop, data, epochs and seed.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.original_classifier import OriginalClassifier  # noqa: E402
from fitness_data.batches import training_batches  # noqa: E402
from neural.faceness import FacenessConfig, FacenessNet, flops, parameter_count  # noqa: E402
from neural.fitness_training import FitnessTrainConfig, evaluate, load_datasets, regression_step  # noqa: E402


def throughput(model: torch.nn.Module, size: int, batch: int = 100, seconds: float = 1.0) -> float:
    x = torch.rand(batch, 3, size, size)
    with torch.inference_mode():
        model(x)
        n, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            model(x)
            n += batch
    return n / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--images", type=int, default=2000, help="images per source (celeba, utkface, cifar10)")
    args = parser.parse_args()
    torch.set_num_threads(torch.get_num_threads())

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print("\n== inference throughput, batch 100 (images/s, median of interleaved repeats)")
    print(f"{'size':>5} {'model':>9} {'MFLOP':>7} {'params':>8} {'img/s':>9}")
    for size in (64, 100):
        models = {"evoface": FacenessNet(FacenessConfig(size=size)).eval(), "original": OriginalClassifier(size).eval()}
        runs: dict[str, list[float]] = {name: [] for name in models}
        for _ in range(args.repeats):
            for name, model in models.items():
                runs[name].append(throughput(model, size))
        medians = {name: statistics.median(values) for name, values in runs.items()}
        for name, model in models.items():
            print(f"{size:>5} {name:>9} {flops(model, size) / 1e6:7.1f} {parameter_count(model):8d} "
                  f"{medians[name]:9.0f}")
        print(f"{size:>5} ratio evoface/original: {medians['evoface'] / medians['original']:.2f}x")

    print(f"\n== accuracy after the same budget: {args.epochs} epochs, 64 px, {args.images} images from each of "
          f"celeba, utkface (faces) and cifar10 (non-faces)")
    data_root = Path(args.data)
    config = FitnessTrainConfig(faces=[str(data_root / "celeba"), str(data_root / "utkface")],
                                negatives=[str(data_root / "cifar10")], out="", size=64,
                                max_images=args.images, seed=0, device="cpu")
    data = load_datasets(config)
    print(f"{'model':>9} {'val MSE':>8} {'spearman':>9} {'AUC':>6} {'train s':>8}")
    for name, model in (("evoface", FacenessNet(FacenessConfig(size=64))), ("original", OriginalClassifier(64))):
        torch.manual_seed(0)
        optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        generator = torch.Generator().manual_seed(0)
        started = time.perf_counter()
        model.train()
        for _ in range(args.epochs):
            for images, labels in training_batches(data.train, config.batch_size, config.augmentation, generator):
                regression_step(model, optimizer, images, labels)
        seconds = time.perf_counter() - started
        m = evaluate(model, data.val)
        print(f"{name:>9} {m['val_loss']:8.4f} {m['val_spearman']:9.3f} {m['val_auc']:6.3f} {seconds:8.1f}")


if __name__ == "__main__":
    main()
