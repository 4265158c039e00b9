"""The epoch loop every evoface trainer shares: run directory, resume, checkpoints, Ctrl-C, time limit, early
stopping, metrics and plots.

A subclass sets ``kind`` (the kind of its last checkpoint) and ``best_metric``, and supplies its data, networks,
one training step and its end-of-epoch validation through the hooks below. The config needs ``out``, ``epochs``,
``device``, ``seed`` and ``time_limit`` (seconds of training in total, across resumes); ``patience`` (epochs without
a better ``best_metric``) is optional. ``Progress``, ``last_checkpoint_dict`` and ``best_checkpoint_dict`` declare
what its checkpoints hold.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field
from typing import Any, Iterable

import torch
from tqdm import tqdm

from evoface.core import rng as rng_state
from evoface.core.checkpoints import load_checkpoint, save_atomic
from evoface.core.errors import InputError
from evoface.core.interrupts import Interrupted, StopRequest
from evoface.core.rundir import open_run
from neural.devices import resolve_device


@dataclass
class Progress:
    """How far a trainer run got, as its last checkpoint stores it: ``epoch`` (epochs done), ``elapsed`` (seconds of
    training, across resumes), ``best`` (the lowest ``best_metric`` so far; without one, minus the latest epoch),
    ``best_row`` (that epoch's metrics row) and ``bad_epochs`` (epochs since it last improved)."""

    epoch: int = 0
    elapsed: float = 0.0
    best: float = math.inf
    best_row: dict[str, Any] = field(default_factory=dict)
    bad_epochs: int = 0

    @classmethod
    def of(cls, ckpt: dict[str, Any]) -> "Progress":
        """The progress a (format-upgraded) last checkpoint holds."""
        return cls(**{f.name: ckpt[f.name] for f in dataclasses.fields(cls)})

    def stop_reason(self, config: Any, best_metric: str = "") -> str | None:
        """Why training stops here: "" once ``config.epochs`` are done, a sentence for the time limit or the
        patience, None while it goes on."""
        if self.epoch >= config.epochs:
            return ""
        if config.time_limit is not None and self.elapsed >= config.time_limit:
            return f"time limit reached after epoch {self.epoch}"
        patience = getattr(config, "patience", 0)
        if patience and self.bad_epochs >= patience:
            return f"early stop: no better {best_metric} for {patience} epochs"
        return None


def last_checkpoint_dict(kind: str, config: Any, progress: Progress, networks: dict[str, Any],
                         data_generator: torch.Tensor) -> dict[str, Any]:
    """A trainer's last checkpoint (kind "gan", "vae" or "faceness-train"), all that resuming needs: ``kind``,
    ``config`` (the run's settings), the ``Progress`` fields, ``networks`` (weights and optimizers under the trainer's
    own keys: its ``model_state`` and ``state``), ``data_generator`` (the state of the generator that orders and
    augments the data) and ``rng`` (every library's random state, ``evoface.core.rng.capture``)."""
    return {"kind": kind, "config": dataclasses.asdict(config), **dataclasses.asdict(progress), **networks,
            "data_generator": data_generator, "rng": rng_state.capture()}


def best_checkpoint_dict(kind: str, config: Any, epoch: int, networks: dict[str, Any],
                         row: dict[str, Any]) -> dict[str, Any]:
    """A trainer's best checkpoint, what using its model needs: ``kind``, ``config``, ``epoch``, ``networks`` (the
    trainer's ``model_state``) and ``metrics`` (that epoch's row). The faceness trainer writes the faceness format
    instead (``neural.faceness_store.save_faceness``)."""
    return {"kind": kind, "config": dataclasses.asdict(config), "epoch": epoch, **networks, "metrics": row}


class EpochTrainer:
    """Owns a run directory and trains for epochs, resumably; ``train()`` runs the loop."""

    kind = ""
    best_metric = ""  # a metric to minimise for the best checkpoint; empty: the latest epoch is the best

    def __init__(self, config: Any, resume: bool):
        config.validate()
        self.config = config
        self.run, resume = open_run(config.out, resume)  # a new run's folder is claimed once its inputs are checked
        self.device = resolve_device(config.device)
        rng_state.seed_everything(config.seed)
        self.generator = torch.Generator().manual_seed(config.seed)  # the training data's order and augmentation
        self.load_data()
        self.build()
        self.progress = Progress()
        if resume:
            path = self.run.last_checkpoint
            state = load_checkpoint(path, self.kind, for_resume=True)
            try:
                self.load_state(state)
                self.generator.set_state(state["data_generator"])
                rng_state.restore(state["rng"])
            except (KeyError, RuntimeError, TypeError, ValueError) as exc:
                raise InputError(f"{path} does not match this run's networks or settings ({type(exc).__name__})") \
                    from None
            self.progress = Progress.of(state)
            self.run.truncate_metrics("epoch", self.epoch)
        else:
            with self.run.begin().failing():
                self.run.write_config(config)
                self.start()

    @property
    def epoch(self) -> int:
        """Epochs done."""
        return self.progress.epoch

    @property
    def best_row(self) -> dict[str, Any]:
        """The metrics row of the best epoch so far."""
        return self.progress.best_row

    # hooks -------------------------------------------------------------------------------------------------
    def load_data(self) -> None:
        raise NotImplementedError

    def build(self) -> None:
        """Networks and optimizers."""
        raise NotImplementedError

    def start(self) -> None:
        """Once, when a new run begins (after its config is written)."""

    def describe(self) -> str:
        """One line printed when training starts."""
        return f"{self.kind}: device {self.device}"

    def batches(self) -> Iterable[Any]:
        """One epoch of training batches, drawn with ``self.generator``."""
        raise NotImplementedError

    def steps_per_epoch(self) -> int:
        raise NotImplementedError

    def train_step(self, batch: Any) -> dict[str, float]:
        raise NotImplementedError

    def epoch_end(self, row: dict[str, Any]) -> None:
        """Validate and write sample grids for the epoch just finished; may add metrics to ``row``."""

    # the defaults below serve a trainer with one ``self.model`` and one ``self.optimizer``
    def state(self) -> dict[str, Any]:
        """What resuming needs beyond ``model_state`` (optimizers, ...), for the last checkpoint."""
        return {"optimizer": self.optimizer.state_dict()}

    def load_state(self, state: dict[str, Any]) -> None:
        """Restore networks and optimizers from the last checkpoint."""
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])

    def model_state(self) -> dict[str, Any]:
        """What using the model needs (networks and their config)."""
        return {"model": self.model.state_dict()}

    def save_best(self, row: dict[str, Any]) -> None:
        save_atomic(best_checkpoint_dict(self.kind, self.config, self.epoch, self.model_state(), row),
                    self.run.best_checkpoint)

    def plot(self, rows: list[dict[str, Any]]) -> None:
        raise NotImplementedError

    # the loop ----------------------------------------------------------------------------------------------
    def _checkpoint(self, row: dict[str, Any]) -> bool:
        """Write the best checkpoint if this epoch is the best so far, and the last one; return whether it was the
        best."""
        progress = self.progress
        metric = row.get(self.best_metric) if self.best_metric else -progress.epoch  # no criterion: latest is best
        improved = metric is not None and metric < progress.best
        if improved:
            progress.best, progress.best_row, progress.bad_epochs = metric, row, 0
            self.save_best(row)
        elif metric is not None:
            progress.bad_epochs += 1
        save_atomic(last_checkpoint_dict(self.kind, self.config, progress, {**self.state(), **self.model_state()},
                                         self.generator.get_state()), self.run.last_checkpoint)
        return improved

    def _stop_reason(self) -> str | None:
        return self.progress.stop_reason(self.config, self.best_metric)

    def train(self) -> dict[str, Any]:
        """Train until the epochs, the time limit or the patience run out, or Ctrl-C; returns the last epoch's row
        with the epoch and run directory."""
        with self.run.held():  # a start that fails before its first checkpoint leaves no folder behind
            return self._train()

    def _say_interrupted(self) -> None:
        print(f"interrupted in epoch {self.epoch + 1}; the checkpoint of epoch {self.epoch} is kept: "
              f"resume with --resume {self.run.path}")

    def _train(self) -> dict[str, Any]:
        print(self.describe())
        last_row: dict[str, Any] = {}
        with StopRequest() as stop:
            while (reason := self._stop_reason()) is None:
                started, sums, count = time.perf_counter(), {}, 0
                for batch in tqdm(self.batches(), total=self.steps_per_epoch(), desc=f"epoch {self.epoch + 1}",
                                  leave=False, disable=None):
                    for key, value in self.train_step(batch).items():
                        sums[key] = sums.get(key, 0.0) + value
                    count += 1
                    if stop:
                        break
                if stop:
                    self._say_interrupted()
                    break
                seconds = time.perf_counter() - started
                self.progress.epoch += 1
                self.progress.elapsed += seconds
                row = {"epoch": self.epoch, **{k: v / count for k, v in sums.items()},
                       "images_per_s": count * self.config.batch_size / seconds, "elapsed_s": self.progress.elapsed}
                try:
                    self.epoch_end(row)
                except Interrupted:  # a stop request cut its FID pass short: the epoch is not kept
                    self.progress.epoch -= 1
                    self.progress.elapsed -= seconds
                    self._say_interrupted()
                    break
                self.run.append_metrics([row])
                improved = self._checkpoint(row)
                print(" ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items())
                      + ("  *best*" if improved and self.best_metric else ""))
                last_row = row
            if reason:
                print(reason)
        self.plot(self.run.read_metrics())
        return {"epoch": self.epoch, "run": str(self.run.path), **last_row}
