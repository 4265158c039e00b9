"""Ship a trained GAN or VAE as a small fp16 file, and measure what fp16 weights change in its images.

Run: python bench/decoder_fp16.py CHECKPOINT OUT.pt [--n 1000]
Writes OUT.pt with ``evoface.decoders.export_decoder`` and prints both file sizes and the absolute difference, in
uint8 levels, between the images the full and the fp16 file decode from the same n codes.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from evoface.decoders import export_decoder, load_decoder  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint")
    parser.add_argument("out")
    parser.add_argument("--n", type=int, default=1000)
    args = parser.parse_args()
    size = export_decoder(args.checkpoint, args.out)
    full, half = load_decoder(args.checkpoint), load_decoder(args.out)
    z = full.random_latents(args.n, seed=0)
    difference = np.abs(full.decode(z).astype(np.int16) - half.decode(z).astype(np.int16))
    print(json.dumps({"kind": full.kind, "latent": full.latent_size, "source_bytes": Path(args.checkpoint).stat().st_size,
                      "shipped_bytes": size, "n": args.n, "max_level_difference": int(difference.max()),
                      "mean_level_difference": float(difference.mean()),
                      "share_of_values_changed": float((difference > 0).mean())}))


if __name__ == "__main__":
    main()
