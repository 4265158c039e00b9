"""Capture and restore the random states a run depends on, in a form torch.load(weights_only=True) accepts."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch


def seed_everything(seed: int) -> np.random.Generator:
    """Seed python's, numpy's legacy and torch's global generators; return a fresh numpy Generator from the seed."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return np.random.default_rng(seed)


def capture(numpy_rng: np.random.Generator | None = None) -> dict[str, Any]:
    state: dict[str, Any] = {
        "python": _to_lists(random.getstate()),
        "numpy_legacy": _to_lists(np.random.get_state(legacy=False)),
        "torch": torch.get_rng_state(),
    }
    if numpy_rng is not None:
        state["numpy"] = numpy_rng.bit_generator.state
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore(state: dict[str, Any], numpy_rng: np.random.Generator | None = None) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    legacy = dict(state["numpy_legacy"])
    legacy["state"] = {"key": np.asarray(legacy["state"]["key"], dtype=np.uint32), "pos": legacy["state"]["pos"]}
    np.random.set_state(legacy)
    torch.set_rng_state(state["torch"])
    if numpy_rng is not None and "numpy" in state:
        numpy_rng.bit_generator.state = state["numpy"]
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _to_lists(value: Any) -> Any:
    """Tuples and numpy arrays become lists, so the weights-only unpickler accepts them."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (tuple, list)):
        return [_to_lists(v) for v in value]
    if isinstance(value, dict):
        return {k: _to_lists(v) for k, v in value.items()}
    return value
