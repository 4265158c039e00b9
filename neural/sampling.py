"""Draw images from any evoface generator: a GAN or VAE checkpoint, or an evolve run directory."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from evoface.checkpoints import load_checkpoint
from evoface.errors import InputError
from evoface.rendering import genome_side, render

GENERATOR_KINDS = ("gan", "vae")


def sample_images(source: str | Path, n: int, seed: int = 0, device: str | torch.device = "cpu") -> np.ndarray:
    """n images (N, H, W, 3) uint8 from ``source``.

    A GAN/VAE checkpoint draws fresh latents (seeded). An evolve run gives its hall of fame first, then the rest of
    its final population, best first (distinct images only), so it may return fewer than n.
    """
    if n < 1:
        raise InputError(f"-n must be at least 1, got {n}")
    path = Path(source)
    if path.is_dir():
        return evolve_run_images(path, n)
    return sample_checkpoint(load_checkpoint(path, GENERATOR_KINDS), n, seed, device, name=str(path))


def sample_checkpoint(ckpt: dict, n: int, seed: int = 0, device: str | torch.device = "cpu",
                      name: str = "checkpoint") -> np.ndarray:
    """n images (N, H, W, 3) uint8 from a loaded GAN or VAE checkpoint, seeded."""
    try:
        if ckpt["kind"] == "gan":
            from neural.dcgan import DcganConfig, Generator
            from neural.gan_training import sample_generator

            net = Generator(DcganConfig(**ckpt["model_config"]))
            net.load_state_dict(ckpt["generator"])
            return sample_generator(net.to(device), n, device, seed=seed)
        from neural.vae import Vae, VaeConfig
        from neural.vae_training import sample_vae

        model = Vae(VaeConfig(**ckpt["model_config"]))
        model.load_state_dict(ckpt["model"])
        return sample_vae(model.to(device), n, device, seed=seed)
    except (KeyError, TypeError, RuntimeError) as exc:
        raise InputError(f"{name}: {ckpt['kind']} checkpoint does not match its model ({type(exc).__name__})") from None


def evolve_checkpoint_images(ckpt: dict, n: int | None = None) -> np.ndarray:
    """Up to n (default: all) distinct images of a loaded evolve checkpoint, rendered as the fitness model saw them:
    hall of fame, then the final population, best first."""
    order = np.argsort(-ckpt["fitness"].numpy(), kind="stable")
    genes = np.concatenate([ckpt["hof_genes"].numpy(), ckpt["genes"].numpy()[order]])
    _, first = np.unique(genes, axis=0, return_index=True)
    genes = genes[np.sort(first)][:n]
    return render(genes, ckpt.get("image_size") or genome_side(genes.shape[1]))


def evolve_run_images(run_dir: Path, n: int) -> np.ndarray:
    """Up to n distinct images of an evolve run: hall of fame, then the final population, best first."""
    return evolve_checkpoint_images(load_checkpoint(Path(run_dir) / "checkpoints" / "last.pt", "evolve"), n)
