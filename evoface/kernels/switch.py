"""The kernels switch (auto or plain, ``EVOFACE_KERNELS``): see ``evoface.kernels``."""


from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

MODES = ("auto", "plain")
ENVIRONMENT = "EVOFACE_KERNELS"  # "plain" forces the plain path for a whole process
NAMES = ("onednn-graph", "onednn-matmul", "packed-convolutions", "heap-blocks")

_lock = threading.Lock()
_mode = "auto"
_plain_depth = 0          # > 0 inside ``plain()``
_disabled: set[str] = set()  # fast paths a bench has turned off one by one (``without``)


def forced_plain() -> bool:
    """True when ``EVOFACE_KERNELS=plain`` forces the plain path on this process."""
    return os.environ.get(ENVIRONMENT, "").strip().lower() == "plain"


def check_mode(mode: str) -> str:
    """``mode`` if it is one of ``MODES``, else ValueError (configs check the flag with their own message)."""
    if mode not in MODES:
        raise ValueError(f"kernels must be one of {', '.join(MODES)}, got {mode!r}")
    return mode


def select(mode: str) -> str:
    """Make ``mode`` the process's choice; returns the one in force (plain when the environment forces it)."""
    global _mode
    _mode = check_mode(mode)
    return selected()


def selected() -> str:
    """The choice in force for this process: "plain" when forced by the environment, else the selected mode."""
    return "plain" if forced_plain() else _mode


def enabled(name: str) -> bool:
    """True when the fast path ``name`` (one of ``NAMES``) may run now: the mode is auto, outside ``plain()``, and no
    bench turned it off. Whether this machine can run it is the fast path's own check."""
    return not _plain_depth and name not in _disabled and selected() == "auto"


@contextmanager
def plain() -> Iterator[None]:
    """Within it, every fast path runs its plain reference (nested blocks and threads share one count)."""
    global _plain_depth
    with _lock:
        _plain_depth += 1
    try:
        yield
    finally:
        with _lock:
            _plain_depth -= 1


@contextmanager
def without(*names: str) -> Iterator[None]:
    """Within it, the named fast paths run their references: a bench measures one fast path at a time."""
    unknown = set(names) - set(NAMES)
    if unknown:
        raise ValueError(f"unknown fast paths {sorted(unknown)}; they are {', '.join(NAMES)}")
    before = set(_disabled)
    _disabled.update(names)
    try:
        yield
    finally:
        _disabled.clear()
        _disabled.update(before)


def selected_mode() -> str:
    """The mode selected by the command (``select``), whatever the environment forces."""
    return _mode


def disabled() -> frozenset[str]:
    """The fast paths a bench has turned off (``without``)."""
    return frozenset(_disabled)
