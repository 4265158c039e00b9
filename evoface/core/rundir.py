"""The run-directory shape every command writes: config.json, metrics.jsonl, checkpoints/, samples/, plots/."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any, Iterable, TypeVar

from evoface.core.errors import InputError

ConfigT = TypeVar("ConfigT")


class RunDir:
    """One run's output folder. Creating it checks that it is writable."""

    def __init__(self, path: str | os.PathLike, create: bool = True):
        self.path = Path(path)
        if create:
            try:
                for sub in ("checkpoints", "samples", "plots"):
                    (self.path / sub).mkdir(parents=True, exist_ok=True)
                probe = self.path / ".write-test"
                probe.write_text("")
                probe.unlink()
            except OSError as exc:
                raise InputError(f"cannot write to output folder {self.path}: {exc.strerror or exc}") from None
        elif not (self.path / "config.json").is_file():
            raise InputError(f"{self.path} is not a run directory (no config.json)")

    @property
    def config_path(self) -> Path:
        return self.path / "config.json"

    @property
    def metrics_path(self) -> Path:
        return self.path / "metrics.jsonl"

    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints"

    @property
    def samples(self) -> Path:
        return self.path / "samples"

    @property
    def plots(self) -> Path:
        return self.path / "plots"

    def write_config(self, config: Any) -> None:
        data = dataclasses.asdict(config) if dataclasses.is_dataclass(config) else dict(config)
        self.config_path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")

    def read_config(self, config_type: type[ConfigT]) -> ConfigT:
        """Read config.json back into ``config_type``, ignoring keys it does not know."""
        try:
            data = json.loads(self.config_path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise InputError(f"cannot read {self.config_path}: {exc}") from None
        names = {f.name for f in dataclasses.fields(config_type)}
        return config_type(**{k: v for k, v in data.items() if k in names})

    def append_metrics(self, rows: Iterable[dict[str, Any]]) -> None:
        with self.metrics_path.open("a") as handle:
            for row in rows:
                handle.write(json.dumps(row) + "\n")

    def read_metrics(self) -> list[dict[str, Any]]:
        if not self.metrics_path.is_file():
            return []
        with self.metrics_path.open() as handle:
            return [json.loads(line) for line in handle if line.strip()]

    def truncate_metrics(self, key: str, last: int) -> None:
        """Drop metric rows whose ``key`` is beyond ``last``: what a resumed run will write again."""
        kept = [row for row in self.read_metrics() if row.get(key, 0) <= last]
        tmp = self.metrics_path.with_suffix(".jsonl.tmp")
        tmp.write_text("".join(json.dumps(row) + "\n" for row in kept))
        os.replace(tmp, self.metrics_path)
