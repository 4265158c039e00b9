"""FID feature extraction: evoface's batched extraction against the pytorch-fid CLI on the same 1,000 images.

Run: python bench/fid_speed.py [--data ../shared/data/celeba] [--n 1000]
     python bench/fid_speed.py --against CHECKOUT [--n 500] [--turns 3]: this checkout's ``inception_features`` of the
     same images against another checkout's, in alternating processes; prints the seconds, the per-turn ratios and
     the largest difference between the two sets of features.
The CLI is timed as `python -m pytorch_fid --save-stats FOLDER OUT.npz` (its own loading and batching, 2048-d
features), with torch.hub pointed at the offline weights; ours as load_folder + inception_features. The two are run
one after the other and their feature means are compared, to show they compute the same features.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the project's modules are imported where used, so
# that ``--one`` imports another checkout's


def time_checkout(checkout: str, args: argparse.Namespace, out: Path) -> float:
    """In this process: seconds of ``checkout``'s ``inception_features`` of ``args.n`` images (after a warm-up on
    ten), its features saved to ``out``."""
    sys.path.insert(0, checkout)
    import neural

    if not neural.__file__.startswith(checkout):
        raise SystemExit(f"error: imported {neural.__file__}, not the checkout {checkout}")
    from fitness_data.folder import load_folder
    from neural.fid import inception_features, inception_model

    images = load_folder(args.data, 64, limit=args.n, seed=0, quiet=True).images
    model = inception_model(args.weights)
    inception_features(model, images[:10])
    start = time.perf_counter()
    np.save(out, inception_features(model, images))
    return time.perf_counter() - start


def compare_checkouts(args: argparse.Namespace) -> None:
    """``time_checkout`` of the other checkout and this one in alternating processes."""
    checkouts = [str(Path(args.against).resolve()), str(Path(__file__).resolve().parents[1])]
    seconds = {checkout: [] for checkout in checkouts}
    with tempfile.TemporaryDirectory() as tmp:
        for turn in range(args.turns):
            for index, checkout in (list(enumerate(checkouts)) if turn % 2 == 0 else list(enumerate(checkouts))[::-1]):
                out = Path(tmp) / f"features{index}.npy"
                line = subprocess.run([sys.executable, __file__, "--one", checkout, "--out", str(out), "--n",
                                       str(args.n), "--data", args.data, "--weights", args.weights],
                                      check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
                seconds[checkout].append(float(line))
                print(f"{checkout}: {seconds[checkout][-1]:.1f} s", flush=True)
        difference = np.abs(np.load(Path(tmp) / "features0.npy") - np.load(Path(tmp) / "features1.npy")).max()
    ratios = np.array(seconds[checkouts[0]]) / np.array(seconds[checkouts[1]])
    print(f"{args.n} images: {np.median(seconds[checkouts[0]]):.1f} s there, {np.median(seconds[checkouts[1]]):.1f} s"
          f" here (medians); here {np.median(ratios):.2f}x as fast ({ratios.min():.2f}-{ratios.max():.2f}x by turn); "
          f"features differ by at most {difference:.2e}")


def main() -> None:
    root = Path(__file__).resolve().parents[1]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(root.parent / "shared" / "data" / "celeba"))
    parser.add_argument("--weights", default=str(root.parent / "shared" / "weights" / "pt_inception-fid-features.pth"))
    parser.add_argument("--n", type=int, default=None, help="images (default: 1000; 500 with --against)")
    parser.add_argument("--against", help="another checkout to time this one's feature extraction against")
    parser.add_argument("--turns", type=int, default=3)
    parser.add_argument("--one", help=argparse.SUPPRESS)  # a child process of --against: time this checkout
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.n = args.n or (500 if args.against or args.one else 1000)
    if args.one:
        print(time_checkout(args.one, args, Path(args.out)))
        return
    if args.against:
        if not (Path(args.against) / "neural" / "fid.py").is_file():
            parser.error(f"{args.against} is not a checkout of evoface (no neural/fid.py in it)")
        compare_checkouts(args)
        return
    from fitness_data.folder import load_folder
    from neural.fid import FID_WEIGHTS_NAME, inception_features, inception_model

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "images"
        folder.mkdir()
        for path in sorted(Path(args.data).glob("*.jpg"))[:args.n]:
            shutil.copy(path, folder / path.name)
        hub = Path(tmp) / "hub" / "checkpoints"
        hub.mkdir(parents=True)
        (hub / FID_WEIGHTS_NAME).symlink_to(Path(args.weights).resolve())
        env = {**os.environ, "TORCH_HOME": str(Path(tmp)), "PYTHONWARNINGS": "ignore"}
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "pytorch_fid", "--device", "cpu", "--save-stats", str(folder),
                        str(Path(tmp) / "stats.npz")], check=True, env=env, capture_output=True)
        cli_seconds = time.perf_counter() - start
        cli_mu = np.load(Path(tmp) / "stats.npz")["mu"]

        start = time.perf_counter()
        model = inception_model(args.weights)
        images = load_folder(folder, 128, quiet=True).images  # the files' own size, as the CLI reads them
        ours = inception_features(model, images)
        our_seconds = time.perf_counter() - start
    print(f"{args.n} images from {args.data}")
    print(f"pytorch-fid CLI: {cli_seconds:6.1f} s  ({args.n / cli_seconds:5.1f} images/s)")
    print(f"evoface:         {our_seconds:6.1f} s  ({args.n / our_seconds:5.1f} images/s)")
    print(f"ratio evoface/CLI: {cli_seconds / our_seconds:.2f}")
    print(f"feature means differ by at most {np.abs(ours.mean(axis=0) - cli_mu).max():.2e} "
          f"(mean |feature| {np.abs(cli_mu).mean():.3f})")


if __name__ == "__main__":
    main()
