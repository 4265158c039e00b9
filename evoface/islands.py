"""``evoface evolve --islands N``: the island model on Ray. Each island is a Ray actor holding one single-population
run (``evoface.island_actor``); every ``--migration-every`` K generations the ``--migrants`` M best of island i
replace the M worst of island i + 1 (a ring, as DEAP's migRing). The driver owns the run directory: metrics rows
with an ``island`` column, the overall best in samples/ and top_grid.png, and one checkpoint of every island
(``evoface.island_state``), written atomically at the first migration point after each ``--checkpoint-every``.

An island whose actor dies (or does not answer in time) is started again and every island goes back to the last
checkpoint, so the run goes on as if nothing had happened (the same generations, the same result). Ctrl-C stops all
islands at the next migration point and keeps the checkpoint.
"""

from __future__ import annotations

import math
import sys
import time
from typing import Any, Callable

import numpy as np
from tqdm import tqdm

from evoface.core.checkpoints import load_checkpoint, save_atomic
from evoface.core.errors import InputError
from evoface.core.interrupts import StopRequest
from evoface.core.rundir import open_run
from evoface.evolve import save_snapshot, write_outputs
from evoface.evolve_config import KIND, EvolveConfig
from evoface.evolve_loop import StoppingRules
from evoface.island_actor import Island
from evoface.kernels import switch
from evoface.ray_cluster import RayInstance
from evoface.island_state import combine_states, island_config, merge_halls, ring_sources, split_state

START_TIMEOUT_S = 600.0   # building an island: loading its models, compiling its kernels on a busy machine
STEP_TIMEOUT_S = 120.0    # at least this long for one call between migration points ...
SLOWEST_FACTOR = 20.0     # ... or this many times the slowest such call so far
MAX_RESTARTS = 5          # island restarts in a row without reaching a new checkpoint


class IslandLost(Exception):
    """An island's actor died or did not answer in time."""


class IslandModel:
    """The driver of an island run: the run directory, the actors, migration, checkpoints and restarts."""

    def __init__(self, ray, config: EvolveConfig, resume: bool, after_epoch: Callable | None = None):
        self.ray, self.config, self.after_epoch = ray, config, after_epoch
        self.run, resume = open_run(config.out, resume)
        self.rules = StoppingRules.of(config)
        self.elapsed, self.generation, self.restarts, self.slowest = 0.0, 0, 0, 0.0
        resources = ray.cluster_resources()
        share = {"num_cpus": min(1.0, resources.get("CPU", 1) / config.islands)}
        if resources.get("GPU", 0) and config.device != "cpu":  # one scorer per GPU, or a share of one
            share["num_gpus"] = min(1.0, resources["GPU"] / config.islands)
        self.actor_class = ray.remote(max_restarts=0, **share)(Island)
        if resume:
            ckpt = load_checkpoint(self.run.last_checkpoint, KIND, for_resume=True)
            if len(ckpt.get("islands", ())) != config.islands:
                raise InputError(f"{self.run.path} is not a run of {config.islands} islands")
            self.elapsed, self.generation = ckpt["elapsed"], ckpt["generation"]
            self.states = [split_state(ckpt, i, island_config(config, i, "")) for i in range(config.islands)]
            self.run.truncate_metrics("generation", self.generation)
        else:
            self.states = [None] * config.islands
        self.actors = [self._start(i) for i in range(config.islands)]
        self._wait([actor.where.remote() for actor in self.actors], START_TIMEOUT_S)
        if not resume:
            self.states = self._call("state")
            with self.run.begin().failing():
                self.run.write_config(config, chosen={"kernels": self.kernels})
        self.checkpoint_generation = self.generation

    @property
    def kernels(self) -> str:
        """The kernels switch of every island: "auto" (each picks what its machine runs) or "plain"."""
        return switch.selected()

    def _start(self, index: int):
        return self.actor_class.remote(self.config, index, self.states[index])

    # calls into the islands --------------------------------------------------------------------------------
    def _wait(self, refs: list, timeout: float) -> list:
        """ray.get with a timeout; IslandLost when an actor died or did not answer, the island's own InputError
        as itself."""
        exceptions = self.ray.exceptions
        lost = tuple(getattr(exceptions, name) for name in (
            "RayActorError", "GetTimeoutError", "WorkerCrashedError", "ObjectLostError", "ActorUnavailableError")
            if hasattr(exceptions, name))
        try:
            return self.ray.get(refs, timeout=timeout)
        except lost as exc:
            text = str(exc).strip()
            raise IslandLost(text.splitlines()[0][:200] if text else type(exc).__name__) from None
        except exceptions.RayTaskError as exc:
            if isinstance(exc.cause, InputError):
                raise exc.cause from None
            raise

    def _call(self, method: str, *args: Any) -> list:
        """Call ``method`` on every island at once and wait (bounded) for all the answers."""
        started = time.perf_counter()
        answers = self._wait([getattr(actor, method).remote(*args) for actor in self.actors], self._timeout())
        self.slowest = max(self.slowest, time.perf_counter() - started)
        return answers

    def _timeout(self) -> float:
        return max(STEP_TIMEOUT_S, SLOWEST_FACTOR * self.slowest)

    def where(self) -> list[dict[str, Any]]:
        """The worker process (pid) and Ray node of each island."""
        return self._wait([actor.where.remote() for actor in self.actors], STEP_TIMEOUT_S)

    def _recover(self, why: str) -> None:
        """Start again every island that does not answer, and take every island back to the last checkpoint."""
        self.restarts += 1
        if self.restarts > MAX_RESTARTS:
            raise RuntimeError(f"islands lost {self.restarts} times in a row ({why}); the last checkpoint "
                               f"(generation {self.checkpoint_generation}) is kept")
        print(f"warning: an island was lost ({why}); restarting from generation {self.checkpoint_generation}",
              file=sys.stderr)
        for index, actor in enumerate(self.actors):
            try:
                self._wait([actor.restore.remote(self.states[index])], START_TIMEOUT_S)
            except IslandLost:
                self.ray.kill(actor, no_restart=True)
                self.actors[index] = self._start(index)
        self._wait([actor.where.remote() for actor in self.actors], START_TIMEOUT_S)
        self.generation = self.checkpoint_generation

    # the loop -------------------------------------------------------------------------------------------------
    def _migrate(self) -> None:
        emigrants = self._call("emigrants", self.config.migrants)
        refs = [actor.immigrate.remote(*emigrants[source])
                for actor, source in zip(self.actors, ring_sources(len(self.actors)))]
        self._wait(refs, self._timeout())

    def _checkpoint(self, rows: list[dict[str, Any]], started: float) -> None:
        self.states = self._call("state")
        self.run.append_metrics(sorted(rows, key=lambda row: (row["generation"], row["island"])))
        rows.clear()
        save_atomic(combine_states(self.states, self.config, self.elapsed + time.perf_counter() - started),
                    self.run.last_checkpoint)
        self.checkpoint_generation, self.restarts = self.generation, 0

    def _snapshot(self) -> None:
        images, fitness, _ = zip(*self._call("best", 1))
        best = int(np.argmax([f[0] for f in fitness]))
        save_snapshot(self.run, self.generation, images[best][0])

    def _epoch_length(self) -> int:
        """Generations to the next migration point (or to the last generation)."""
        every, left = self.config.migration_every, math.inf
        if self.config.generations is not None:
            left = self.config.generations - self.generation
        return int(min(every - self.generation % every, left))

    def run_until_stop(self) -> dict[str, Any]:
        config = self.config
        started = time.perf_counter()
        rows: list[dict[str, Any]] = []
        best = -math.inf
        if self.generation == 0:
            self._snapshot()
        bar = tqdm(total=config.generations, initial=self.generation, desc=f"evolve x{config.islands}", unit="gen",
                   disable=None)
        with StopRequest() as stop:
            while True:
                elapsed = self.elapsed + time.perf_counter() - started
                reason = self.rules.reason(self.generation, elapsed, best) or ("interrupted" if stop else None)
                if reason:
                    break
                before = self.generation
                try:
                    length = self._epoch_length()
                    new = [row for island_rows in self._call("advance", length) for row in island_rows]
                    self.generation += length
                    if config.migrants and self.generation % config.migration_every == 0:
                        self._migrate()
                    rows.extend(new)
                    best = max(best, max(row["max"] for row in new))
                    if self.generation // config.snapshot_every > before // config.snapshot_every:
                        self._snapshot()
                    if self.generation // config.checkpoint_every > before // config.checkpoint_every:
                        self._checkpoint(rows, started)
                    if self.after_epoch is not None:
                        self.after_epoch(self)
                except IslandLost as lost:
                    rows.clear()
                    best = -math.inf
                    self._recover(str(lost))
                    bar.n = self.generation
                    continue
                bar.update(self.generation - before)
                bar.set_postfix(best=f"{best:.4f}")
        bar.close()
        self._checkpoint(rows, started)
        self._snapshot()
        return {"reason": reason, **self.write_outputs()}

    def write_outputs(self) -> dict[str, Any]:
        """The overall hall of fame's grid, each island's best-fitness curve, the timelapse; returns a summary."""
        images, fitness, genes = zip(*self._call("best", self.config.top_k))
        top, top_fitness = merge_halls(list(images), list(fitness), list(genes), self.config)
        by_generation: dict[int, dict[str, Any]] = {}
        for row in self.run.read_metrics():
            by_generation.setdefault(row["generation"], {"generation": row["generation"]})[
                f"island {row.get('island', 0)}"] = row["max"]
        paths = write_outputs(self.run, top, [f"island {i}" for i in range(self.config.islands)],
                              f"evolve: best faceness of each of {self.config.islands} islands",
                              sorted(by_generation.values(), key=lambda r: r["generation"]))
        return {"generation": self.generation, "best_fitness": float(top_fitness[0]), **paths,
                "islands": self.where()}


def evolve_islands(config: EvolveConfig, resume: bool = False,
                   after_epoch: Callable[[IslandModel], None] | None = None) -> dict[str, Any]:
    """Start or resume an island run (``config.islands`` > 1) on Ray; returns why it stopped, where its outputs are,
    and where each island ran. ``after_epoch(model)`` runs after each migration point (tests kill islands there)."""
    config.validate()
    switch.select(config.kernels)
    with RayInstance(config.ray_address) as ray:
        model = IslandModel(ray, config, resume, after_epoch)
        with model.run.held():
            return {**model.run_until_stop(), "kernels": model.kernels}
