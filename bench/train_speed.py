"""DCGAN training throughput: evoface's loop against the pytorch/examples DCGAN loop rebuilt from its description.

Run: python bench/train_speed.py [--data ../shared/data/celeba] [--steps 30] [--rounds 3]
Both train the same 64x64 architecture at batch 64 with BCE. The reference loop, as in pytorch/examples dcgan/main.py:
torchvision ImageFolder + Resize/CenterCrop/ToTensor/Normalize in a DataLoader (2 workers), a sigmoid discriminator
with BCELoss, and three backward passes per step (D on real, D on fake, G). Rounds alternate between the two loops;
images/s are medians over rounds.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from neural.dcgan import DcganConfig, Discriminator, Generator  # noqa: E402
from neural.gan_training import DcganTrainer, GanTrainConfig  # noqa: E402

BATCH = 64


def reference_loop(data_root: Path, steps: int) -> float:
    import torchvision.datasets as dset
    import torchvision.transforms as transforms

    dataset = dset.ImageFolder(root=str(data_root), transform=transforms.Compose([
        transforms.Resize(64), transforms.CenterCrop(64), transforms.ToTensor(),
        transforms.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))]))
    loader = torch.utils.data.DataLoader(dataset, batch_size=BATCH, shuffle=True, num_workers=2, drop_last=True)
    config = DcganConfig(size=64)
    net_g, net_d = Generator(config), nn.Sequential(Discriminator(config), nn.Sigmoid())
    criterion = nn.BCELoss()
    opt_d = torch.optim.Adam(net_d.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_g = torch.optim.Adam(net_g.parameters(), lr=2e-4, betas=(0.5, 0.999))
    batches = iter(loader)
    start = None
    for step in range(steps + 2):
        if step == 2:  # the first steps warm up workers and allocators
            start = time.perf_counter()
        real = next(batches)[0]
        net_d.zero_grad()
        label = torch.full((BATCH,), 1.0)
        err_real = criterion(net_d(real), label)
        err_real.backward()
        fake = net_g(torch.randn(BATCH, 100, 1, 1))
        label.fill_(0.0)
        err_fake = criterion(net_d(fake.detach()), label)
        err_fake.backward()
        opt_d.step()
        net_g.zero_grad()
        label.fill_(1.0)
        err_g = criterion(net_d(fake), label)
        err_g.backward()
        opt_g.step()
    return steps * BATCH / (time.perf_counter() - start)


def evoface_loop(trainer: DcganTrainer, steps: int) -> float:
    batches = itertools.chain.from_iterable(trainer.batches() for _ in itertools.count())
    start = None
    for step in range(steps + 2):
        if step == 2:
            start = time.perf_counter()
        trainer.train_step(next(batches))
    return steps * BATCH / (time.perf_counter() - start)


def main() -> None:
    root = Path(__file__).resolve().parents[1]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(root.parent / "shared" / "data" / "celeba"))
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        image_folder_root = Path(tmp) / "imagefolder"
        image_folder_root.mkdir()
        (image_folder_root / "faces").symlink_to(Path(args.data).resolve())
        trainer = DcganTrainer(GanTrainConfig(data=[args.data], out=str(Path(tmp) / "run"), size=64,
                                              batch_size=BATCH, device="cpu"), resume=False)
        results: dict[str, list[float]] = {"reference": [], "evoface": []}
        for _ in range(args.rounds):
            results["reference"].append(reference_loop(image_folder_root, args.steps))
            results["evoface"].append(evoface_loop(trainer, args.steps))
    ref, ours = statistics.median(results["reference"]), statistics.median(results["evoface"])
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; DCGAN 64x64, batch {BATCH}, BCE, "
          f"{args.steps} steps x {args.rounds} rounds")
    print(f"reference loop (pytorch/examples): {ref:7.1f} images/s  {results['reference']}")
    print(f"evoface loop:                      {ours:7.1f} images/s  {results['evoface']}")
    print(f"ratio evoface/reference: {ours / ref:.2f}")


if __name__ == "__main__":
    main()
