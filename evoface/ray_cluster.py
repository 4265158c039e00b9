"""Ray for ``evolve --islands``: a local instance sized to this machine, or a cluster joined at ``--ray-address``.

Joining is time-bound: the address is checked and probed (a TCP connection, ``PROBE_TIMEOUT_S``) before Ray is
imported or any run folder exists, and Ray's own connection to the cluster's GCS gets one attempt of
``GCS_CONNECT_TIMEOUT_S`` (Ray alone retries for about 14 minutes): a port that accepts connections but is no Ray
cluster fails in under 20 s. In a process that imported ray before, the attempt keeps Ray's timeouts (about 41 s).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from contextlib import contextmanager
from typing import Iterator

from evoface.core.errors import InputError
from evoface.core.network import split_address, unreachable

INSTALL_HINT = '--islands needs Ray, an optional extra: pip install -e ".[distributed]" (or pip install ray)'
RAY_START_ATTEMPTS = 3
PROBE_TIMEOUT_S = 5.0
GCS_CONNECT_TIMEOUT_S = 5  # a live GCS answers in milliseconds
# Ray's settings for joining a cluster: one connection attempt, each of its connections time-bound. Its timeouts are
# read when ray is first imported, RAY_gcs_server_port_wait_time_s (the attempts) at each ray.init.
JOIN_SETTINGS = {"RAY_py_gcs_connect_timeout_s": str(GCS_CONNECT_TIMEOUT_S),
                 "RAY_gcs_rpc_server_connect_timeout_s": "3", "RAY_gcs_server_port_wait_time_s": "1"}
AUTO = "auto"  # Ray's own: the cluster started on this machine (ray start --head)
GCS_ANSWER = "Failed to get cluster ID from GCS server:"  # Ray's warning for each refused or timed-out attempt
# A local instance on loopback only: on Linux Ray gives its processes the machine's network address unless this is
# off when ray is first imported (it then keeps a single-node instance on 127.0.0.1)
LOCAL_ONLY = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}


def import_ray():
    """The ray module, or the one-line InputError that says how to install it."""
    try:
        import ray
    except ImportError:
        raise InputError(INSTALL_HINT) from None
    return ray


def first_line(exc: BaseException) -> str:
    """An exception's first line (at most 160 characters), or its type's name."""
    text = str(exc).strip()
    return text.splitlines()[0][:160] if text else type(exc).__name__


def head_hint(address: str) -> str:
    """How to start the cluster an address names, or to do without one."""
    port = address.rpartition(":")[2] if address != AUTO else "6379"
    return (f"start a Ray head there with `ray start --head --port {port}`, or leave out --ray-address to start a "
            f"local Ray instance")


def check_cluster(address: str) -> None:
    """InputError, within ``PROBE_TIMEOUT_S``, unless ``address`` is HOST:PORT (or auto) and something there accepts
    a TCP connection."""
    if address == AUTO:
        return
    host, port = split_address(address.removeprefix("ray://"), "--ray-address")
    reason = unreachable(host, port, "--ray-address", PROBE_TIMEOUT_S)
    if reason is not None:
        raise InputError(f"cannot reach a Ray cluster at --ray-address {address}: {reason}; {head_hint(address)}")


@contextmanager
def _join_settings() -> Iterator[None]:
    """``JOIN_SETTINGS`` in the environment (unless set already), restored afterwards: a local instance started
    later in this process keeps Ray's defaults."""
    added = {name: value for name, value in JOIN_SETTINGS.items() if name not in os.environ}
    os.environ.update(added)
    try:
        yield
    finally:
        for name in added:
            os.environ.pop(name, None)


@contextmanager
def _stderr_held(held: list[str]) -> Iterator[None]:
    """Hold back what the block writes to file descriptor 2 (Ray's C++ retries, one warning each) and append it to
    ``held``; write it out unless the block raises, so that a failed join is one error line."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as file:
        os.dup2(file.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            file.seek(0)
            held.append(file.read().decode(errors="replace"))
        sys.stderr.write(held[-1])


def gcs_refusal(log: str) -> str | None:
    """What the cluster's GCS last answered, from Ray's warnings (e.g. "Unauthenticated: ... token ..."), if any."""
    answers = [line.partition(GCS_ANSWER)[2].strip() for line in log.splitlines() if GCS_ANSWER in line]
    return answers[-1][:160] if answers else None


class RayInstance:
    """Context manager: a local Ray instance sized to this machine (one CPU per core, no dashboard, its files in a
    temporary folder), or a connection to the cluster at ``address``; shut down at the end."""

    def __init__(self, address: str | None):
        self.ray, self.address, self.temp_dir = None, address, None

    def __enter__(self):
        env = {"env_vars": {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}}  # one thread per island
        if self.address:
            check_cluster(self.address)
            with _join_settings():
                self.ray = import_ray()
                self._join(env)
            return self.ray
        for name, value in LOCAL_ONLY.items():
            os.environ.setdefault(name, value)
        self.ray = import_ray()
        self._start_local(env)
        return self.ray

    def _join(self, env: dict) -> None:
        held: list[str] = []
        try:
            with _stderr_held(held):
                self.ray.init(address=self.address, runtime_env=env, log_to_driver=False)
        except Exception as exc:  # ConnectionError, RuntimeError (a version mismatch), ValueError, ...
            self.ray.shutdown()
            answer = gcs_refusal("".join(held))
            raise InputError(f"cannot join the Ray cluster at --ray-address {self.address}: {first_line(exc)}"
                             f"{f' ({answer})' if answer else ''}; {head_hint(self.address)}") from None

    def _start_local(self, env: dict) -> None:
        self.temp_dir = tempfile.mkdtemp(prefix="evoface-ray-", dir="/tmp")  # short: Ray's sockets live there
        for attempt in range(1, RAY_START_ATTEMPTS + 1):
            try:  # Ray gives its processes 30 s to register: a busy machine can miss that
                self.ray.init(num_cpus=os.cpu_count(), include_dashboard=False, _temp_dir=self.temp_dir,
                              runtime_env=env, log_to_driver=False)
                return
            except Exception as exc:  # Ray raises a bare Exception for a start that timed out
                self.ray.shutdown()
                if attempt == RAY_START_ATTEMPTS:
                    shutil.rmtree(self.temp_dir, ignore_errors=True)
                    raise InputError(f"could not start a local Ray instance ({attempt} attempts): "
                                     f"{first_line(exc)}") from None
                print(f"warning: Ray did not start ({exc}); trying again", file=sys.stderr)

    def __exit__(self, *exc: object) -> None:
        self.ray.shutdown()
        if self.temp_dir:
            shutil.rmtree(self.temp_dir, ignore_errors=True)
