"""Serve a studio session's page until Ctrl-C or SIGTERM (``evoface studio`` opens the session)."""

from __future__ import annotations

import signal
import socket
import sys
import threading
from typing import Callable

from werkzeug.serving import make_server

from evoface.core.network import listen
from evoface.studio.app import LOCAL_HOSTS, create_app
from evoface.studio.session import StudioConfig, StudioSession


def host_warning(host: str) -> str | None:
    """The warning for an address other machines can reach, or None for this machine only."""
    if host in LOCAL_HOSTS:
        return None
    return (f"warning: --host {host} lets other machines reach the studio (it has no login); "
            f"the default 127.0.0.1 keeps it on this machine")


def open_and_serve(config: StudioConfig, resume: bool) -> None:
    """Listen on the session's host and port first, then open the session (which writes its run folder) and serve
    it: a port in use or a host that does not resolve is an InputError that leaves nothing behind."""
    listener = listen(config.host, config.port)
    try:
        session = StudioSession(config, resume=resume)
    except BaseException:
        listener.close()
        raise
    serve(session, listener=listener)


def serve(session: StudioSession, echo: Callable[..., None] | None = None,
          listener: socket.socket | None = None) -> None:
    """Serve ``session`` on ``listener`` (by default a socket bound to its host and port, see ``listen``) until
    SIGINT or SIGTERM, then close it. Prints the URL (with the port the system gave when the port is 0), any note,
    and a warning when the host is not this machine only."""
    config, echo = session.config, echo or _echo
    warning = host_warning(config.host)
    if warning:
        echo(warning, err=True)
    listener = listener or listen(config.host, config.port)
    bound, port = listener.getsockname()[:2]
    try:  # werkzeug serves the bound socket: a numeric address, so nothing is looked up again
        server = make_server(bound, port, create_app(session), threaded=True, fd=listener.fileno())
    finally:
        listener.close()  # the server holds its own copy
    if session.note:
        echo(session.note, err=True)
    host = f"[{config.host}]" if ":" in config.host else config.host
    echo(f"evoface studio: http://{host}:{port}/  (run {session.run.path}; Ctrl-C stops)")

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
