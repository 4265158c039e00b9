"""FID feature extraction: evoface's batched extraction against the pytorch-fid CLI on the same 1,000 images.

Run: python bench/fid_speed.py [--data ../shared/data/celeba] [--n 1000]
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

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fitness_data.folder import load_folder  # noqa: E402
from neural.fid import FID_WEIGHTS_NAME, inception_features, inception_model  # noqa: E402


def main() -> None:
    root = Path(__file__).resolve().parents[1]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(root.parent / "shared" / "data" / "celeba"))
    parser.add_argument("--weights", default=str(root.parent / "shared" / "weights" / "pt_inception-fid-features.pth"))
    parser.add_argument("--n", type=int, default=1000)
    args = parser.parse_args()
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
