"""What a module that wraps another (``self.module``) needs to stand in for it."""

from __future__ import annotations

from torch import nn


def wrapped_getattr(wrapper: nn.Module, name: str):
    """A wrapper's attribute, else its wrapped ``module``'s (its config, say), so the wrapper stands in for it."""
    try:
        return nn.Module.__getattr__(wrapper, name)
    except AttributeError:
        return getattr(nn.Module.__getattr__(wrapper, "module"), name)
