"""The epoch loop every evoface trainer shares: run directory, resume, checkpoints, Ctrl-C, time limit, early
stopping, metrics and plots.

A subclass sets ``kind`` (the kind of its last.pt) and ``best_metric``, and supplies its data, networks, one training
step and its end-of-epoch validation through the hooks below. The config needs ``out``, ``epochs``, ``device``,
``seed`` and ``time_limit`` (seconds of training in total, across resumes); ``patience`` (epochs without a better
``best_metric``) is optional.
"""

from __future__ import annotations

import dataclasses
import math
import sys
import time
from typing import Any, Iterable

import torch
from tqdm import tqdm

from evoface.core import rng as rng_state
from evoface.core.checkpoints import load_checkpoint, save_atomic
from evoface.core.errors import InputError
from evoface.core.interrupts import StopRequest
from evoface.core.rundir import RunDir
from neural.devices import resolve_device


class EpochTrainer:
    """Owns a run directory and trains for epochs, resumably; ``train()`` runs the loop."""

    kind = ""
    best_metric = ""  # a metric to minimise for best.pt; empty: the latest epoch is the best

    def __init__(self, config: Any, resume: bool):
        config.validate()
        self.config = config
        self.run = RunDir.reopen(config.out) if resume else RunDir.unclaimed(config.out)  # claimed once checked
        if resume and not self.run.has_checkpoint:
            print(f"{self.run.path} holds no checkpoint yet: starting it again", file=sys.stderr)
            resume = False
        self.device = resolve_device(config.device)
        rng_state.seed_everything(config.seed)
        self.generator = torch.Generator().manual_seed(config.seed)  # the training data's order and augmentation
        self.load_data()
        self.build()
        self.epoch, self.elapsed, self.best, self.best_row, self.bad_epochs = 0, 0.0, math.inf, {}, 0
        if resume:
            path = self.run.checkpoints / "last.pt"
            state = load_checkpoint(path, self.kind, for_resume=True)
            try:
                self.load_state(state)
                self.generator.set_state(state["data_generator"])
                rng_state.restore(state["rng"])
            except (KeyError, RuntimeError, TypeError, ValueError) as exc:
                raise InputError(f"{path} does not match this run's networks or settings ({type(exc).__name__})") \
                    from None
            self.epoch, self.elapsed, self.best = state["epoch"], state["elapsed"], state["best"]
            self.best_row, self.bad_epochs = state["best_row"], state["bad_epochs"]
            self.run.truncate_metrics("epoch", self.epoch)
        else:
            with self.run.begin().failing():
                self.run.write_config(config)
                self.start()

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
        """What resuming needs beyond ``model_state`` (optimizers, ...), for last.pt."""
        return {"optimizer": self.optimizer.state_dict()}

    def load_state(self, state: dict[str, Any]) -> None:
        """Restore networks and optimizers from last.pt."""
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])

    def model_state(self) -> dict[str, Any]:
        """What using the model needs (networks and their config)."""
        return {"model": self.model.state_dict()}

    def save_best(self, row: dict[str, Any]) -> None:
        save_atomic({**self._header(), **self.model_state(), "metrics": row}, self.run.checkpoints / "best.pt")

    def plot(self, rows: list[dict[str, Any]]) -> None:
        raise NotImplementedError

    # the loop ----------------------------------------------------------------------------------------------
    def _header(self) -> dict[str, Any]:
        """What every checkpoint of this run starts with."""
        return {"kind": self.kind, "config": dataclasses.asdict(self.config), "epoch": self.epoch}

    def _checkpoint(self, row: dict[str, Any]) -> bool:
        """Write best.pt if this epoch is the best so far, and last.pt; return whether it was the best."""
        metric = row.get(self.best_metric) if self.best_metric else -self.epoch  # no criterion: latest is best
        improved = metric is not None and metric < self.best
        if improved:
            self.best, self.best_row, self.bad_epochs = metric, row, 0
            self.save_best(row)
        elif metric is not None:
            self.bad_epochs += 1
        save_atomic({**self._header(), **self.state(), **self.model_state(),
                     "data_generator": self.generator.get_state(), "rng": rng_state.capture(),
                     "elapsed": self.elapsed, "best": self.best, "best_row": self.best_row,
                     "bad_epochs": self.bad_epochs},
                    self.run.checkpoints / "last.pt")
        return improved

    def _stop_reason(self) -> str | None:
        config = self.config
        if self.epoch >= config.epochs:
            return ""
        if config.time_limit is not None and self.elapsed >= config.time_limit:
            return f"time limit reached after epoch {self.epoch}"
        patience = getattr(config, "patience", 0)
        if patience and self.bad_epochs >= patience:
            return f"early stop: no better {self.best_metric} for {patience} epochs"
        return None

    def train(self) -> dict[str, Any]:
        """Train until the epochs, the time limit or the patience run out, or Ctrl-C; returns the last epoch's row
        with the epoch and run directory."""
        with self.run.held():  # a start that fails before its first checkpoint leaves no folder behind
            return self._train()

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
                    print(f"interrupted in epoch {self.epoch + 1}; the checkpoint of epoch {self.epoch} is kept: "
                          f"resume with --resume {self.run.path}")
                    break
                seconds = time.perf_counter() - started
                self.epoch += 1
                self.elapsed += seconds
                row = {"epoch": self.epoch, **{k: v / count for k, v in sums.items()},
                       "images_per_s": count * self.config.batch_size / seconds, "elapsed_s": self.elapsed}
                self.epoch_end(row)
                self.run.append_metrics([row])
                improved = self._checkpoint(row)
                print(" ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items())
                      + ("  *best*" if improved and self.best_metric else ""))
                last_row = row
            if reason:
                print(reason)
        self.plot(self.run.read_metrics())
        return {"epoch": self.epoch, "run": str(self.run.path), **last_row}
