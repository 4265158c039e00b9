"""The figures of an illuminate run: ``map.png`` (each cell's elite face at its place), ``heatmap.png`` (the
objective per cell) and ``plots/qd.png`` (coverage, QD-score and best objective over evaluations).

A map of one measure is one row of cells; of three, one panel per cell of the third measure. Each axis is labelled
with its measure's name and values, the first measure across, the second up.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

EMPTY = 235  # an empty cell's grey


@dataclass(frozen=True)
class MapAxes:
    """The archive's axes: each measure's name, range and cells."""

    names: Sequence[str]
    lows: Sequence[float]
    highs: Sequence[float]
    dims: Sequence[int]

    def panels(self) -> list[str]:
        """The title of each panel: one per cell of the third measure, or one."""
        if len(self.dims) < 3:
            return [""]
        edges = np.linspace(self.lows[2], self.highs[2], self.dims[2] + 1)
        return [f"{self.names[2]} {edges[k]:.3g} to {edges[k + 1]:.3g}" for k in range(self.dims[2])]


def _grid(cells: np.ndarray, dims: Sequence[int]) -> np.ndarray:
    """(k, m) cell indices -> (k, 3): column, row (1 for a single measure), panel."""
    grid = np.zeros((len(cells), 3), np.int64)
    grid[:, :cells.shape[1]] = cells
    return grid


def mosaic(images: np.ndarray, cells: np.ndarray, dims: Sequence[int], panel: int = 0) -> np.ndarray:
    """One panel's faces as one image: cell (i, j) at column i, row j counted from the bottom; empty cells grey."""
    side = images.shape[1]
    columns, rows = dims[0], dims[1] if len(dims) > 1 else 1
    out = np.full((rows * side, columns * side, 3), EMPTY, np.uint8)
    for (column, row, at), image in zip(_grid(cells, dims), images):
        if at == panel:
            top = (rows - 1 - row) * side
            out[top:top + side, column * side:(column + 1) * side] = image
    return out


def _label(ax, axes: MapAxes) -> None:
    ax.set_xlabel(axes.names[0])
    if len(axes.names) > 1:
        ax.set_ylabel(axes.names[1])
    else:
        ax.set_yticks([])


def _extent(axes: MapAxes) -> tuple[float, float, float, float]:
    low_y, high_y = (axes.lows[1], axes.highs[1]) if len(axes.dims) > 1 else (0.0, 1.0)
    return axes.lows[0], axes.highs[0], low_y, high_y


def _figure(axes: MapAxes, inches: float):
    panels = axes.panels()
    rows = axes.dims[1] if len(axes.dims) > 1 else 1
    width = inches * axes.dims[0] / max(axes.dims[0], rows)
    height = inches * rows / max(axes.dims[0], rows)
    fig, subplots = plt.subplots(1, len(panels), figsize=(width * len(panels) + 1.5, height + 1.2), dpi=100,
                                 squeeze=False)
    return fig, list(subplots[0]), panels


def map_figure(images: np.ndarray, cells: np.ndarray, axes: MapAxes, title: str):
    """map.png's figure: each elite's face in its cell, the axes in the measures' values."""
    fig, subplots, panels = _figure(axes, max(6.0, 0.7 * max(axes.dims[:2])))
    for panel, (ax, subtitle) in enumerate(zip(subplots, panels)):
        ax.imshow(mosaic(images, cells, axes.dims, panel), extent=_extent(axes), aspect="auto",
                  interpolation="nearest")
        _label(ax, axes)
        ax.set_title(subtitle, fontsize=9)
    fig.suptitle(title)
    return fig


def heatmap_figure(objectives: np.ndarray, cells: np.ndarray, axes: MapAxes, title: str):
    """heatmap.png's figure: the elite's objective in each cell (empty cells blank)."""
    fig, subplots, panels = _figure(axes, 6.0)
    rows = axes.dims[1] if len(axes.dims) > 1 else 1
    shown = None
    for panel, (ax, subtitle) in enumerate(zip(subplots, panels)):
        values = np.full((rows, axes.dims[0]), np.nan)
        for (column, row, at), value in zip(_grid(cells, axes.dims), objectives):
            if at == panel:
                values[rows - 1 - row, column] = value
        shown = ax.imshow(values, extent=_extent(axes), aspect="auto", cmap="viridis", interpolation="nearest",
                          vmin=np.nanmin(objectives) if len(objectives) else 0, vmax=np.nanmax(objectives)
                          if len(objectives) else 1)
        _label(ax, axes)
        ax.set_title(subtitle, fontsize=9)
    fig.colorbar(shown, ax=subplots, label="objective")
    fig.suptitle(title)
    return fig


def draw_progress(rows: Sequence[dict], path: Path, title: str) -> Path:
    """plots/qd.png: coverage, QD-score and best objective against evaluations (log scale), one panel each."""
    fig, subplots = plt.subplots(1, 3, figsize=(12, 3.6), dpi=100)
    for ax, key, label in zip(subplots, ("coverage", "qd_score", "best"),
                              ("coverage (share of cells)", "QD-score (sum of elites' objectives)",
                               "best objective")):
        points = [(row["evaluations"], row[key]) for row in rows if row.get(key) is not None]
        if points:
            ax.plot(*zip(*points))
            ax.set_xscale("log")  # a map fills in its first thousands of evaluations, then refines for long
        ax.set_xlabel("evaluations")
        ax.set_title(label, fontsize=10)
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    return save_figure(fig, path)


def save_figure(fig, path: Path) -> Path:
    """Write ``fig`` to ``path`` through a temporary file: the studio, reading the map of a running run, never sees
    half a PNG."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.stem + ".partial.png")
    fig.savefig(partial)
    plt.close(fig)
    os.replace(partial, path)
    return path
