"""Images from any evoface source: a GAN or VAE checkpoint, or an evolve run directory."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from evoface.core.checkpoints import load_checkpoint
from evoface.core.configs import RunConfig, bounded, seed_field
from evoface.kernels import switch
from evoface.kernels.switch import MODES as KERNEL_MODES
from evoface.core.errors import InputError
from evoface.core.rundir import last_checkpoint
from evoface.decoders import SHIPPED, resolve_decoder_path
from evoface.latent_genome import latent_checkpoint_images
from evoface.rendering import genome_side, render
from neural.sampling import GENERATOR_KINDS, sample_checkpoint


RUN_KINDS = ("evolve", "illuminate")  # the runs whose images ``sample --model RUN`` draws


def sample_images(source: str | Path, n: int, seed: int = 0, device: str | torch.device = "cpu") -> np.ndarray:
    """n images (N, H, W, 3) uint8 from ``source``.

    A GAN/VAE checkpoint draws fresh latents (seeded); "gan" and "vae" name the shipped ones (unless a file or folder
    has that name). An evolve run (pixel or latent) gives its hall of fame first, then the rest of
    its final population, best first (distinct images only), so it may return fewer than n; an illuminate run gives
    its map's elites, best first.
    """
    if n < 1:
        raise InputError(f"-n must be at least 1, got {n}")
    path = Path(source)
    if path.is_dir():
        return run_checkpoint_images(load_checkpoint(last_checkpoint(path), RUN_KINDS), n)
    if not path.exists() and str(source) in SHIPPED:
        path = resolve_decoder_path(str(source))
    return sample_checkpoint(load_checkpoint(path, GENERATOR_KINDS), n, seed, device, name=str(path))


def evolve_checkpoint_images(ckpt: dict, n: int | None = None) -> np.ndarray:
    """Up to n (default: all) distinct images of a loaded evolve checkpoint, rendered as the fitness model saw them:
    hall of fame, then the final population, best first."""
    order = np.argsort(-ckpt["fitness"].numpy(), kind="stable")
    genes = np.concatenate([ckpt["hof_genes"].numpy(), ckpt["genes"].numpy()[order]])
    _, first = np.unique(genes, axis=0, return_index=True)
    genes = genes[np.sort(first)][:n]
    if ckpt.get("genome") == "latent":
        return latent_checkpoint_images(ckpt, genes)
    return render(genes, ckpt.get("image_size") or genome_side(genes.shape[1]))


def run_checkpoint_images(ckpt: dict, n: int | None = None) -> np.ndarray:
    """Up to n images of a loaded evolve checkpoint (``evolve_checkpoint_images``) or illuminate checkpoint (its
    elites, best first)."""
    if ckpt["kind"] == "illuminate":
        from evoface.illuminate import checkpoint_images  # pyribs: loaded only for an illuminate run

        return checkpoint_images(ckpt, n)
    return evolve_checkpoint_images(ckpt, n)


def evolve_run_images(run_dir: Path, n: int) -> np.ndarray:
    """Up to n distinct images of an evolve run: hall of fame, then the final population, best first."""
    return evolve_checkpoint_images(load_checkpoint(last_checkpoint(run_dir), "evolve"), n)


MAX_SAMPLES = 100_000  # 1.2 GB of 64 px images


@dataclass
class SampleConfig(RunConfig):
    """Every parameter of ``evoface sample``."""

    source: str
    out: str
    n: int = bounded(64, 1, MAX_SAMPLES, flag="-n")
    device: str = "auto"
    seed: int = seed_field()
    kernels: str = bounded("auto", choices=KERNEL_MODES)  # the decoders' fast paths (``evoface.kernels``)


def sample(config: SampleConfig) -> str:
    """Draw ``config.n`` images from ``config.source`` and write them to ``config.out``; returns a one-line summary."""
    from evoface.sample_output import check_out, write_samples
    from neural.devices import resolve_device

    config.validate()
    switch.select(config.kernels)
    check_out(config.out)
    images = sample_images(config.source, config.n, seed=config.seed, device=resolve_device(config.device))
    return write_samples(images, config.out, requested=config.n)
