"""Graceful stops: the first Ctrl-C (or SIGTERM) asks the running loop to stop at its next safe point."""

from __future__ import annotations

import signal
import sys
import threading
from types import FrameType


class StopRequest:
    """Context manager; ``bool(stop)`` turns true after the first SIGINT/SIGTERM. A second Ctrl-C aborts at once."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: dict[int, object] = {}

    def __bool__(self) -> bool:
        return self.requested

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = True
        print("\nstopping after the current step (press Ctrl-C again to abort)...", file=sys.stderr, flush=True)

    def __enter__(self) -> "StopRequest":
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
