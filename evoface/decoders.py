"""Decoders of latent codes into faces: a trained DCGAN generator or VAE decoder behind one interface.

``load_decoder(source)`` takes a ``train-gan``/``train-vae`` checkpoint (or run folder), or the name ``"gan"`` or
``"vae"`` of a shipped decoder, and returns a ``Decoder``: ``.kind``, ``.latent_size``, ``.image_size`` and
``.decode(z)``, which maps (n, k) float32 codes to (n, S, S, 3) uint8 images in batches.

A DCGAN generator's BatchNorm layers were trained on batch statistics, and ``evoface sample`` draws with them; but
then an image depends on which other codes share its batch. The GA needs the image of a code to be a function of
the code alone, so by default ("reference") each BatchNorm normalises with the statistics of one fixed reference
batch of ``REFERENCE_BATCH`` N(0, I) codes, computed once at load time. "running" uses the statistics stored in
training, "batch" those of each batch (not deterministic per code; for measurements only).
"""

from __future__ import annotations

import copy
import os
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch

from evoface.core.checkpoints import load_checkpoint, save_atomic
from evoface.core.errors import InputError
from evoface.kernels.packed_convs import fold_batch_norms, pack_convolutions
from evoface.core.rundir import model_checkpoint
from neural.generative_training import batch_statistics, to_uint8_images
from neural.sampling import GENERATOR_KINDS, generator_from_checkpoint

PRETRAINED = Path(__file__).resolve().parent.parent / "neural" / "pretrained"
SHIPPED = {"gan": PRETRAINED / "gan64.pt", "vae": PRETRAINED / "vae64.pt"}
GAN_NORMS = ("reference", "running", "batch")
REFERENCE_BATCH, REFERENCE_SEED = 512, 0
DECODE_BATCH = 256


def default_decoder() -> str:
    """The decoder of a latent run given none: the shipped GAN, or the shipped VAE where no GAN is shipped."""
    return "gan" if SHIPPED["gan"].is_file() or not SHIPPED["vae"].is_file() else "vae"


def resolve_decoder_path(source: str | os.PathLike) -> Path:
    """The checkpoint behind a decoder source: a shipped one for "gan"/"vae", ``RUN/checkpoints/best.pt`` for a
    run folder, else the path itself."""
    if str(source) in SHIPPED:
        path = SHIPPED[str(source)]
        if not path.is_file():
            raise InputError(f"the shipped {source} decoder is missing ({path}); pass a checkpoint path instead")
        return path
    return model_checkpoint(source)


@torch.no_grad()
def calibrate_batch_norm(net: torch.nn.Module, latents: torch.Tensor) -> None:
    """Set each BatchNorm's running statistics to those of the activations that the batch ``latents`` produces."""
    norms = [m for m in net.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    saved = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # a cumulative average: after one batch, exactly that batch's statistics
        m.train()
    net(latents)
    for m, momentum in zip(norms, saved):
        m.momentum = momentum
        m.eval()


class Decoder:
    """(n, k) float32 latent codes -> (n, S, S, 3) uint8 images, by a GAN generator or a VAE decoder."""

    def __init__(self, kind: str, net: torch.nn.Module, source: str, device: torch.device | str = "cpu",
                 gan_norm: str = "reference"):
        if gan_norm not in GAN_NORMS:
            raise ValueError(f"gan_norm must be one of {GAN_NORMS}, got {gan_norm!r}")
        self.kind, self.source, self.device = kind, source, torch.device(device)
        self.net = net.to(self.device).eval()
        config = net.config
        self.latent_size = config.nz if kind == "gan" else config.latent
        self.image_size = config.size
        self.batch_stats = kind == "gan" and gan_norm == "batch"
        if kind == "gan" and gan_norm == "reference":
            reference = torch.randn(REFERENCE_BATCH, self.latent_size,
                                    generator=torch.Generator().manual_seed(REFERENCE_SEED))
            calibrate_batch_norm(self.net, reference.to(self.device))
        self._forward = self._inference_forward()

    def _inference_forward(self):
        """What ``decode`` runs: a fused, packed copy of the net, made once (each BatchNorm folded into its transposed
        convolution, which runs with its activation as one oneDNN kernel, ``evoface.kernels.packed_convs``), unless
        BatchNorm takes each batch's statistics. The copy decodes the net's images to fp32 rounding (11 of 983,040
        values off by one level of 255 for 80 codes of the shipped GAN) in 0.70x the time (21 against 30 ms; one-off
        checks); inside ``onednn.plain()`` it runs its folded layers unpacked. The net must not change after."""
        net = self.net
        if not self.batch_stats:
            net = pack_convolutions(fold_batch_norms(copy.deepcopy(self.net).eval()))
        return net if self.kind == "gan" else net.decode

    def __repr__(self) -> str:
        return f"Decoder({self.kind}, latent {self.latent_size}, {self.image_size}px, {self.source})"

    @torch.inference_mode()
    def decode(self, z: np.ndarray) -> np.ndarray:
        """(n, latent_size) float32 codes -> (n, image_size, image_size, 3) uint8 images."""
        z = np.asarray(z, np.float32)
        if z.ndim != 2 or z.shape[1] != self.latent_size:
            raise ValueError(f"expected (n, {self.latent_size}) latent codes, got {z.shape}")
        codes = torch.from_numpy(np.ascontiguousarray(z))
        with batch_statistics(self.net) if self.batch_stats else nullcontext():
            images = [to_uint8_images(self._forward(codes[i:i + DECODE_BATCH].to(self.device)))
                      for i in range(0, len(codes), DECODE_BATCH)]
        size = self.image_size
        return np.concatenate(images) if images else np.zeros((0, size, size, 3), np.uint8)

    def random_latents(self, n: int, seed: int) -> np.ndarray:
        """n codes drawn from N(0, I), seeded: the decoder's own random samples."""
        return np.random.default_rng(seed).standard_normal((n, self.latent_size), dtype=np.float32)


def load_decoder(source: str | os.PathLike, device: torch.device | str = "cpu", gan_norm: str = "reference") -> Decoder:
    """The decoder of a GAN or VAE checkpoint, run folder, or shipped name ("gan", "vae"). A checkpoint of another
    kind is an InputError."""
    path = resolve_decoder_path(source)
    ckpt = load_checkpoint(path, GENERATOR_KINDS)
    name = str(source) if str(source) in SHIPPED else str(Path(source).resolve())  # usable from any folder
    return Decoder(ckpt["kind"], generator_from_checkpoint(ckpt, str(path)), name, device, gan_norm)


def export_decoder(checkpoint: str | os.PathLike, out: str | os.PathLike, half: bool = True) -> int:
    """Write a small copy of a GAN or VAE checkpoint for shipping: its kind, model config, training config, metrics
    and the sampling network's weights (fp16 when ``half``; a loader widens them back to float32), without optimizer
    or discriminator state. Returns the file's size in bytes."""
    ckpt = load_checkpoint(checkpoint, GENERATOR_KINDS)
    weights_key = "generator" if ckpt["kind"] == "gan" else "model"

    def narrowed(tensor: torch.Tensor) -> torch.Tensor:
        return tensor.half() if half and tensor.is_floating_point() else tensor

    shipped = {key: ckpt[key] for key in ("kind", "model_config", "config", "epoch", "metrics") if key in ckpt}
    shipped[weights_key] = {name: narrowed(value) for name, value in ckpt[weights_key].items()}
    save_atomic(shipped, out)
    return Path(out).stat().st_size


def decoder_summary(decoder: Decoder) -> dict:
    """What an evolve checkpoint stores about its decoder."""
    return {"kind": decoder.kind, "source": decoder.source, "latent_size": decoder.latent_size,
            "image_size": decoder.image_size}

