"""Save and load trained faceness models; the package ships a default one."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import torch

from evoface.core.checkpoints import load_checkpoint, save_atomic
from evoface.core.errors import InputError
from evoface.core.rundir import model_checkpoint
from neural.faceness import FacenessConfig, FacenessNet

KIND = "faceness"
DEFAULT_MODEL = Path(__file__).parent / "pretrained" / "faceness64.pt"


def save_faceness(model: FacenessNet, path: str | os.PathLike, metrics: dict[str, Any] | None = None) -> None:
    save_atomic({"kind": KIND, "model_config": dataclasses.asdict(model.config),
                 "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
                 "metrics": metrics or {}}, path)


def resolve_faceness_path(path: str | os.PathLike | None) -> Path:
    """A faceness checkpoint path: the shipped default for None, ``RUN/checkpoints/best.pt`` for a run folder."""
    if path is None:
        if not DEFAULT_MODEL.is_file():
            raise InputError(f"the shipped faceness model is missing ({DEFAULT_MODEL}); pass --fitness CKPT")
        return DEFAULT_MODEL
    return model_checkpoint(path)


def load_faceness(path: str | os.PathLike | None = None) -> FacenessNet:
    """Load a faceness model in eval mode (the shipped default when ``path`` is None)."""
    path = resolve_faceness_path(path)
    ckpt = load_checkpoint(path, KIND)
    try:
        model = FacenessNet(FacenessConfig(**ckpt["model_config"]))
        model.load_state_dict(ckpt["state_dict"])
    except (KeyError, TypeError, RuntimeError) as exc:
        raise InputError(f"{path}: faceness checkpoint does not match the model ({type(exc).__name__})") from None
    return model.eval()


@torch.inference_mode()
def score_images(model: FacenessNet, images: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    """Faceness of (N, 3, H, W) uint8 images, on the model's device, in batches; returns a CPU float tensor."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    scores = [model(images[i:i + batch_size].to(device)).float().cpu() for i in range(0, len(images), batch_size)]
    model.train(was_training)
    return torch.cat(scores) if scores else torch.zeros(0)
