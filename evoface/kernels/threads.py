"""The thread policy: evoface runs on one machine share its cores instead of oversubscribing them.

Every evoface process lists itself while it runs (``evoface.kernels.sharing``). One that starts while another runs
waits passively (OpenMP's ``OMP_WAIT_POLICY=PASSIVE``, set before torch loads OpenMP), so runs started together
hand each other the cores between parallel regions. One that started alone keeps OpenMP's spinning threads, and so
its speed; once another run appears it takes the cores divided by the runs as its torch threads (``MachineShare``,
about once a second), so that no spinning thread holds a core another run waits for. ``bench/shared_machine.py``
measures both. A user's ``OMP_WAIT_POLICY`` or ``OMP_NUM_THREADS`` is left as it is.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import torch

from evoface.kernels.sharing import PASSIVE, list_process, live_runs, registry

CHECK_EVERY_S = 1.0  # how often a run counts the others


def threads_for(cores: int, runs: int) -> int:
    """Threads a run takes when ``runs`` runs share ``cores`` threads' worth of cores."""
    return max(1, cores // max(1, runs))


def waits_passively() -> bool:
    """True when this process's OpenMP threads sleep as soon as they wait (they then need no smaller share)."""
    return os.environ.get("OMP_WAIT_POLICY", "").upper() == PASSIVE["OMP_WAIT_POLICY"]


class MachineShare:
    """Context manager around a run's loop: lists the process (where its start did not), and ``update()`` shares the
    cores among the listed runs."""

    def __init__(self, folder: Path | None = None):
        self.folder = folder or registry()
        self.entry = self.folder / str(os.getpid())
        self.cores = torch.get_num_threads()
        self.checked = -float("inf")
        self.listed = False

    def __enter__(self) -> "MachineShare":
        self.listed = not self.entry.exists() and list_process(self.folder)
        return self

    def update(self) -> None:
        """Set torch's threads to this run's share, at most once every ``CHECK_EVERY_S``."""
        now = time.monotonic()
        if now - self.checked < CHECK_EVERY_S or waits_passively():
            return
        self.checked = now
        threads = threads_for(self.cores, live_runs(self.folder))
        if threads != torch.get_num_threads():
            torch.set_num_threads(threads)

    def __exit__(self, *exc: object) -> None:
        if self.listed:
            self.entry.unlink(missing_ok=True)
        if torch.get_num_threads() != self.cores:
            torch.set_num_threads(self.cores)
