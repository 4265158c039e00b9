"""What the benches share besides the evolve loop (``bench/loop_timing.py``): the machine line each prints first,
calls timed in turns, and their medians."""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

OFFSPRING = 80  # children a generation scores at the default mu=100, q=20


def cpu_model() -> str:
    """The CPU's model name as /proc/cpuinfo (and so lscpu) gives it."""
    cpuinfo = Path("/proc/cpuinfo")
    for line in cpuinfo.read_text().splitlines() if cpuinfo.exists() else []:
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def machine(device: str = "cpu") -> str:
    """The CPU model, its cores, torch's version and threads, and the device: the line a bench prints first."""
    import torch

    return (f"{cpu_model()}, {os.cpu_count()} cores; torch {torch.__version__}, {torch.get_num_threads()} threads; "
            f"device {device}")


def synchronize(device: str) -> None:
    """Wait for the GPU's queued work (nothing to wait for on a CPU)."""
    import torch

    if str(device).startswith("cuda"):
        torch.cuda.synchronize()


def rate_of(step: Callable[[], object], count: int, device: str = "cpu") -> float:
    """Calls per second of ``count`` calls of ``step``."""
    synchronize(device)
    start = time.perf_counter()
    for _ in range(count):
        step()
    synchronize(device)
    return count / (time.perf_counter() - start)


def onednn_product(x, weight_t):
    """``x @ weight_t.T`` for 2-D fp32 CPU tensors through oneDNN's inner-product primitive, on every CPU (evoface's
    ``onednn.matmul`` takes it off Intel's CPUs only)."""
    import torch

    return torch.ops.mkldnn._linear_pointwise(x, weight_t, None, "none", [], "")


def take_turns(measures: dict, turns: int) -> dict:
    """``turns`` figures of each zero-argument measure, all taking turns (forward, then backward, order)."""
    figures = {name: [] for name in measures}
    for turn in range(turns):
        for name in measures if turn % 2 == 0 else reversed(list(measures)):
            figures[name].append(measures[name]())
    return figures


def median_range(values, digits: int = 1) -> str:
    """"median (min-max)" of ``values``."""
    values = np.asarray(values)
    return f"{np.median(values):.{digits}f} ({values.min():.{digits}f}-{values.max():.{digits}f})"
