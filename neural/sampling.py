"""Draw images from a trained generator checkpoint (GAN or VAE)."""

from __future__ import annotations

import numpy as np
import torch

from evoface.core.errors import InputError

GENERATOR_KINDS = ("gan", "vae")


def generator_from_checkpoint(ckpt: dict, name: str = "checkpoint") -> torch.nn.Module:
    """The network of a loaded GAN or VAE checkpoint, in float32 (weights stored in fp16 are widened) and eval
    mode: a DCGAN ``Generator`` or a ``Vae``."""
    try:
        if ckpt["kind"] == "gan":
            from neural.dcgan import DcganConfig, Generator

            net, weights = Generator(DcganConfig(**ckpt["model_config"])), ckpt["generator"]
        else:
            from neural.vae import Vae, VaeConfig

            net, weights = Vae(VaeConfig(**ckpt["model_config"])), ckpt["model"]
        net.load_state_dict(weights)
    except (KeyError, TypeError, RuntimeError) as exc:
        raise InputError(f"{name}: {ckpt['kind']} checkpoint does not match its model ({type(exc).__name__})") from None
    return net.eval()


def sample_checkpoint(ckpt: dict, n: int, seed: int = 0, device: str | torch.device = "cpu",
                      name: str = "checkpoint") -> np.ndarray:
    """n images (N, H, W, 3) uint8 from a loaded GAN or VAE checkpoint, seeded."""
    net = generator_from_checkpoint(ckpt, name).to(device)
    if ckpt["kind"] == "gan":
        from neural.gan_training import sample_generator

        return sample_generator(net, n, device, seed=seed)
    from neural.vae_training import sample_vae

    return sample_vae(net, n, device, seed=seed)
