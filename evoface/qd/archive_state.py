"""pyribs objects (archive, emitters, scheduler) in a checkpoint that ``torch.load(weights_only=True)`` reads.

pyribs saves its objects by pickling them, which a weights-only load refuses. ``capture`` walks an object's
attributes instead and keeps its state as plain values: numpy arrays become tensors, numpy generators their bit
generator's state, numpy scalars a tagged number, nested pyribs objects dicts of their own attributes. ``restore``
writes such a state into an object built again from the same config (the constructor supplies what is not state:
dtypes, array modules, the shared archive), so that the run goes on with the same bits. It reads pyribs' private
attributes: the pinned pyribs version (constraints.txt) is the one the round-trip tests pass with.
"""

from __future__ import annotations

import types
from typing import Any

import numpy as np
import torch

SKIP = object()  # a value that is no state: the constructor makes it again
NUMPY_SCALAR, GENERATOR = "__numpy_scalar__", "__numpy_generator__"


def _is_state_object(value: Any) -> bool:
    """pyribs' objects and the project's (its emitters, their seed streams): walked attribute by attribute."""
    module = type(value).__module__
    return hasattr(value, "__dict__") and (module.startswith("ribs.") or module.startswith("evoface."))


def capture(value: Any, shared: tuple = ()) -> Any:
    """The state of ``value`` as tensors, numbers, strings and plain containers; ``shared`` objects (the archive,
    when capturing an emitter) and what the constructor makes (modules, dtypes, functions) are left out."""
    if any(value is other for other in shared):
        return SKIP
    if isinstance(value, np.generic):  # before float: numpy's float64 is one
        return {NUMPY_SCALAR: value.dtype.str, "value": value.item()}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.ndarray):
        return torch.from_numpy(value.copy())
    if isinstance(value, np.random.Generator):
        return {GENERATOR: value.bit_generator.state}
    if isinstance(value, (list, tuple)):
        items = [capture(item, shared) for item in value]
        return SKIP if any(item is SKIP for item in items) else type(value)(items)
    if isinstance(value, dict):
        items = {key: capture(item, shared) for key, item in value.items()}
        return SKIP if any(item is SKIP or not isinstance(key, str) for key, item in items.items()) else items
    if _is_state_object(value):
        return {name: kept for name, item in vars(value).items() if (kept := capture(item, shared)) is not SKIP}
    if isinstance(value, (types.ModuleType, type, np.dtype)) or callable(value):
        return SKIP
    raise TypeError(f"cannot keep a {type(value).__name__} in a checkpoint")


def restore(target: Any, state: dict[str, Any]) -> None:
    """Write ``state`` (from ``capture``) into the attributes of ``target``, built again from the same config."""
    for name, saved in state.items():
        current = getattr(target, name, None)
        if _is_state_object(current) and isinstance(saved, dict):
            restore(current, saved)
        elif isinstance(current, np.random.Generator):
            current.bit_generator.state = saved[GENERATOR]
        else:
            object.__setattr__(target, name, _value(saved))


def _value(saved: Any) -> Any:
    """A captured plain value as the object held it."""
    if isinstance(saved, torch.Tensor):
        return saved.numpy().copy()
    if isinstance(saved, dict) and NUMPY_SCALAR in saved:
        return np.dtype(saved[NUMPY_SCALAR]).type(saved["value"])
    if isinstance(saved, dict) and GENERATOR in saved:
        generator = np.random.default_rng()
        generator.bit_generator.state = saved[GENERATOR]
        return generator
    if isinstance(saved, dict):
        return {key: _value(item) for key, item in saved.items()}
    if isinstance(saved, (list, tuple)):
        return type(saved)(_value(item) for item in saved)
    return saved
