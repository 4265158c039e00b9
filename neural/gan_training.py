"""DCGAN training: BCE, LSGAN or hinge loss, with the stabilising tricks as options."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from evoface.core.configs import bounded
from evoface.core.errors import InputError
from evoface.core.plots import plot_series
from neural.dcgan import DcganConfig, Discriminator, Generator
from neural.generative_training import (
    GenerativeConfig,
    GenerativeTrainer,
    batch_statistics,
    decode_latents,
    to_uint8_images,
)

LOSSES = ("bce", "lsgan", "hinge")


@dataclass
class GanTrainConfig(GenerativeConfig):
    kind = "gan"
    command = "train-gan"
    resume_changeable = (*GenerativeConfig.resume_changeable, "g_ema")

    nz: int = bounded(100, 1, 4096)
    ngf: int = bounded(64, 1, 1024)
    ndf: int = bounded(64, 1, 1024)
    lr_g: float = bounded(2e-4, 0.0, 10.0, low_open=True)
    lr_d: float = bounded(2e-4, 0.0, 10.0, low_open=True)
    beta1: float = bounded(0.5, 0.0, 1.0, high_open=True)
    loss: str = bounded("bce", choices=LOSSES)
    label_smoothing: float = bounded(0.0, 0.0, 0.5)  # one-sided: real targets are 1 - this
    label_flip: float = bounded(0.0, 0.0, 0.5)       # probability of swapping real/fake targets for the discriminator
    instance_noise: float = bounded(0.0, 0.0, 10.0)  # std of Gaussian noise added to D's inputs, annealed to 0
    d_dropout: float = bounded(0.0, 0.0, 0.9)
    g_ema: float = bounded(0.0, 0.0, 1.0, high_open=True)  # decay of a moving average of G's weights, used for
    # sampling (0: off)

    @property
    def model_config(self) -> DcganConfig:
        return DcganConfig(self.size, self.nz, self.ngf, self.ndf, self.d_dropout)


def discriminator_loss(loss: str, real_logits, fake_logits, real_target, fake_target) -> torch.Tensor:
    """D's loss on real and fake logits; targets (per sample) apply to bce and lsgan."""
    if loss == "bce":
        return (F.binary_cross_entropy_with_logits(real_logits, real_target)
                + F.binary_cross_entropy_with_logits(fake_logits, fake_target))
    if loss == "lsgan":
        return 0.5 * (F.mse_loss(real_logits, real_target) + F.mse_loss(fake_logits, fake_target))
    return F.relu(1 - real_logits).mean() + F.relu(1 + fake_logits).mean()


def generator_loss(loss: str, fake_logits) -> torch.Tensor:
    if loss == "bce":
        return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))
    if loss == "lsgan":
        return 0.5 * F.mse_loss(fake_logits, torch.ones_like(fake_logits))
    return -fake_logits.mean()


class DcganTrainer(GenerativeTrainer):
    kind = "gan"

    def build(self) -> None:
        config = self.config
        if config.loss not in LOSSES:
            raise InputError(f"--loss must be one of {', '.join(LOSSES)}")
        if config.size not in (32, 64, 128):
            raise InputError(f"the DCGAN supports --size 32, 64 or 128, got {config.size}")
        self.best_metric = "fid" if config.fid_every and config.holdout > 0 else ""
        self.net_g = Generator(config.model_config).to(self.device)
        self.net_d = Discriminator(config.model_config).to(self.device)
        self.opt_g = torch.optim.Adam(self.net_g.parameters(), lr=config.lr_g, betas=(config.beta1, 0.999))
        self.opt_d = torch.optim.Adam(self.net_d.parameters(), lr=config.lr_d, betas=(config.beta1, 0.999))
        self.ema = (AveragedModel(self.net_g, multi_avg_fn=get_ema_multi_avg_fn(config.g_ema), use_buffers=True)
                    if config.g_ema else None)
        # one fixed noise batch for every progress grid, so grids over epochs are comparable
        self.fixed_noise = torch.randn(64, config.nz, generator=torch.Generator().manual_seed(config.seed + 7))

    def _instance_noise(self, images: torch.Tensor) -> torch.Tensor:
        sigma = self.config.instance_noise * max(0.0, 1.0 - self.epoch / self.config.epochs)
        return images + sigma * torch.randn_like(images) if sigma > 0 else images

    def train_step(self, real: torch.Tensor) -> dict[str, float]:
        config, batch = self.config, real.shape[0]
        z = torch.randn(batch, config.nz, device=self.device)
        fake = self.net_g(z)
        real_target = torch.full((batch,), 1.0 - config.label_smoothing, device=self.device)
        fake_target = torch.zeros(batch, device=self.device)
        if config.label_flip > 0:
            flip = torch.rand(batch, device=self.device) < config.label_flip
            real_target, fake_target = torch.where(flip, fake_target, real_target), torch.where(
                flip, real_target, fake_target)
        real_logits = self.net_d(self._instance_noise(real))
        fake_logits = self.net_d(self._instance_noise(fake.detach()))
        loss_d = discriminator_loss(config.loss, real_logits, fake_logits, real_target, fake_target)
        self.opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        self.opt_d.step()
        gen_logits = self.net_d(self._instance_noise(fake))
        loss_g = generator_loss(config.loss, gen_logits)
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self.opt_g.step()
        if self.ema is not None:
            self.ema.update_parameters(self.net_g)
        return {"loss_d": loss_d.item(), "loss_g": loss_g.item(), "d_x": torch.sigmoid(real_logits).mean().item(),
                "d_g_z": torch.sigmoid(fake_logits).mean().item()}

    @property
    def sampling_generator(self) -> Generator:
        """The generator that draws samples: the moving average when there is one, else the trained one."""
        return self.ema.module if self.ema is not None else self.net_g

    def state(self) -> dict[str, Any]:
        return {"opt_g": self.opt_g.state_dict(), "opt_d": self.opt_d.state_dict(),
                "discriminator": self.net_d.state_dict(), "trained_generator": self.net_g.state_dict()}

    def load_state(self, state: dict[str, Any]) -> None:
        # "generator" holds the sampling weights (the average, if any); runs from before G-EMA have only that
        self.net_g.load_state_dict(state["trained_generator"])
        if self.ema is not None:  # a run resumed with G-EMA newly on starts the average at the trained weights
            self.ema.module.load_state_dict(state["generator"])
            self.ema.n_averaged.fill_(1)  # further updates average rather than copy
        self.net_d.load_state_dict(state["discriminator"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])

    def model_state(self) -> dict[str, Any]:
        return {"model_config": dataclasses.asdict(self.config.model_config),
                "generator": self.sampling_generator.state_dict()}

    @torch.no_grad()
    def sample(self, n: int) -> np.ndarray:
        return sample_generator(self.sampling_generator, n, self.device)

    @torch.no_grad()
    def write_grids(self, row: dict[str, Any]) -> None:
        net = self.sampling_generator
        with batch_statistics(net):
            grid = to_uint8_images(net(self.fixed_noise.to(self.device)))
        self.save_grid(grid, f"epoch_{self.epoch:04d}.png")

    def plot(self, rows: list[dict[str, Any]]) -> None:
        plot_series(rows, "epoch", ["loss_d", "loss_g"], self.run.plots / "losses.png", "DCGAN losses", "loss")
        plot_series(rows, "epoch", ["d_x", "d_g_z"], self.run.plots / "discriminator.png",
                    "DCGAN: D(x) and D(G(z))", "mean sigmoid output")
        if any("fid" in row for row in rows):
            plot_series(rows, "epoch", ["fid"], self.run.plots / "fid.png", "DCGAN: FID vs held-out faces", "FID")


def sample_generator(net_g: Generator, n: int, device, seed: int | None = None) -> np.ndarray:
    """n images (N, H, W, 3) uint8 from a generator whose BatchNorm uses batch statistics, as in training (this
    gives a lower FID than running statistics: 155 vs 182 for the CelebA run of the README)."""
    return decode_latents(net_g, net_g, net_g.config.nz, net_g.config.size, n, device, seed, batch_stats=True)
