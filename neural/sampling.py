"""Draw images from a trained generator checkpoint (GAN or VAE)."""

from __future__ import annotations

import numpy as np
import torch

from evoface.core.errors import InputError

GENERATOR_KINDS = ("gan", "vae")


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
