"""The ``evoface evolve`` workflow: run the pixel GA from uniform noise into a run directory, resumably."""

from __future__ import annotations

import dataclasses
import sys
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from deap import base, tools
from tqdm import tqdm

from evoface.core import rng as rng_state
from evoface.core.allocator import large_blocks_on_heap
from evoface.core.checkpoints import load_checkpoint, save_atomic
from evoface.core.configs import RunConfig, bounded, run_config, seed_field
from evoface.core.errors import InputError
from evoface.ga.blob_mutation import mut_blobs_and_reset_block
from evoface.ga.face_space_mutation import FaceBasis, mut_face_space_block
from evoface.ga.operators import mut_uniform_reset_block
from evoface.ga.niching import NicheHallOfFame, clearing_ranking, radius_in_genes
from evoface.ga.engine import QElitistGA, evaluate_invalid, fitness_statistics, population_arrays
from evoface.ga.reference import ReferenceGA, per_individual, reference_notice, use_reference_operators
from evoface.core.interrupts import StopRequest
from evoface.core.plots import image_grid, plot_series, save_png
from evoface.rendering import render
from evoface.core.rundir import RunDir
from evoface.scoring import BatchScorer, fuse_for_inference
from evoface.target import as_chw, keep_target, run_target
from evoface.ga.seed_stream import SeedStream
from evoface.ga.tensor_engine import TensorGA
from evoface.ga.tensor_operators import cx_normal_point_tensor, mut_face_space_tensor, reset_genes_tensor
from evoface.core.timelapse import write_timelapse
from evoface.core.words import plural
from evoface.ga.latent_toolbox import LATENT_CROSSOVERS, LATENT_NORMS, build_latent_toolbox
from evoface.latent_genome import LatentGenome
from evoface.ga.toolbox import SELECTIONS, as_individuals, build_toolbox
from neural.devices import resolve_device
from neural.face_space import load_face_space
from neural.faceness_store import load_faceness
from neural.precision import PRECISIONS, resolve_precision
from neural.target_likeness import TARGET_SPACES, target_likeness

KIND = "evolve"
PROBE_SEED = 0  # the precision probe's mutation draws from a stream of its own, not the run's
STOPPING_RULES = ("generations", "time_limit", "target_fitness")
MAX_POPULATION = 100_000  # at 128 px, 4.9 GB of genes
MAX_COUNT = 10**9         # generations, and every "every K generations"
GENOMES = ("pixel", "latent")
PRIORS = ("none", "face-space")
PIXEL_MUTATIONS = ("reset", "blob", "face-space")
# fast: QElitistGA and its numba operators; tensor: the same on torch tensors on --device (``evoface.ga.tensor_engine``:
# on a GPU the whole generation runs there); auto: tensor on a GPU where it runs, else fast; reference: the spec
ENGINES = ("auto", "fast", "tensor", "reference")
TENSOR_MUTATIONS = ("reset", "face-space")
# what a field left unset means, by genome. The latent genome's decoder is its realism prior; its faceness is capped
# (satisficing) and its elites niched, so that it picks distinct faces instead of pushing one to a super-stimulus
GENOME_DEFAULTS = {"pixel": {"prior": "face-space", "faceness_cap": 1.0, "niche_radius": 0.0},
                   "latent": {"prior": "none", "faceness_cap": 0.98, "niche_radius": 0.5}}


@dataclass
class EvolveConfig(RunConfig):
    """Every parameter of one ``evoface evolve`` run. Typing any stopping rule drops the default ones (the 1000
    generations): so ``--time-limit 10m`` alone runs for ten minutes."""

    kind = KIND
    command = "evolve"
    resume_changeable = (*STOPPING_RULES, "checkpoint_every", "snapshot_every", "detector_every", "device", "precision",
                         "cxpb", "sigma", "indpb", "selection", "truncation", "tournsize",
                         "latent_sigma", "latent_indpb", "crossover", "foreign", "latent_norm", "niche_radius",
                         "niche_capacity", "mutation", "face_step", "face_pull",
                         "blobs", "blob_min_radius", "blob_max_radius", "ray_address")
    given_together = STOPPING_RULES
    absent_in_older_runs = {"faceness_cap": 1.0, "niche_radius": 0.0, "niche_capacity": 1, "latent_norm": "free"}

    out: str
    fitness: str | None = None          # faceness checkpoint; None = the shipped default
    ensemble: list[str] = field(default_factory=list)  # more faceness checkpoints, scored together with ``fitness``
    ensemble_rule: str = bounded("min", choices=("min", "mean"))  # how the ensemble's scores combine: min or mean
    size: int | None = bounded(None, 32, 128)  # image side; None = the fitness model's, else it must match
    mu: int = bounded(100, 2, MAX_POPULATION)
    q: int = bounded(20, 0, MAX_POPULATION)
    selection: str = bounded("truncation", choices=SELECTIONS)
    truncation: int | None = bounded(None, 1, MAX_POPULATION)  # parents are drawn from this many best; None = q
    tournsize: int = bounded(3, 1, MAX_POPULATION)
    cxpb: float = bounded(1.0, 0.0, 1.0)
    sigma: float = bounded(0.5, 0.0, 100.0, low_open=True)  # crossover cut ~ N(L/2, (sigma*L)^2)
    indpb: float = bounded(0.001, 0.0, 1.0)
    generations: int | None = bounded(1000, 1, MAX_COUNT)  # total generations (a stopping rule)  # seconds of evolution in total, across resumes (a stopping rule)
    time_limit: float | None = bounded(None, 0.0, 1e8, low_open=True)
    target_fitness: float | None = bounded(None, high=1.0)  # stop once the best reaches this (a stopping rule)
    checkpoint_every: int = bounded(500, 1, MAX_COUNT)
    snapshot_every: int = bounded(100, 1, MAX_COUNT)  # run the independent face detector on the best image every N generations
    detector_every: int = bounded(0, 0, MAX_COUNT)
    top_k: int = bounded(16, 1, 10_000)  # evolve G x G genomes, shown and scored upsampled; None = the model's size
    genome_size: int | None = bounded(None, 4, 128)
    tv_weight: float = bounded(0.0, 0.0, 1e6)  # fitness = faceness - tv_weight * total variation
    blur_sigma: float = bounded(0.0, 0.0, 64.0)  # score a Gaussian-blurred copy (pixels)
    # satisficing: faceness above this counts as this, so selection stops pushing it (1 = no cap; None: the genome's
    # default, ``GENOME_DEFAULTS``, as for the other fields left None here)
    faceness_cap: float | None = bounded(None, 0.0, 1.0, low_open=True)
    prior: str | None = bounded(None, choices=PRIORS)  # realism prior subtracted from the faceness (see ``prior_weight``)
    prior_model: str | None = None      # a train-prior run or checkpoint; None = the shipped face space
    prior_weight: float = bounded(2.0, 0.0, 1e6)  # fitness = faceness - this * distance from face space
    target: str | None = None  # an image: fitness also rewards likeness to this face (``neural.target_likeness``)
    target_space: str = bounded("face-space", choices=TARGET_SPACES)  # where likeness to the target is measured
    target_weight: float = bounded(0.1, 0.0, 1e6)  # fitness -= this * distance from the target
    # pixel genome: per-gene resets; blobs + resets; or face-space moves + resets (``evoface.ga.face_space_mutation``)
    mutation: str = bounded("face-space", choices=PIXEL_MUTATIONS)
    face_step: float = bounded(0.3, 0.0, 100.0)  # face-space mutation: move std, in real faces' std per component
    face_pull: float = bounded(0.1, 0.0, 1.0)  # face-space mutation: share of the way to face space per generation
    blobs: int = bounded(2, 1, 10_000)  # blob mutation: blobs painted into each child
    blob_min_radius: float = bounded(1.5, 0.1, 1e4)  # blob radii are log-uniform between these (pixels)
    blob_max_radius: float = bounded(12.0, 0.1, 1e4)
    init_from: str | None = None        # start from this run's final population, resized (coarse-to-fine)
    # pixel: the image itself; latent: the input code of a GAN/VAE decoder
    genome: str = bounded("pixel", choices=GENOMES)
    decoder: str | None = None          # latent: a train-gan/train-vae checkpoint or "gan"/"vae"; None = "gan"
    latent_sigma: float = bounded(0.5, 0.0, 100.0)  # latent Gaussian mutation: std of the change of a mutated gene
    latent_indpb: float = bounded(0.1, 0.0, 1.0)  # latent Gaussian mutation: probability that a gene mutates
    # latent crossover: normal-point (on the vector) or slerp
    crossover: str = bounded("normal-point", choices=LATENT_CROSSOVERS)
    foreign: int = bounded(0, 0, MAX_POPULATION)  # latent: fresh N(0, I) individuals in each generation's offspring
    # latent: sphere keeps each mutated code at norm sqrt(k), where the decoder's training codes lie; free lets it drift
    latent_norm: str = bounded("sphere", choices=LATENT_NORMS)
    # latent: niching by clearing (``evoface.ga.niching``): codes closer than this share of the distance between two
    # random codes share a niche, and only the best of each niche keeps its rank; 0 = no niching
    niche_radius: float | None = bounded(None, 0.0, 10.0)
    niche_capacity: int = bounded(1, 1, MAX_POPULATION)  # winners per niche
    device: str = "auto"
    # fitness models: auto (bf16 on AMX CPUs where it keeps the ranking, else fp32), fp32, bf16 or fp32-compiled
    precision: str = bounded("auto", choices=PRECISIONS)
    seed: int = seed_field()
    engine: str = bounded("auto", choices=ENGINES)  # see ENGINES
    # island model on Ray (``evoface.islands``): islands, and every K generations the M best of each replace the
    # M worst of the next
    islands: int = bounded(1, 1, 4096)
    migration_every: int = bounded(10, 1, MAX_COUNT)
    migrants: int = bounded(2, 0, MAX_POPULATION)
    ray_address: str | None = None  # join this Ray cluster; None = a local Ray instance sized to the machine

    def validate(self) -> None:
        super().validate()
        for name, value in GENOME_DEFAULTS[self.genome].items():
            if getattr(self, name) is None:  # stored so: a resumed run keeps what it started with
                setattr(self, name, value)
        if not 0 <= self.q < self.mu:
            raise InputError(f"--q must be in [0, mu) = [0, {self.mu}), got {self.q}")
        if self.blob_min_radius > self.blob_max_radius:
            raise InputError(f"--blob-min-radius {self.blob_min_radius:g} is above --blob-max-radius "
                             f"{self.blob_max_radius:g}")
        if self.engine not in ENGINES:
            raise InputError(f"--engine must be one of {', '.join(ENGINES)}, got {self.engine!r}")
        if self.truncation is not None and not 1 <= self.truncation <= self.mu:
            raise InputError(f"--truncation must be in [1, mu], got {self.truncation}")
        if self.target_fitness is not None and self.target_fitness > self.faceness_cap:
            raise InputError(f"--target-fitness {self.target_fitness:g} can never be reached: --faceness-cap caps the "
                             f"fitness at {self.faceness_cap:g}")
        if self.generations is None and self.time_limit is None and self.target_fitness is None:
            raise InputError("give a stopping rule: --generations, --time-limit or --target-fitness")
        self._validate_genome()
        if self.islands > 1 and self.engine == "reference":
            raise InputError("--islands runs on the fast or tensor engine, not the reference one")
        if self.engine == "tensor" and self.genome == "pixel" and self.mutation not in TENSOR_MUTATIONS:
            raise InputError(f"--engine tensor runs --mutation {' or '.join(TENSOR_MUTATIONS)}, not {self.mutation}")
        if self.migrants >= self.mu:
            raise InputError(f"--migrants must be below --mu ({self.mu}), got {self.migrants}")

    def _validate_genome(self) -> None:
        """Checks across fields of the genome (the fields' own ranges are declared above)."""
        if self.genome == "pixel":
            if self.decoder is not None:
                raise InputError("--decoder needs --genome latent")
            if self.niche_radius:
                raise InputError("--niche-radius applies to the latent genome (--genome latent)")
            return
        if self.genome_size is not None:
            raise InputError("--genome-size applies to the pixel genome; a latent genome is the decoder's code")
        if self.engine not in ("auto", "fast"):
            raise InputError("the latent genome runs on the fast engine only (--engine fast or auto)")
        if not 0 <= self.foreign <= self.mu - self.q:
            raise InputError(f"--foreign must be in [0, mu - q] = [0, {self.mu - self.q}], got {self.foreign}")

    @property
    def decoder_source(self) -> str:
        from evoface.decoders import default_decoder

        return self.decoder or default_decoder()


@dataclass
class Evolution:
    """The live state of a run: the GA (population, fitness, operators), hall of fame, generation, and the random
    sources: the numpy generator and the operators' seed stream."""

    ga: QElitistGA | ReferenceGA
    hall_of_fame: tools.HallOfFame
    generation: int
    rng: np.random.Generator
    seeds: SeedStream

    @property
    def population(self) -> list:
        return self.ga.population

    def checkpoint(self, config: EvolveConfig, elapsed: float, image_size: int) -> dict[str, Any]:
        genes, fitness = self.ga.genes, self.ga.fitness
        hof_genes, hof_fitness = population_arrays(list(self.hall_of_fame))
        return {"kind": KIND, "generation": self.generation, "image_size": image_size, "genes": torch.from_numpy(genes),
                "fitness": torch.from_numpy(fitness), "hof_genes": torch.from_numpy(hof_genes),
                "hof_fitness": torch.from_numpy(hof_fitness), "rng": rng_state.capture(self.rng),
                "seed_stream": self.seeds.state, "elites_first": self.ga.elites_first,
                "elapsed": elapsed, "config": dataclasses.asdict(config)}


def _hall_of_fame(size: int, niche_radius: float) -> tools.HallOfFame:
    """The run's top ``size``; with niching, the best of distinct niches."""
    return NicheHallOfFame(size, niche_radius) if niche_radius else tools.HallOfFame(size, similar=np.array_equal)


def metrics_row(ga: QElitistGA | ReferenceGA, generation: int, started: float, start_generation: int) -> dict[str, Any]:
    """Fitness statistics, diversity (mean per-gene std over the population) and speed."""
    seconds = max(time.perf_counter() - started, 1e-9)
    return {"generation": generation, **fitness_statistics(ga.fitness), "diversity": ga.diversity,
            "generations_per_s": (generation - start_generation) / seconds}


class EvolveRun:
    """Owns the run directory, the scorer and the evolution; ``run()`` evolves until a stopping rule fires."""

    def __init__(self, config: EvolveConfig, resume: bool, toolbox: base.Toolbox | None = None):
        if toolbox is not None:
            config.engine = "reference"  # the user's DEAP operators run on the reference engine
        config.validate()
        self.config = config
        self.run = RunDir.reopen(config.out) if resume else RunDir.unclaimed(config.out)  # claimed once checked
        if resume and not self.run.has_checkpoint:
            print(f"{self.run.path} holds no checkpoint yet: starting it again", file=sys.stderr)
            resume = False
        self.model = load_faceness(config.fitness)
        self.size = self.model.config.size
        if config.size is not None and config.size != self.size:
            raise InputError(f"--size {config.size} does not match the fitness model, which scores "
                             f"{self.size}px images")
        models = [self.model] + [load_faceness(path) for path in config.ensemble]
        needs_face_space = (config.prior == "face-space" or (config.genome == "pixel" and config.mutation == "face-space")
                            or (config.target is not None and config.target_space == "face-space"))
        face_space = load_face_space(config.prior_model) if needs_face_space else None
        prior = face_space if config.prior == "face-space" else None
        self.target = run_target(self.run.path, config.target, self.size, resume) if config.target else None
        likeness = None
        if self.target is not None:  # the faceness space runs its own fused copy of the net's convolutions
            faceness = fuse_for_inference(self.model) if config.target_space == "faceness" else None
            likeness = target_likeness(config.target_space, as_chw(self.target), face_space, faceness)
        self.face_space = face_space
        pixel_face_space = config.genome == "pixel" and config.mutation == "face-space"
        self.face_basis = FaceBasis.of(face_space) if pixel_face_space else None
        # "auto" precision is tried on copies of a genome that the run's own mutation has changed once
        probe_mutation = self.pixel_mutation(SeedStream(PROBE_SEED)) if config.genome == "pixel" else None
        self.scorer = BatchScorer(models, resolve_device(config.device), config.genome_size, config.tv_weight,
                                  config.blur_sigma, ensemble_rule=config.ensemble_rule, precision=config.precision,
                                  prior=prior, prior_weight=config.prior_weight, target=likeness,
                                  target_weight=config.target_weight,
                                  faceness_cap=config.faceness_cap if config.faceness_cap < 1 else None,
                                  probe_mutation=probe_mutation)
        self.engine = resolved_engine(config, self.scorer.device)
        self.precision_note = None  # what "auto" chose where it had a choice: on the progress bar and in the summary
        if config.precision == "auto" and resolve_precision("auto", self.scorer.device) != "fp32":
            ranks = "ranks" if self.scorer.precision != "fp32" else "did not rank"
            probe = "children of this run's mutation" if probe_mutation else "copies of a genome with 0.1% resets"
            self.precision_note = f"precision auto: {self.scorer.precision} (bf16 {ranks} {probe} as fp32 does)"
        if config.genome == "latent" and config.decoder is None:
            config.decoder = config.decoder_source  # stored, so that a resumed run keeps its decoder
        self.latent = (LatentGenome(config.decoder_source, self.size, self.scorer.device)
                       if config.genome == "latent" else None)
        self.genome_length = self.latent.length if self.latent else self.scorer.genome_length
        self.last_checkpoint = self.run.checkpoints / "last.pt"
        self.keep_blocks_on_heap = True  # glibc's thresholds fixed during the loop (``evoface.core.allocator``)
        self.elapsed = 0.0
        if resume:
            ckpt = load_checkpoint(self.last_checkpoint, KIND, for_resume=True)
            self.elapsed, generation = ckpt["elapsed"], ckpt["generation"]
            rng = np.random.default_rng()
            rng_state.restore(ckpt["rng"], rng)
            seeds = SeedStream(ckpt["seed_stream"])
            if self.latent:
                self.latent.check_genes(ckpt, f"the run {self.run.path}")
            elif ckpt["genes"].shape[1] != self.scorer.genome_length:
                raise InputError(f"the run's genomes do not match its {self.size}px fitness model")
            self.run.truncate_metrics("generation", generation)
        else:
            rng, generation = rng_state.seed_everything(config.seed), 0
            seeds = SeedStream.from_generator(rng)
        truncation = config.truncation or max(config.q, 2)
        if self.latent:
            self.toolbox = build_latent_toolbox(
                self.latent.scoring(self.scorer), rng, seeds, crossover=config.crossover, sigma=config.sigma,
                cxpb=config.cxpb, latent_indpb=config.latent_indpb, latent_sigma=config.latent_sigma,
                foreign=config.foreign, selection=config.selection, truncation=truncation, tournsize=config.tournsize,
                sphere=config.latent_norm == "sphere")
        else:
            self.toolbox = build_toolbox(self.scorer, rng, seeds, sigma=config.sigma, cxpb=config.cxpb,
                                         indpb=config.indpb, selection=config.selection, truncation=truncation,
                                         tournsize=config.tournsize)
            self.toolbox.register("mutate", self.pixel_mutation(seeds, on_tensors=self.engine == "tensor"))
            if self.engine == "tensor":  # the same draws from the same seeds, on tensors on the scorer's device
                self.toolbox.register("mate", cx_normal_point_tensor, sigma=config.sigma, cxpb=config.cxpb, seeds=seeds)
        self.niche_radius = radius_in_genes(config.niche_radius, self.genome_length) if self.latent else 0.0
        if self.niche_radius:
            self.toolbox.register("rank", clearing_ranking, radius=self.niche_radius, capacity=config.niche_capacity)
        if self.engine == "reference":
            block_mutate = self.toolbox.mutate
            use_reference_operators(self.toolbox, rng, sigma=config.sigma, indpb=config.indpb,
                                    selection=config.selection, truncation=truncation, tournsize=config.tournsize)
            if config.mutation != "reset":  # blob and face-space moves: the fast engine's operator, child by child
                self.toolbox.register("mutate", per_individual(block_mutate))
            for name in ("select", "mate", "mutate"):
                if toolbox is not None and hasattr(toolbox, name):
                    self.toolbox.register(name, getattr(toolbox, name))
            print(reference_notice(), file=sys.stderr)
        hall_of_fame = _hall_of_fame(config.top_k, self.niche_radius)
        if resume:
            population = as_individuals(ckpt["genes"].numpy().copy(), ckpt["fitness"].numpy())
            hall_of_fame.update(as_individuals(ckpt["hof_genes"].numpy().copy(), ckpt["hof_fitness"].numpy()))
            elites_first = ckpt["elites_first"]
        else:
            elites_first = True
            if config.init_from:
                population = as_individuals(self._initial_genes_from(config.init_from))
            else:
                population = self.toolbox.population(config.mu, self.genome_length)
            evaluate_invalid(population, self.toolbox)
            hall_of_fame.update(population)
        if self.engine == "reference":
            ga = ReferenceGA(population, self.toolbox, config.q, config.cxpb, elites_first)
        elif self.engine == "tensor":
            ga = TensorGA(population, self.toolbox, config.q, self.scorer.device, elites_first)
        else:
            ga = QElitistGA(population, self.toolbox, config.q, elites_first)
        self.evolution = Evolution(ga, hall_of_fame, generation, rng, seeds)
        if not resume:
            with self.run.begin().failing():
                self.run.write_config(config)
                if self.target is not None:
                    keep_target(self.run.path, self.target)

    def pixel_mutation(self, seeds: SeedStream, on_tensors: bool = False):
        """The pixel genome's block mutation (a block of genes, changed in place), drawing from ``seeds``;
        ``on_tensors``: the tensor engine's, on a block on the device (reset or face-space, as the config checks)."""
        config, side = self.config, self.config.genome_size or self.size
        if config.mutation == "face-space":
            if side != self.face_space.config.size:
                raise InputError(f"--mutation face-space (the default) moves the full {self.face_space.config.size}px "
                                 f"image; with --genome-size {side} use --mutation blob or --mutation reset")
            return partial(mut_face_space_tensor if on_tensors else mut_face_space_block, basis=self.face_basis,
                           step=config.face_step, pull=config.face_pull, indpb=config.indpb, seeds=seeds)
        if config.mutation == "blob":
            return partial(mut_blobs_and_reset_block, side=side, blobs=config.blobs,
                           radius=(config.blob_min_radius, config.blob_max_radius), indpb=config.indpb, seeds=seeds)
        return partial(reset_genes_tensor if on_tensors else mut_uniform_reset_block, indpb=config.indpb, seeds=seeds)

    def _initial_genes_from(self, run_dir: str) -> np.ndarray:
        """Another run's final population, best first, resized to this run's genome (coarse-to-fine)."""
        ckpt = load_checkpoint(Path(run_dir) / "checkpoints" / "last.pt", KIND)
        if self.latent:
            self.latent.check_genes(ckpt, f"--init-from {run_dir}")
        elif ckpt.get("genome", "pixel") != "pixel":
            raise InputError(f"--init-from {run_dir} evolved latent codes; a pixel run starts from a pixel run")
        order = np.argsort(-ckpt["fitness"].numpy(), kind="stable")
        genes = ckpt["genes"].numpy()[order]
        genes = genes[np.arange(self.config.mu) % len(genes)]  # repeat the best when mu is larger
        if self.latent:
            return np.ascontiguousarray(genes)
        images = render(genes, self.scorer.genome_size)
        return np.ascontiguousarray(images.reshape(len(images), -1))

    def _sync_hall_of_fame(self) -> tools.HallOfFame:
        """Bring the hall of fame up to date from the population's best top_k (all of it, with niching) and return it."""
        population = self.evolution.population
        self.evolution.hall_of_fame.update(population if self.niche_radius
                                           else tools.selBest(population, self.config.top_k))
        return self.evolution.hall_of_fame

    def images(self, genes: np.ndarray) -> np.ndarray:
        """(n, L) genes as the fitness model sees them: (n, size, size, 3) uint8 (decoded, for a latent genome)."""
        return self.latent.images(genes) if self.latent else render(genes, self.size)

    def image(self, individual: np.ndarray) -> np.ndarray:
        """The individual as the fitness model sees it: (size, size, 3) uint8."""
        return self.images(np.asarray(individual)[None])[0]

    def _snapshot(self) -> None:
        best = self._sync_hall_of_fame()[0]
        save_png(image_grid(self.image(best)[None], scale=4, pad=0),  # every snapshot_every generations: fast
                 self.run.samples / f"best_{self.evolution.generation:07d}.png", compress_level=1)

    def _detector_column(self, row: dict[str, Any]) -> None:
        from neural.face_detector import detect_faces

        # a judge only (dlib's CNN detector): it never feeds the fitness or the selection
        row["best_face_detected"] = bool(detect_faces(self.image(self._sync_hall_of_fame()[0])[None], "cnn")[0])

    def state(self, started: float) -> dict[str, Any]:
        """The checkpoint dict of the run now (``started``: when this process began evolving)."""
        self._sync_hall_of_fame()
        genome = self.latent.checkpoint_fields() if self.latent else {"genome": "pixel"}
        return {**self.evolution.checkpoint(self.config, self.elapsed + time.perf_counter() - started, self.size),
                **genome}

    def _save(self, started: float) -> None:
        save_atomic(self.state(started), self.last_checkpoint)

    def advance(self, started: float, start_generation: int) -> dict[str, Any]:
        """One generation: the GA step, the hall of fame, and the generation's metrics row."""
        config, evolution = self.config, self.evolution
        evolution.ga.step()
        if config.q < config.top_k or self.niche_radius:  # otherwise elitism keeps the best top_k: sync when read
            self._sync_hall_of_fame()
        evolution.generation += 1
        row = metrics_row(evolution.ga, evolution.generation, started, start_generation)
        if config.detector_every and evolution.generation % config.detector_every == 0:
            self._detector_column(row)
        return row

    def _should_stop(self, started: float) -> str | None:
        config, evolution = self.config, self.evolution
        if config.generations is not None and evolution.generation >= config.generations:
            return f"reached {plural(config.generations, 'generation')}"
        if config.time_limit is not None and self.elapsed + time.perf_counter() - started >= config.time_limit:
            return f"time limit of {config.time_limit:g}s reached"
        if config.target_fitness is not None and evolution.ga.fitness.max() >= config.target_fitness:
            return f"target fitness {config.target_fitness:g} reached"
        return None

    def run_until_stop(self) -> dict[str, Any]:
        config, evolution = self.config, self.evolution
        started = time.perf_counter()
        start_generation = evolution.generation
        rows: list[dict[str, Any]] = []
        if evolution.generation == 0:
            self._snapshot()
        engine = f", tensor engine on {self.scorer.device}" if self.engine == "tensor" else ""
        bar = tqdm(total=config.generations, initial=evolution.generation,
                   desc=f"evolve ({self.scorer.precision}{engine})",
                   unit="gen", disable=None)
        reason = None
        with StopRequest() as stop, large_blocks_on_heap(self.keep_blocks_on_heap):
            while True:
                reason = self._should_stop(started) or ("interrupted" if stop else None)
                if reason:
                    break
                row = self.advance(started, start_generation)
                rows.append(row)
                bar.update(1)
                if evolution.generation % 20 == 0:
                    bar.set_postfix(best=f"{row['max']:.4f}", mean=f"{row['mean']:.3f}")
                if evolution.generation % config.snapshot_every == 0:
                    self._snapshot()
                if evolution.generation % config.checkpoint_every == 0:
                    self.run.append_metrics(rows)
                    rows = []
                    self._save(started)
        bar.close()
        self.run.append_metrics(rows)
        self._save(started)
        self._snapshot()
        return {"reason": reason, **self.write_outputs()}

    def write_outputs(self) -> dict[str, Any]:
        """Final grid of the hall of fame, fitness curve, timelapse GIF; returns a summary."""
        evolution = self.evolution
        top = self.images(np.stack(self._sync_hall_of_fame()))
        grid = save_png(image_grid(top, scale=3), self.run.path / "top_grid.png")
        rows = self.run.read_metrics()
        plot_series(rows, "generation", ["max", "mean", "min"], self.run.plots / "fitness.png",
                    "evolve: faceness of the population", "faceness")
        gif = write_timelapse(sorted(self.run.samples.glob("best_*.png")), self.run.path / "timelapse.gif")
        best = evolution.hall_of_fame[0].fitness.values[0]
        return {"generation": evolution.generation, "best_fitness": best, "grid": str(grid), "gif": str(gif),
                "run": str(self.run.path), "precision": self.scorer.precision, "precision_note": self.precision_note,
                "engine": self.engine}


def resolved_engine(config: EvolveConfig, device: torch.device) -> str:
    """The engine a run uses: ``auto`` is the tensor engine on a GPU, for the pixel genome and a mutation it runs
    (``TENSOR_MUTATIONS``), and the fast engine elsewhere (on a CPU the fast engine's compiled operators are faster)."""
    if config.engine != "auto":
        return config.engine
    on_tensors = config.genome == "pixel" and config.mutation in TENSOR_MUTATIONS
    return "tensor" if torch.device(device).type != "cpu" and on_tensors else "fast"


def evolve(config: EvolveConfig, resume: bool = False, toolbox: base.Toolbox | None = None) -> dict[str, Any]:
    """Start or resume an evolve run; returns why it stopped and where its outputs are.

    ``toolbox``: a DEAP toolbox with your own ``select``, ``mate`` and/or ``mutate`` (DEAP signatures, e.g.
    ``tools.cxTwoPoint``); the ones it lacks are the method's. It runs on the reference engine (``config.engine``
    becomes "reference"); pass the same toolbox again to resume. ``config.islands`` > 1 runs the island model on
    Ray (``evoface.islands``).
    """
    if config.islands > 1:
        from evoface.islands import evolve_islands  # Ray: imported only for islands

        return evolve_islands(config, resume)
    run = EvolveRun(config, resume, toolbox)
    with run.run.held():  # a start that fails before its first checkpoint leaves no folder behind
        return run.run_until_stop()


def resume_config(run_dir: str | Path, **overrides: Any) -> EvolveConfig:
    """The stored config of the evolve run in ``run_dir`` with the non-None overrides applied, as ``evolve --resume``
    builds it (stopping rules given now replace all stored ones; see evoface.core.configs)."""
    return run_config(EvolveConfig, {k: v for k, v in overrides.items() if v is not None}, run_dir)[0]
