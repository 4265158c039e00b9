"""The runs of a folder as the studio's runs page shows them: what each is, how far it got, and for an ``evolve``
run its fitness curve and latest best image (for an ``illuminate`` run: its best objective by iteration and its map),
read while it runs (its metrics.jsonl may end in a half-written line)."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

from evoface.studio.session import PageError

CURVE_POINTS = 400  # a fitness curve is thinned to at most this many points


def last_row(path: Path, tail: int = 8192) -> dict[str, Any]:
    """The last complete JSON row of a metrics.jsonl (read from its end), or {}."""
    if not path.is_file():
        return {}
    with path.open("rb") as handle:
        handle.seek(max(0, path.stat().st_size - tail))
        lines = handle.read().split(b"\n")
    for line in reversed(lines):
        try:
            row = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError):
            continue
        if isinstance(row, dict):
            return row
    return {}


class CurveReader:
    """(generation, max, mean) points of metrics.jsonl files, read on from where the last call stopped: a run being
    written is followed without parsing its whole file again (a 10-minute evolve run writes 200,000 rows)."""

    def __init__(self):
        self._files: dict[Path, tuple[int, list[list[float]]]] = {}  # path -> (bytes consumed, points)
        self._lock = threading.Lock()

    def points(self, path: Path) -> list[list[float]]:
        if not path.is_file():
            return []
        with self._lock:
            return self._read_on(path)

    def _read_on(self, path: Path) -> list[list[float]]:
        offset, points = self._files.get(path, (0, []))
        if path.stat().st_size < offset:  # rewritten (a resumed run truncates it): start again
            offset, points = 0, []
        with path.open("rb") as handle:
            handle.seek(offset)
            data = handle.read()
        complete = data[:data.rfind(b"\n") + 1]  # a half-written last line waits for the next call
        for line in complete.splitlines():
            try:
                row = json.loads(line)
            except (json.JSONDecodeError, UnicodeDecodeError):
                continue
            if isinstance(row, dict) and "generation" in row and "max" in row:
                points.append([row["generation"], row["max"], row.get("mean")])
            elif isinstance(row, dict) and "iteration" in row and "best" in row:  # illuminate: the elites' best
                points.append([row["iteration"], row["best"], row.get("mean")])
        self._files[path] = (offset + len(complete), points)
        return points


def run_kind(run: Path) -> str:
    """evolve, illuminate, studio, or a training run, told from what the run directory holds."""
    try:
        config = json.loads((run / "config.json").read_text())
    except (OSError, json.JSONDecodeError):
        return "unknown"
    if "grid" in config and "undo_depth" in config:
        return "studio"
    if "mu" in config and "indpb" in config:
        return "evolve"
    if "cells" in config and "measures" in config:
        return "illuminate"
    return "training"


def run_folder(folder: Path, name: str) -> Path:
    """The run called ``name`` directly inside ``folder``, or a 404 (no paths outside it)."""
    run = folder / name
    if "/" in name or "\\" in name or name.startswith(".") or not (run / "config.json").is_file():
        raise PageError(404, f"no run called {name!r} in {folder}")
    return run


def best_image(run: Path) -> Path | None:
    """The latest snapshot of an evolve run's best individual, or an illuminate run's map (redrawn as it runs)."""
    if (run / "map.png").is_file():
        return run / "map.png"
    snapshots = sorted((run / "samples").glob("best_*.png"))
    return snapshots[-1] if snapshots else None


def list_runs(folder: Path) -> list[dict[str, Any]]:
    """Every run directly inside ``folder``, most recently changed first."""
    runs = []
    for run in folder.iterdir() if folder.is_dir() else []:
        if not (run / "config.json").is_file():
            continue
        metrics = run / "metrics.jsonl"
        changed = max(path.stat().st_mtime for path in (run / "config.json", metrics) if path.exists())
        last = last_row(metrics)
        runs.append({"name": run.name, "kind": run_kind(run),  # an illuminate run counts iterations
                     "generation": last.get("generation", last.get("iteration")),
                     "max": last.get("max", last.get("best")),
                     "seconds_since_change": round(time.time() - changed, 1)})
    return sorted(runs, key=lambda run: run["seconds_since_change"])


def run_curve(folder: Path, name: str, reader: CurveReader) -> dict[str, Any]:
    """A run's fitness curve (generation, max, mean), thinned to ``CURVE_POINTS``, and whether it has a best image."""
    run = run_folder(folder, name)
    points = reader.points(run / "metrics.jsonl")
    step = max(1, -(-len(points) // CURVE_POINTS))
    shown = points[::step] + (points[-1:] if points and (len(points) - 1) % step else [])
    return {"name": name, "kind": run_kind(run), "has_image": best_image(run) is not None, "curve": shown}
