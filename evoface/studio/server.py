"""Serve a studio session's page until Ctrl-C or SIGTERM (``evoface studio`` opens the session)."""

from __future__ import annotations

import signal
import sys
import threading
from typing import Callable

from werkzeug.serving import make_server

from evoface.core.errors import InputError
from evoface.studio.app import LOCAL_HOSTS, create_app
from evoface.studio.session import StudioSession


def host_warning(host: str) -> str | None:
    """The warning for an address other machines can reach, or None for this machine only."""
    if host in LOCAL_HOSTS:
        return None
    return (f"warning: --host {host} lets other machines reach the studio (it has no login); "
            f"the default 127.0.0.1 keeps it on this machine")


def serve(session: StudioSession, echo: Callable[..., None] | None = None) -> None:
    """Serve ``session`` on its host and port until SIGINT or SIGTERM. Prints the URL (with the port the system
    gave when the port is 0), any note, and a warning when the host is not this machine only."""
    config, echo = session.config, echo or _echo
    warning = host_warning(config.host)
    if warning:
        echo(warning, err=True)
    try:
        server = make_server(config.host, config.port, create_app(session), threaded=True)
    except OSError as exc:
        raise InputError(f"cannot listen on {config.host}:{config.port}: {exc.strerror or exc}") from None
    if session.note:
        echo(session.note, err=True)
    host = f"[{config.host}]" if ":" in config.host else config.host
    echo(f"evoface studio: http://{host}:{server.server_port}/  (run {session.run.path}; Ctrl-C stops)")

    def stop(signum, frame):  # shutdown() waits for serve_forever to return: call it from another thread
        threading.Thread(target=server.shutdown, daemon=True).start()

    previous = {signum: signal.signal(signum, stop) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        server.serve_forever()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        server.server_close()
    session.write_plot()
    session.close()
    echo(f"stopped at generation {session.grid.number}; every choice is in {session.run.path}")


def _echo(message: str, err: bool = False) -> None:
    print(message, file=sys.stderr if err else sys.stdout, flush=True)
