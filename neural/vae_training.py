"""VAE training: reconstruction + beta * KL with an optional linear KL warm-up."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from evoface.core.configs import bounded
from evoface.core.errors import InputError
from evoface.core.plots import plot_series
from fitness_data.batches import to_nchw
from neural.generative_training import GenerativeConfig, GenerativeTrainer, decode_latents, to_uint8_images
from neural.vae import Vae, VaeConfig, vae_loss


@dataclass
class VaeTrainConfig(GenerativeConfig):
    kind = "vae"
    command = "train-vae"

    latent: int = bounded(150, 1, 4096)
    width: int = bounded(32, 4, 1024)
    lr: float = bounded(1e-3, 0.0, 10.0, low_open=True)
    beta: float = bounded(1.0, 0.0, 1e6)
    kl_warmup: int = bounded(0, 0, 1_000_000)  # epochs over which beta rises linearly from 0

    @property
    def model_config(self) -> VaeConfig:
        return VaeConfig(self.size, self.latent, self.width)


class VaeTrainer(GenerativeTrainer):
    kind = "vae"

    def build(self) -> None:
        config = self.config
        if config.size not in (32, 64, 128):
            raise InputError(f"the VAE supports --size 32, 64 or 128, got {config.size}")
        self.best_metric = "val_loss" if len(self.holdout_images) else ""
        self.model = Vae(config.model_config).to(self.device)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=config.lr)
        self.fixed_noise = torch.randn(64, config.latent, generator=torch.Generator().manual_seed(config.seed + 7))
        source = self.holdout_images if len(self.holdout_images) else self.train_images.permute(0, 2, 3, 1).numpy()
        self.fixed_inputs = to_nchw(source[:16]).float().div(127.5).sub(1.0)

    def beta_for(self, epoch: int) -> float:
        """The KL weight during (1-based) ``epoch``: rises linearly over the warm-up epochs."""
        warm = self.config.kl_warmup
        return self.config.beta * (min(1.0, epoch / warm) if warm else 1.0)

    def _reconstruct(self, images: torch.Tensor):
        """The arguments of vae_loss but beta: (reconstruction, images, mu, logvar)."""
        reconstruction, mu, logvar = self.model(images)
        return reconstruction, images, mu, logvar

    def train_step(self, images: torch.Tensor) -> dict[str, float]:
        loss, recon, kl = vae_loss(*self._reconstruct(images), self.beta_for(self.epoch + 1))  # epoch in progress
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return {"loss": loss.item(), "recon": recon.item(), "kl": kl.item()}

    def model_state(self) -> dict[str, Any]:
        return {"model_config": dataclasses.asdict(self.config.model_config), **super().model_state()}

    @torch.no_grad()
    def sample(self, n: int) -> np.ndarray:
        return sample_vae(self.model, n, self.device)

    @torch.no_grad()
    def write_grids(self, row: dict[str, Any]) -> None:
        self.model.eval()
        row["beta"] = self.beta_for(self.epoch)  # the epoch just finished
        if len(self.holdout_images):
            total = recon_total = 0.0
            for batch in to_nchw(self.holdout_images).float().div(127.5).sub(1.0).split(256):
                batch = batch.to(self.device)
                loss, recon, _ = vae_loss(*self._reconstruct(batch), self.config.beta)
                total, recon_total = total + loss.item() * len(batch), recon_total + recon.item() * len(batch)
            row["val_loss"], row["val_recon"] = total / len(self.holdout_images), recon_total / len(self.holdout_images)
        inputs = self.fixed_inputs.to(self.device)
        pairs = np.concatenate([to_uint8_images(inputs), to_uint8_images(self.model(inputs)[0])])
        self.save_grid(pairs, f"reconstruction_{self.epoch:04d}.png", columns=16)
        self.save_grid(to_uint8_images(self.model.decode(self.fixed_noise.to(self.device))),
                       f"samples_{self.epoch:04d}.png")
        self.model.train()

    def plot(self, rows: list[dict[str, Any]]) -> None:
        plot_series(rows, "epoch", ["loss", "val_loss", "recon", "val_recon"], self.run.plots / "losses.png",
                    "VAE losses (per image)", "loss", logy=True)
        plot_series(rows, "epoch", ["kl"], self.run.plots / "kl.png", "VAE: KL divergence", "nats per image")
        if any("fid" in row for row in rows):
            plot_series(rows, "epoch", ["fid"], self.run.plots / "fid.png", "VAE: FID vs held-out faces", "FID")


def sample_vae(model: Vae, n: int, device, seed: int | None = None) -> np.ndarray:
    """n images (N, H, W, 3) uint8 decoded from z ~ N(0, I)."""
    return decode_latents(model.decode, model, model.config.latent, model.config.size, n, device, seed)
