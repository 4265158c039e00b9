"""A studio session: the grid on show, the person's choices, undo and history, kept in a run directory.

Every change (a choice, the next generation, an undo) is written to ``checkpoints/last.pt`` atomically before the
page hears of it, and each generation's choice is a row of ``metrics.jsonl``, so a restart with ``--resume`` loses
nothing chosen.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from evoface.core.checkpoints import load_checkpoint, save_atomic
from evoface.core.configs import RunConfig, bounded, run_config, seed_field
from evoface.core.errors import InputError
from evoface.core.plots import image_grid, plot_series, save_png
from evoface.core.rundir import open_run
from evoface.ga.seed_stream import SeedStream
from evoface.kernels import switch
from evoface.kernels.switch import MODES as KERNEL_MODES
from evoface.scoring import BatchScorer
from evoface.studio.breeding import Choice, blended_fitness, breed, favourite, grid_origins
from evoface.studio.genomes import GENOMES, SHIPPED_DECODER, make_genome
from evoface.studio.images import png_bytes, png_data_uri
from neural.faceness_store import load_faceness

KIND = "studio"
LOCAL_HOST = "127.0.0.1"


@dataclass
class StudioConfig(RunConfig):
    """Every parameter of one ``evoface studio`` session."""

    kind = KIND
    command = "studio"
    resume_changeable = ("host", "port", "runs", "kernels")  # where it listens, what its runs page lists, kernels

    out: str
    genome: str = bounded("latent", choices=GENOMES)  # latent (on a decoder) or pixel (the evolve chromosome)
    decoder: str | None = None      # latent genome: a GAN/VAE checkpoint, or "gan"/"vae"; None = the shipped GAN
    fitness: str | None = None      # faceness checkpoint for the blend and the scores shown; None = the shipped one
    grid: int = bounded(16, 4, 36)  # faces per generation
    fresh: int = bounded(2, 0, 35)  # new random faces in every generation (fewer than ``grid``)
    strength: float = bounded(0.3, 0.0, 1.0)  # the page's first mutation strength
    blend: float = bounded(0.0, 0.0, 1.0)     # the page's first faceness blend, 0 (the person alone) .. 1
    undo_depth: int = bounded(20, 1, 10_000)  # generations that undo can go back
    host: str = LOCAL_HOST
    port: int = bounded(8765, 0, 65535)  # 0 = any free port
    runs: str | None = None         # the folder the runs page lists; None = the one that holds ``out``
    kernels: str = bounded("auto", choices=KERNEL_MODES)  # the fast paths of scoring and decoding (evoface.kernels)
    seed: int = seed_field()

    def validate(self) -> None:
        super().validate()
        if self.genome == "pixel" and self.decoder is not None:
            raise InputError("--decoder is for the latent genome (drop it or pass --genome latent)")
        if self.fresh >= self.grid:
            raise InputError(f"--fresh must be below --grid ({self.grid}), got {self.fresh}")


class PageError(Exception):
    """Bad input from the page: an HTTP status (4xx) and a message the page shows."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


@dataclass
class Grid:
    """One generation on show: its number, a version that no other grid of the session shares (it names the
    grid's images and catches stale pages), its genes, CNN faceness and the person's (pending) choice."""

    number: int
    version: int
    genes: np.ndarray
    faceness: np.ndarray
    choice: Choice
    origins: list[str]   # per face: "kept" (chosen last time), "child", "fresh" or "random" (the first grid)

    def to_checkpoint(self) -> dict[str, Any]:
        return {"number": self.number, "version": self.version, "genes": torch.from_numpy(self.genes),
                "faceness": torch.from_numpy(self.faceness), "choice": dataclasses.asdict(self.choice),
                "origins": self.origins}

    @classmethod
    def from_checkpoint(cls, data: dict[str, Any]) -> Grid:
        return cls(data["number"], data["version"], data["genes"].numpy().copy(), data["faceness"].numpy().copy(),
                   Choice(**data["choice"]), data["origins"])


@dataclass
class Favourite:
    """The face that stood for a past generation in the history strip."""

    generation: int
    version: int   # of the grid it was chosen from
    face: int
    genes: np.ndarray = field(repr=False)
    src: str | None = field(default=None, repr=False)  # its PNG data URI, once made


@dataclass
class SessionState:
    """A session's last checkpoint (kind "studio"), all that a restart needs: ``genome`` (the genome's kind),
    ``seed_stream`` (the operators' seed stream), ``next_version`` (the version the next grid gets), ``grid`` (the
    grid on show, as ``Grid.to_checkpoint`` writes it), ``undo`` (the grids undo goes back to, oldest first),
    ``history`` (each favourite's [generation, version, face]) with ``history_genes`` (their genes, a row each), and
    ``config`` (the session's settings)."""

    genome: str
    seed_stream: int
    next_version: int
    grid: Grid
    undo: list[Grid]
    history: list[Favourite]
    config: dict[str, Any]

    def to_checkpoint(self) -> dict[str, Any]:
        genes = (np.stack([fav.genes for fav in self.history]) if self.history
                 else np.zeros((0, self.grid.genes.shape[1]), self.grid.genes.dtype))
        return {"kind": KIND, "genome": self.genome, "seed_stream": self.seed_stream,
                "next_version": self.next_version, "grid": self.grid.to_checkpoint(),
                "undo": [grid.to_checkpoint() for grid in self.undo],
                "history": [[fav.generation, fav.version, fav.face] for fav in self.history],
                "history_genes": torch.from_numpy(genes), "config": self.config}

    @classmethod
    def from_checkpoint(cls, ckpt: dict[str, Any], name: str) -> SessionState:
        """The state a checkpoint holds; InputError for one that lacks a part of it."""
        try:
            genes = ckpt["history_genes"].numpy()
            return cls(ckpt["genome"], ckpt["seed_stream"], ckpt["next_version"], Grid.from_checkpoint(ckpt["grid"]),
                       [Grid.from_checkpoint(data) for data in ckpt["undo"]],
                       [Favourite(g, v, f, genes[i].copy()) for i, (g, v, f) in enumerate(ckpt["history"])],
                       ckpt.get("config", {}))
        except (KeyError, AttributeError, IndexError, TypeError, ValueError) as exc:
            raise InputError(f"{name} is an incomplete studio checkpoint ({type(exc).__name__})") from None


def open_genome(config: StudioConfig) -> tuple[Any, str | None]:
    """The session's genome and a note to print: without ``--decoder``, a latent genome falls back to the pixel
    genome when the shipped GAN is not there (and ``config.genome`` then says pixel)."""
    if config.genome == "latent" and config.decoder is None:
        try:
            return make_genome("latent", None), None
        except (ImportError, InputError) as exc:
            config.genome = "pixel"
            return make_genome("pixel", None), (f"note: the shipped GAN decoder ({SHIPPED_DECODER!r}) is not available "
                                                f"({str(exc).splitlines()[0] if str(exc) else type(exc).__name__}); "
                                                f"using the pixel genome")
    try:
        return make_genome(config.genome, config.decoder), None
    except ImportError:
        raise InputError("the latent genome needs evoface.decoders, which this install lacks; "
                         "pass --genome pixel") from None


class StudioSession:
    """The state behind the page. Thread-safe: each public method holds the session's lock."""

    def __init__(self, config: StudioConfig, resume: bool = False):
        config.validate()
        switch.select(config.kernels)
        self.run, resume = open_run(config.out, resume)  # a new session's folder is claimed once its inputs are checked
        self.config = config
        self.checkpoint_path = self.run.last_checkpoint
        self.genome, self.note = open_genome(config)
        self.scorer = BatchScorer(load_faceness(config.fitness), torch.device("cpu"),
                                  genome_size=self.genome.image_size)
        self._warm_up()
        self.lock = threading.RLock()
        self._uris: dict[int, list[str]] = {}  # version -> the grid's faces as PNG data URIs
        if resume:
            self._restore(load_checkpoint(self.checkpoint_path, KIND))
        else:
            for name in ("decoder", "fitness"):  # stored as absolute paths: a resume may start in another folder
                value = getattr(config, name)
                if value is not None and value not in ("gan", "vae"):
                    setattr(config, name, str(Path(value).resolve()))
            self.seeds = SeedStream.from_generator(np.random.default_rng(config.seed))
            self.next_version, self.undo, self.history = 0, [], []
            with self.run.begin().failing():
                self.grid = self._new_grid(0, self.genome.random(config.grid, self.seeds),
                                           Choice([], None, config.strength, config.blend), ["random"] * config.grid)
                self.run.write_config(config)
                self._save()

    @classmethod
    def resume(cls, run_dir: str, **overrides: Any) -> StudioSession:
        """Reopen a session where it was; ``overrides`` (host, port, runs) replace the stored values."""
        return cls(run_config(StudioConfig, overrides, run_dir)[0], resume=True)

    def close(self) -> None:
        """Let another process open the run folder."""
        self.run.release()

    def _warm_up(self) -> None:
        """Breed and score one throwaway grid, so that compiling the operators and the first forward passes happen
        now rather than on the person's first "Next generation" (measured: 1.6 s instead of 0.05-0.08 s)."""
        seeds = SeedStream(0)
        genes = self.genome.random(self.config.grid, seeds)
        bred = breed(self.genome, genes, np.zeros(len(genes)), Choice([0, 1], 1, 0.5, 0.0), 1, seeds)
        images = self.genome.images(bred)
        self.scorer(np.ascontiguousarray(images.reshape(len(images), -1)))
        png_data_uri(images[0])

    # ---- persistence

    def _restore(self, ckpt: dict[str, Any]) -> None:
        state = SessionState.from_checkpoint(ckpt, str(self.checkpoint_path))
        if state.genome != self.genome.kind or state.grid.genes.shape[1] != self.genome.length:
            raise InputError(f"{self.checkpoint_path}: its {state.genome} genomes do not fit this session's "
                             f"{self.genome.kind} genome")
        self.seeds, self.next_version = SeedStream(state.seed_stream), state.next_version
        self.grid, self.undo, self.history = state.grid, state.undo, state.history

    def _save(self) -> None:
        state = SessionState(self.genome.kind, self.seeds.state, self.next_version, self.grid, self.undo,
                             self.history, dataclasses.asdict(self.config))
        save_atomic(state.to_checkpoint(), self.checkpoint_path)

    def _new_grid(self, number: int, genes: np.ndarray, choice: Choice, origins: list[str]) -> Grid:
        images = self.genome.images(genes)
        faceness = self.scorer(np.ascontiguousarray(images.reshape(len(images), -1)))
        grid = Grid(number, self.next_version, genes, faceness, choice, origins)
        self.next_version += 1
        self._uris[grid.version] = [png_data_uri(image) for image in images]
        save_png(image_grid(images, columns=8, scale=2), self.run.samples / f"generation_{number:04d}.png",
                 compress_level=1)
        return grid

    # ---- what the page sees

    def _uris_of(self, grid: Grid) -> list[str]:
        if grid.version not in self._uris:
            self._uris[grid.version] = [png_data_uri(image) for image in self.genome.images(grid.genes)]
        return self._uris[grid.version]

    def state(self) -> dict[str, Any]:
        """Everything the page shows, as JSON-ready values."""
        with self.lock:
            grid = self.grid
            missing = [fav for fav in self.history if fav.src is None]  # after a restart: decode them once
            if missing:
                for fav, image in zip(missing, self.genome.images(np.stack([fav.genes for fav in missing]))):
                    fav.src = png_data_uri(image)
            return {
                "run": str(self.run.path), "genome": self.genome.kind, "image_size": self.genome.image_size,
                "generation": grid.number, "version": grid.version, "can_undo": bool(self.undo),
                "faces": [{"id": i, "src": src, "faceness": round(float(score), 4), "origin": origin}
                          for i, (src, score, origin) in enumerate(zip(self._uris_of(grid), grid.faceness,
                                                                       grid.origins))],
                "choice": dataclasses.asdict(grid.choice),
                "history": [{"generation": fav.generation, "face": fav.face, "src": fav.src} for fav in self.history],
                "note": self.note,
            }

    # ---- what the page does

    def _check_current(self, generation: Any, version: Any) -> None:
        grid = self.grid
        if generation != grid.number or version != grid.version:
            raise PageError(409, f"this page shows an old grid (generation {generation}); the session has moved on "
                                 f"to generation {grid.number} (in another tab?): reload the page")

    def _check_choice(self, choice: Choice) -> Choice:
        """Known face ids, each once; the closest face counts as chosen."""
        n = len(self.grid.genes)
        for face in choice.chosen + ([choice.closest] if choice.closest is not None else []):
            if not 0 <= face < n:
                raise PageError(400, f"unknown face id {face}: this grid has faces 0..{n - 1}")
        if len(set(choice.chosen)) != len(choice.chosen):
            raise PageError(400, "a face was chosen twice")
        if choice.closest is not None and choice.closest not in choice.chosen:
            choice = dataclasses.replace(choice, chosen=choice.chosen + [choice.closest])
        return choice

    def choose(self, generation: int, version: int, choice: Choice) -> dict[str, Any]:
        """Record the pending choice on the current grid (it survives reloads and restarts); returns it."""
        with self.lock:
            self._check_current(generation, version)
            self.grid.choice = self._check_choice(choice)
            self._save()
            return {"generation": self.grid.number, "version": self.grid.version,
                    "choice": dataclasses.asdict(self.grid.choice)}

    def next_generation(self, generation: int, version: int, choice: Choice) -> dict[str, Any]:
        """Breed the next grid from the choice, log the choice, keep the old grid for undo."""
        with self.lock:
            started = time.perf_counter()
            self._check_current(generation, version)
            choice = self._check_choice(choice)
            if not choice.chosen:
                raise PageError(400, "choose at least one face (click it) before asking for the next generation")
            old = self.grid
            old.choice = choice
            fitness = blended_fitness(len(old.genes), choice.chosen, old.faceness, choice.blend)
            best = favourite(choice, fitness)
            genes = breed(self.genome, old.genes, old.faceness, choice, self.config.fresh, self.seeds)
            self.grid = self._new_grid(old.number + 1, genes, Choice([], None, choice.strength, choice.blend),
                                       grid_origins(len(genes), len(choice.chosen), self.config.fresh))
            self.undo = (self.undo + [old])[-self.config.undo_depth:]
            self._uris = {grid.version: self._uris[grid.version] for grid in (self.grid, *self.undo)
                          if grid.version in self._uris}
            self.history.append(Favourite(old.number, old.version, best, old.genes[best].copy(),
                                          self._uris_of(old)[best]))
            row = {"action": "next", "generation": old.number, "version": old.version, "chosen": choice.chosen,
                   "closest": choice.closest, "favourite": best, "strength": choice.strength, "blend": choice.blend,
                   "faceness_chosen_mean": float(old.faceness[choice.chosen].mean()),
                   "faceness_max": float(old.faceness.max()), "seconds": time.perf_counter() - started}
            self.run.append_metrics([row])
            self._save()
            return self.state()

    def undo_generation(self, generation: int, version: int) -> dict[str, Any]:
        """Back to the previous grid, with the choice that was made on it."""
        with self.lock:
            self._check_current(generation, version)
            if not self.undo:
                raise PageError(400, "nothing to undo: this is the first generation kept")
            dropped = self.grid
            self.grid = self.undo.pop()
            self.history = [fav for fav in self.history if fav.generation < self.grid.number]
            self.run.append_metrics([{"action": "undo", "generation": dropped.number, "version": dropped.version,
                                      "back_to": self.grid.number}])
            self._save()
            return self.state()

    def write_plot(self) -> Path | None:
        """plots/faceness.png: the CNN faceness of the chosen faces and the grid's best, by generation (does the
        person choose what the CNN calls a face?); None before the first generation was bred."""
        with self.lock:
            rows = [row for row in self.run.read_metrics() if row.get("action") == "next"]
            if not rows:
                return None
            return plot_series(rows, "generation", ["faceness_chosen_mean", "faceness_max"],
                               self.run.plots / "faceness.png", "studio: CNN faceness of the chosen faces", "faceness")

    def face_png(self, version: int, face: int) -> tuple[bytes, str]:
        """(PNG bytes at the decoder's full size, a file name) of a face of the current grid or one undo keeps."""
        with self.lock:
            grid = next((g for g in (self.grid, *self.undo) if g.version == version), None)
            if grid is None:
                raise PageError(404, f"no grid of version {version} in this session")
            if not 0 <= face < len(grid.genes):
                raise PageError(404, f"unknown face id {face}: the grid has faces 0..{len(grid.genes) - 1}")
            image = self.genome.images(grid.genes[face:face + 1])[0]
            return png_bytes(image), f"generation_{grid.number:04d}_face_{face:02d}.png"

    def save_face(self, generation: int, version: int, face: int) -> dict[str, Any]:
        """Write a face of the current grid at full size into ``samples/``; returns its path and download URL."""
        with self.lock:
            self._check_current(generation, version)
            self._check_choice(Choice([face], None, 0.0, 0.0))
            data, name = self.face_png(version, face)
            path = self.run.samples / f"saved_{name}"
            path.write_bytes(data)
            return {"path": str(path), "download": f"/download/{version}/{face}.png"}
