"""The thread policy: evoface runs on one machine share its cores instead of oversubscribing them.

Each run inside ``MachineShare`` leaves a file named by its process id in a folder of the machine's temporary
directory, and about once a second sets torch's threads to the cores divided by the live runs (at least one). One
run alone keeps every core and OpenMP's own wait policy, and so its speed; two runs on two cores take one thread
each, so no thread spins while another run's thread waits for the core. ``bench/shared_machine.py`` measures both.
A user's ``OMP_NUM_THREADS`` or ``torch.set_num_threads`` sets the most threads a run takes.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import torch

CHECK_EVERY_S = 1.0  # how often a run counts the others


def registry() -> Path:
    """The folder where the machine's running evoface runs are listed (one per user)."""
    return Path(tempfile.gettempdir()) / f"evoface-runs-{os.getuid()}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def live_runs(folder: Path) -> int:
    """The runs listed in ``folder`` whose process is alive (a dead one's file is removed)."""
    count = 0
    for entry in folder.glob("*"):
        if entry.name.isdigit() and _alive(int(entry.name)):
            count += 1
        else:
            entry.unlink(missing_ok=True)
    return count


def threads_for(cores: int, runs: int) -> int:
    """Threads a run takes when ``runs`` runs share ``cores`` threads' worth of cores."""
    return max(1, cores // max(1, runs))


class MachineShare:
    """Context manager around a run's loop: lists the run, and ``update()`` shares the cores among the listed runs.
    Nested blocks (an island's loop inside a driver's) count once."""

    def __init__(self, folder: Path | None = None):
        self.folder = folder or registry()
        self.entry = self.folder / str(os.getpid())
        self.cores = torch.get_num_threads()
        self.checked = -float("inf")
        self.owner = False

    def __enter__(self) -> "MachineShare":
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            self.owner = not self.entry.exists()
            self.entry.touch()
        except OSError:  # a read-only temporary directory: no sharing, the run goes on
            self.owner = False
        return self

    def update(self) -> None:
        """Set torch's threads to this run's share, at most once every ``CHECK_EVERY_S``."""
        now = time.monotonic()
        if now - self.checked < CHECK_EVERY_S or not self.owner:
            return
        self.checked = now
        threads = threads_for(self.cores, live_runs(self.folder))
        if threads != torch.get_num_threads():
            torch.set_num_threads(threads)

    def __exit__(self, *exc: object) -> None:
        if self.owner:
            self.entry.unlink(missing_ok=True)
            if torch.get_num_threads() != self.cores:
                torch.set_num_threads(self.cores)
