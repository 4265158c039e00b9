"""The run-directory shape every command writes: config.json, metrics.jsonl, checkpoints/, samples/, plots/.

A run folder is claimed by one process at a time (a ``.lock`` file naming its pid and start time, ``process_token``; a
dead process's lock is stale).
A new run claims its folder only after its inputs are checked, and a folder that holds no checkpoint yet (a start
that failed or was killed) can always be started again; a failed start removes the folder it created.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable, Iterator, TypeVar

from evoface.core.errors import InputError, WriteError
from evoface.core.words import plural

ConfigT = TypeVar("ConfigT")
LOCK = ".lock"
CHECKPOINTS = "checkpoints"
SKELETON = (CHECKPOINTS, "samples", "plots")
STAMP = "written_by"  # the key of config.json that marks a folder as an evoface run
LAST_CHECKPOINT = "last.pt"  # a run's latest state: what a resume continues from
BEST_CHECKPOINT = "best.pt"  # a trainer's best epoch (or a fit's model): what other commands use


def last_checkpoint(run_dir: str | os.PathLike) -> Path:
    """RUN/checkpoints/last.pt of the run folder ``run_dir``."""
    return Path(run_dir) / CHECKPOINTS / LAST_CHECKPOINT


def best_checkpoint(run_dir: str | os.PathLike) -> Path:
    """RUN/checkpoints/best.pt of the run folder ``run_dir``."""
    return Path(run_dir) / CHECKPOINTS / BEST_CHECKPOINT


def model_checkpoint(path: str | os.PathLike) -> Path:
    """A checkpoint path as given, or RUN/checkpoints/best.pt where ``path`` is a run folder."""
    path = Path(path)
    return best_checkpoint(path) if path.is_dir() else path


def process_alive(pid: int) -> bool:
    """Whether a process with this id exists (one of another user's counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _start_time(pid: int) -> str | None:
    """When process ``pid`` started (clock ticks since boot, Linux's /proc), or None where that cannot be read."""
    try:  # bytes: the name in parentheses may hold anything, even half a UTF-8 character
        return Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[-1].split()[19].decode()  # field 22
    except (OSError, IndexError, ValueError):
        return None


def process_token(pid: int | None = None) -> str:
    """What names a process (default: this one) in a lock or the run registry: its id and, where known, its start
    time, so that an id the system reused after a crash is not taken for the process that wrote it."""
    pid = os.getpid() if pid is None else pid
    start = _start_time(pid)
    return str(pid) if start is None else f"{pid} {start}"


def token_pid(token: str) -> int:
    """The process id of a ``process_token`` (0 for an unreadable one)."""
    try:
        pid = int(token.split()[0]) if token.strip() else 0
    except ValueError:
        return 0
    return pid if 0 < pid < 2 ** 31 else 0  # not a process group (-1 is every process) nor out of range


def read_token(path: Path) -> str:
    """The ``process_token`` a lock or registry file holds ("" where it cannot be read)."""
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


def token_alive(token: str) -> bool:
    """Whether the process a ``process_token`` names still runs: its id exists and, where the token and the system
    both tell a start time, the two agree."""
    pid = token_pid(token)
    if not pid or not process_alive(pid):
        return False
    parts, start = token.split(), _start_time(pid)
    return len(parts) < 2 or start is None or parts[1] == start


class RunDir:
    """One run's output folder. ``RunDir(path)`` creates it (checking it is writable); ``create=False`` opens an
    existing run. ``claim`` (a new run) and ``reopen`` (a resumed one) also lock it for this process."""

    def __init__(self, path: str | os.PathLike, create: bool | None = True):
        if not str(path).strip():  # Path("") is the working directory: never a run folder by accident
            raise InputError("the run folder must not be an empty path")
        self.path = Path(path)
        self.created = False  # whether this process made the folder (a failed start then removes it)
        self._locked = False
        if create:
            self._make_skeleton()
        elif create is not None and not self.config_path.is_file():
            raise InputError(f"{self.path} is not a run directory (no config.json)")

    def _make_skeleton(self) -> None:
        try:
            for sub in SKELETON:
                (self.path / sub).mkdir(parents=True, exist_ok=True)
            probe = self.path / ".write-test"
            probe.write_text("")
            probe.unlink()
        except OSError as exc:
            raise InputError(f"cannot write to output folder {self.path}: {exc.strerror or exc}") from None

    # claiming ----------------------------------------------------------------------------------------------
    @property
    def has_checkpoint(self) -> bool:
        """Whether this run wrote its last checkpoint: it can be resumed."""
        return self.last_checkpoint.is_file()

    @property
    def holds_checkpoint(self) -> bool:
        """Whether this run, or a run in a subfolder (refine-rounds' rounds), wrote a last checkpoint."""
        return self.path.is_dir() and any(self.path.rglob(LAST_CHECKPOINT))

    @staticmethod
    def check_free(path: str | os.PathLike) -> None:
        """InputError unless ``path`` may hold a new run: absent, empty, or a run without a checkpoint yet."""
        run = RunDir(path, create=None)
        if run.path.exists() and not run.path.is_dir():
            raise InputError(f"--out {run.path} is a file, not a folder")
        if run.has_checkpoint:
            raise InputError(f"{run.path} already holds a run: pass --resume {run.path} to continue it, "
                             f"or choose a new --out")
        if run.holds_checkpoint:
            raise InputError(f"{run.path} holds runs in its subfolders: choose a new --out")
        if run.path.is_dir() and not run.config_path.is_file() and any(
                not run._left_by_a_start(p) for p in run.path.iterdir()):
            raise InputError(f"{run.path} is a folder that holds no evoface run: choose a new --out")
        if run.config_path.is_file() and not run._written_by_evoface():  # a start clears the folder: never another's
            raise InputError(f"{run.path} holds a config.json that evoface did not write: choose a new --out")

    def _written_by_evoface(self) -> bool:
        try:
            return json.loads(self.config_path.read_text()).get(STAMP) == "evoface"
        except (OSError, UnicodeDecodeError, ValueError, AttributeError):
            return False

    @staticmethod
    def _left_by_a_start(path: Path) -> bool:
        """The lock, or an empty folder of the run shape: what a start killed before writing config.json leaves."""
        return path.name == LOCK or (path.name in SKELETON and path.is_dir() and not any(path.iterdir()))

    @classmethod
    def unclaimed(cls, path: str | os.PathLike) -> "RunDir":
        """The folder a new run will claim with ``begin`` once its inputs are checked (InputError if not free)."""
        cls.check_free(path)
        return cls(path, create=None)

    @classmethod
    def claim(cls, path: str | os.PathLike) -> "RunDir":
        return cls.unclaimed(path).begin()

    def begin(self) -> "RunDir":
        """Create (or, unless this process holds it already, lock) the folder of a new run, clear what a start that
        never reached a checkpoint left there, and lay out the run-directory shape."""
        if not self._locked:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self.path.mkdir()
                self.created = True
            except FileExistsError:
                pass
            except OSError as exc:
                raise InputError(f"cannot write to output folder {self.path}: {exc.strerror or exc}") from None
            self.lock()
        try:
            self.check_free(self.path)  # again, under the lock
        except BaseException:  # not a start of ours that is there: leave every file alone
            self.release()
            if self.created:
                shutil.rmtree(self.path, ignore_errors=True)
            raise
        try:
            self.clear()
            self._make_skeleton()
        except BaseException:
            self.abandon()
            raise
        return self

    @classmethod
    def reopen(cls, path: str | os.PathLike) -> "RunDir":
        """Lock an existing run to continue it, removing temporary files a killed write left behind."""
        run = cls(path, create=False)
        run.lock()
        for stale in [*run.checkpoints.glob("*.tmp"), run.path / "metrics.jsonl.tmp"]:
            stale.unlink(missing_ok=True)
        run._make_skeleton()
        return run

    def lock(self) -> None:
        path = self.path / LOCK
        token = process_token()  # read before the lock exists, so that it stays empty as briefly as it can
        for _ in range(3):
            try:
                fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                holder = read_token(path)
                pid = token_pid(holder)
                if pid != os.getpid() and token_alive(holder):
                    raise InputError(f"{self.path} is in use by process {pid}") from None
                path.unlink(missing_ok=True)  # its process is gone (or it is this one): a stale lock
                continue
            except OSError as exc:
                raise InputError(f"cannot write to output folder {self.path}: {exc.strerror or exc}") from None
            with os.fdopen(fd, "w") as handle:
                handle.write(token)
            self._locked = True
            return
        raise InputError(f"cannot lock {self.path}")

    def release(self) -> None:
        if self._locked:
            (self.path / LOCK).unlink(missing_ok=True)
            self._locked = False

    def clear(self) -> None:
        """Remove everything but the lock: what a start that never reached a checkpoint left."""
        for child in self.path.iterdir():
            if child.name != LOCK:
                shutil.rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink()

    def abandon(self) -> None:
        """After a failure, unless a checkpoint lies below: remove the folder if this process made it, else empty it
        (what was there was a start that never reached a checkpoint); then unlock."""
        if self._locked or self.created:
            if not self.holds_checkpoint:
                if self.created:
                    shutil.rmtree(self.path, ignore_errors=True)
                    self._locked = False
                else:
                    self.clear()
        self.release()

    @contextmanager
    def failing(self) -> Iterator["RunDir"]:
        """On an exception, ``abandon`` (a start that failed leaves nothing behind) and re-raise."""
        try:
            yield self
        except BaseException:
            self.abandon()
            raise

    @contextmanager
    def held(self) -> Iterator["RunDir"]:
        """Like ``failing``, and unlock at the end."""
        with self.failing():
            yield self
        self.release()

    def write_error(self, exc: OSError, path: Path) -> WriteError:
        kept = "the last checkpoint is intact" if self.has_checkpoint else "no checkpoint was written yet"
        return WriteError(f"cannot write {path}: {exc.strerror or exc}; {kept}")

    @property
    def config_path(self) -> Path:
        return self.path / "config.json"

    @property
    def metrics_path(self) -> Path:
        return self.path / "metrics.jsonl"

    @property
    def checkpoints(self) -> Path:
        return self.path / CHECKPOINTS

    @property
    def last_checkpoint(self) -> Path:
        return self.checkpoints / LAST_CHECKPOINT

    @property
    def best_checkpoint(self) -> Path:
        return self.checkpoints / BEST_CHECKPOINT

    @property
    def samples(self) -> Path:
        return self.path / "samples"

    @property
    def plots(self) -> Path:
        return self.path / "plots"

    def write_config(self, config: Any, chosen: dict[str, Any] | None = None) -> None:
        """config.json: every field, plus the run's ``kind`` when the config declares one, and under "chosen" what
        the run resolved from its settings (the kernels and precision that "auto" picked, say)."""
        data = dataclasses.asdict(config) if dataclasses.is_dataclass(config) else dict(config)
        if chosen:
            data["chosen"] = chosen
        if getattr(config, "kind", ""):
            data["kind"] = config.kind
        data[STAMP] = "evoface"  # only a folder whose config.json says so may be cleared for a new start
        try:
            self.config_path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
        except OSError as exc:
            raise self.write_error(exc, self.config_path) from None

    def read_stored_config(self) -> dict[str, Any]:
        """config.json as a dict; InputError when it cannot be read or is not a JSON object."""
        try:
            data = json.loads(self.config_path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InputError(f"cannot read {self.config_path}: {exc}") from None
        if not isinstance(data, dict):
            raise InputError(f"{self.config_path} is not a run's config (not a JSON object)")
        return data

    def read_config(self, config_type: type[ConfigT]) -> ConfigT:
        """Read config.json back into ``config_type``, ignoring keys it does not know."""
        names = {f.name for f in dataclasses.fields(config_type)}
        try:
            return config_type(**{k: v for k, v in self.read_stored_config().items() if k in names})
        except TypeError as exc:
            raise InputError(f"{self.config_path} is not a {config_type.__name__}: {exc}") from None

    def append_metrics(self, rows: Iterable[dict[str, Any]]) -> None:
        try:
            with self.metrics_path.open("a") as handle:
                for row in rows:
                    handle.write(json.dumps(row) + "\n")
        except OSError as exc:
            raise self.write_error(exc, self.metrics_path) from None

    def read_metrics(self) -> list[dict[str, Any]]:
        """The rows of metrics.jsonl; unreadable lines (a crash mid-write leaves a partial last one) are dropped
        with a warning."""
        if not self.metrics_path.is_file():
            return []
        rows, bad = [], 0
        for line in self.metrics_path.read_text(errors="replace").splitlines():
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                row = None
            if isinstance(row, dict):
                rows.append(row)
            else:
                bad += 1
        if bad:
            print(f"warning: {self.metrics_path}: dropped {plural(bad, 'unreadable line')} (a partial last line is "
                  f"what a crash mid-write leaves)", file=sys.stderr)
        return rows

    def truncate_metrics(self, key: str, last: int) -> None:
        """Drop metric rows whose ``key`` is beyond ``last``: what a resumed run will write again."""
        kept = [row for row in self.read_metrics() if row.get(key, 0) <= last]
        tmp = self.metrics_path.with_suffix(".jsonl.tmp")
        try:
            tmp.write_text("".join(json.dumps(row) + "\n" for row in kept))
            os.replace(tmp, self.metrics_path)
        except OSError as exc:
            raise self.write_error(exc, self.metrics_path) from None


def open_run(path: str | os.PathLike, resume: bool) -> tuple[RunDir, bool]:
    """The folder of the run a command starts or continues, and whether it resumes.

    ``resume``: the run, reopened and locked; one that holds no checkpoint yet (its start was killed) is started
    again, and False comes back. A new run: the folder, checked to be free; the command claims it with
    ``RunDir.begin`` once its inputs are checked. Either way, ``begin`` then ``failing``/``held`` make a failed start
    leave nothing behind.
    """
    if not resume:
        return RunDir.unclaimed(path), False
    run = RunDir.reopen(path)
    if run.holds_checkpoint:
        return run, True
    print(f"{run.path} holds no checkpoint yet: starting it again", file=sys.stderr)
    return run, False
