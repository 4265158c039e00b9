"""What a module that wraps another (``self.module``) needs to stand in for it, and to keep kernels made from it."""

from __future__ import annotations

import threading

import torch
from torch import nn


def wrapped_getattr(wrapper: nn.Module, name: str):
    """A wrapper's attribute, else its wrapped ``module``'s (its config, say), so the wrapper stands in for it."""
    try:
        return nn.Module.__getattr__(wrapper, name)
    except AttributeError:
        return getattr(nn.Module.__getattr__(wrapper, "module"), name)


def tensor_state(tensor: torch.Tensor) -> tuple:
    """What identifies a tensor's values for a cache made from them: the tensor, its memory, its device and its
    version counter (bumped by in-place changes; inference tensors have none, and cannot be changed outside
    inference mode)."""
    return id(tensor), tensor.data_ptr(), tensor.device, None if tensor.is_inference() else tensor._version


class DerivedKernels(nn.Module):
    """Base of a module that keeps kernels made from its weights (graphs, packed weights) in a dict, ``self.kernels``,
    guarded by ``self.kernels_lock``: both are made anew when the module is moved or converted (``_apply``: ``.to``,
    ``.float``) or a state dict is loaded, and left out of pickles and copies."""

    def __init__(self):
        super().__init__()
        self.kernels: dict = {}
        self.kernels_lock = threading.Lock()

    def _apply(self, fn, recurse=True):
        self.kernels = {}  # made from the weights as they were
        return super()._apply(fn, recurse)

    def _load_from_state_dict(self, *args, **kwargs):
        self.kernels = {}
        return super()._load_from_state_dict(*args, **kwargs)

    def __getstate__(self):
        state = self.__dict__.copy()
        state.update(kernels={}, kernels_lock=None)  # oneDNN's tensors have no storage to copy; a lock cannot be
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        self.kernels_lock = threading.Lock()
