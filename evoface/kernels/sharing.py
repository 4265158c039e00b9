"""Which evoface processes run on this machine now, without torch: a folder of the temporary directory holds a file
per process (named by its id, holding its ``process_token``) while it runs. ``claim_at_start`` lists the process
and, when another one is listed too, sets OpenMP's passive wait policy for it before torch loads OpenMP
(``evoface.kernels.threads``)."""

from __future__ import annotations

import atexit
import os
import tempfile
import time
from pathlib import Path

from evoface.core.rundir import process_token, read_token, token_alive, token_pid

SETTLE_S = 0.2  # runs started together list themselves within this of each other
PASSIVE = {"OMP_WAIT_POLICY": "PASSIVE"}


def registry() -> Path:
    """The folder where the machine's running evoface processes are listed (one per user)."""
    return Path(tempfile.gettempdir()) / f"evoface-runs-{os.getuid()}"


def live_runs(folder: Path) -> int:
    """The processes listed in ``folder`` that are alive (a dead one's file is removed; an entry whose process id
    was reused after a crash counts as dead, by the start time it holds)."""
    count = 0
    for entry in folder.glob("*"):
        token = read_token(entry) or entry.name
        if entry.name.isdigit() and token_pid(token) == int(entry.name) and token_alive(token):
            count += 1
        else:
            entry.unlink(missing_ok=True)
    return count


def list_process(folder: Path) -> bool:
    """List this process in ``folder`` until it exits; False where the folder cannot be written."""
    entry = folder / str(os.getpid())
    try:
        folder.mkdir(parents=True, exist_ok=True)
        entry.write_text(process_token())
    except OSError:
        return False
    atexit.register(entry.unlink, missing_ok=True)
    return True


def claim_at_start(folder: Path | None = None) -> bool:
    """List this process and, unless the user set OpenMP's wait policy, make it wait passively when another
    evoface process runs (waiting ``SETTLE_S`` so that runs started together see each other); returns whether it
    does. Call before torch is imported."""
    folder = folder or registry()
    if not list_process(folder) or "OMP_WAIT_POLICY" in os.environ:
        return False
    time.sleep(SETTLE_S)
    if live_runs(folder) < 2:
        return False
    os.environ.update(PASSIVE)
    return True
