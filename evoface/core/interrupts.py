"""Graceful stops: the first Ctrl-C (or SIGTERM) asks the running loop to stop at its next safe point.

A long step inside the loop (an FID pass) calls ``stop_point`` between its pieces: once a stop is requested it raises
``Interrupted``, which the loop catches to stop at its last safe point. Outside a loop, ``stop_point`` does nothing
(Ctrl-C raises KeyboardInterrupt there, as usual).
"""

from __future__ import annotations

import signal
import sys
import threading
from contextlib import contextmanager
from types import FrameType
from typing import Any, Callable, Iterator

WAIT_SLICE_S = 0.1  # how often ``interruptible`` looks at the stop request
_ACTIVE: list["StopRequest"] = []  # the StopRequests in effect, innermost last


class Interrupted(Exception):
    """A stop was requested during a long step; the step's work is dropped."""


def stop_point() -> None:
    """Raise Interrupted when the innermost StopRequest in effect has been triggered."""
    if _ACTIVE and _ACTIVE[-1]:
        raise Interrupted


def interruptible(function: Callable[..., Any], *args: Any) -> Any:
    """``function(*args)`` for a call into code that runs long without returning to Python but releases the GIL
    (numpy's eigen-decompositions): run in a helper thread and waited on in slices, so that a stop request
    (``stop_point``) or a Ctrl-C cuts the wait short. The helper's work is then abandoned; it ends on its own."""
    result: dict[str, Any] = {}

    def call() -> None:
        try:
            result["value"] = function(*args)
        except BaseException as exc:  # handed to the caller
            result["error"] = exc

    helper = threading.Thread(target=call, name=f"interruptible {getattr(function, '__name__', '')}", daemon=True)
    helper.start()
    while helper.is_alive():
        helper.join(WAIT_SLICE_S)
        stop_point()
    if "error" in result:
        raise result["error"]
    return result["value"]


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@contextmanager
def sigterm_as_ctrl_c() -> Iterator[None]:
    """While in effect (in the main thread), SIGTERM raises KeyboardInterrupt as Ctrl-C does: code without a loop of
    its own to stop (compare) stops at once and runs its cleanup; a StopRequest inside takes both signals over."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


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
        _ACTIVE.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        _ACTIVE.remove(self)
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
