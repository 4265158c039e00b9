"""The build step of an evolve run: ``EvolveConfig`` (and, to resume, a checkpoint dict) -> an ``Evolution``: the
scorer, the toolbox, the GA engine, the hall of fame and the random sources, ready for ``evoface.evolve_loop``.

It touches no run folder: a single run (``evoface.evolve``) and each island (``evoface.island_actor``) build the same
way, an island from the state its driver hands it in memory. The checkpoint schema of an evolve run is declared here,
beside ``Evolution.state`` that writes it.
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from deap import base, tools

from evoface.core import rng as rng_state
from evoface.core.checkpoints import load_checkpoint
from evoface.core.errors import InputError
from evoface.core.rundir import last_checkpoint
from evoface.evolve_config import KIND, TENSOR_MUTATIONS, EvolveConfig
from evoface.ga.blob_mutation import mut_blobs_and_reset_block
from evoface.ga.despeckle import polisher
from evoface.ga.engine import QElitistGA, evaluate_invalid, population_arrays
from evoface.ga.face_space_mutation import FaceBasis, mut_face_space_block, prior_shrink
from evoface.ga.latent_toolbox import build_latent_toolbox
from evoface.ga.niching import NicheHallOfFame, clearing_ranking, radius_in_genes
from evoface.ga.operators import mut_uniform_reset_block
from evoface.ga.reference import ReferenceGA, per_individual, reference_notice, use_reference_operators
from evoface.ga.seed_stream import SeedStream
from evoface.ga.tensor_engine import TensorGA
from evoface.ga.tensor_operators import cx_normal_point_tensor, mut_face_space_tensor, reset_genes_tensor
from evoface.ga.toolbox import as_individuals, build_toolbox
from evoface.kernels import choice
from evoface.latent_genome import LatentGenome
from evoface.rendering import render
from evoface.scoring import BatchScorer, fuse_for_inference
from evoface.target import as_chw, read_target
from neural.devices import resolve_device
from neural.face_space import FaceRealism, load_face_space
from neural.faceness_store import load_faceness
from neural.precision import resolve_precision
from neural.target_likeness import target_likeness

PROBE_SEED = 0  # the precision probe's mutation draws from a stream of its own, not the run's

# The checkpoint of an evolve run (checkpoints/last.pt), written by ``Evolution.state``: "kind", "generation",
# "image_size", "genes" (mu, L) and "fitness" (mu,) of the current generation, "hof_genes" and "hof_fitness" of the
# hall of fame, "rng" (the numpy generator's state), "seed_stream" (the operators' seeds), "elites_first" (which
# window of the engine's buffer holds the generation), "elapsed" (seconds of evolution so far), "config" (the
# EvolveConfig as a dict), "genome" ("pixel" or "latent") and, for a latent run, "decoder" (its summary). An island
# run's checkpoint adds "islands" (``evoface.island_state``). Older formats are upgraded by
# ``evoface.core.checkpoint_formats``.
STATE_KEYS = ("generation", "image_size", "genes", "fitness", "hof_genes", "hof_fitness", "rng", "seed_stream",
              "elites_first", "elapsed", "config", "genome")


@dataclass
class Scoring:
    """What scores an evolve run's genomes: the scorer, the face space it and the mutation use, the target image,
    and what "auto" chose."""

    scorer: BatchScorer
    face_space: Any
    target: np.ndarray | None
    precision_note: str | None


@dataclass
class Evolution:
    """A built run: its config, scorer and toolbox, the GA engine (population, fitness, operators), the hall of fame,
    the generation, the random sources (numpy generator and the operators' seed stream), the latent genome where
    there is one, and the seconds evolved before this process."""

    config: EvolveConfig
    scoring: Scoring
    toolbox: base.Toolbox
    ga: QElitistGA | ReferenceGA | TensorGA
    hall_of_fame: tools.HallOfFame
    generation: int
    rng: np.random.Generator
    seeds: SeedStream
    latent: LatentGenome | None
    engine: str
    niche_radius: float
    elapsed: float = 0.0

    @property
    def scorer(self) -> BatchScorer:
        return self.scoring.scorer

    @property
    def size(self) -> int:
        return self.scorer.size

    @property
    def population(self) -> list:
        return self.ga.population

    @property
    def kernels(self) -> str:
        """What the kernels switch chose for this run, in words."""
        return choice.describe(self.scorer.device.type, self.scorer.precision, decoder=self.latent is not None)

    def sync_hall_of_fame(self) -> tools.HallOfFame:
        """Bring the hall of fame up to date from the population's best top_k (all of it, with niching); return it."""
        population = self.population
        if self.niche_radius:
            self.hall_of_fame.update(population, self.ga.descriptors)
        else:
            self.hall_of_fame.update(tools.selBest(population, self.config.top_k))
        return self.hall_of_fame

    def images(self, genes: np.ndarray) -> np.ndarray:
        """(n, L) genes as the fitness model sees them: (n, size, size, 3) uint8 (decoded, for a latent genome)."""
        return self.latent.images(genes) if self.latent else render(genes, self.size)

    def image(self, individual: np.ndarray) -> np.ndarray:
        """The individual as the fitness model sees it: (size, size, 3) uint8."""
        return self.images(np.asarray(individual)[None])[0]

    def state(self, elapsed: float) -> dict[str, Any]:
        """The checkpoint dict of the run now (schema: ``STATE_KEYS``); ``elapsed``: seconds of evolution in all."""
        hof_genes, hof_fitness = population_arrays(list(self.sync_hall_of_fame()))
        genome = self.latent.checkpoint_fields() if self.latent else {"genome": "pixel"}
        return {"kind": KIND, "generation": self.generation, "image_size": self.size,
                "genes": torch.from_numpy(self.ga.genes.copy()), "fitness": torch.from_numpy(self.ga.fitness.copy()),
                "hof_genes": torch.from_numpy(hof_genes), "hof_fitness": torch.from_numpy(hof_fitness),
                "rng": rng_state.capture(self.rng), "seed_stream": self.seeds.state,
                "elites_first": self.ga.elites_first, "elapsed": elapsed, "config": dataclasses.asdict(self.config),
                **genome}


def resolved_engine(config: EvolveConfig, device: torch.device) -> str:
    """The engine a run uses: ``auto`` is the tensor engine on a GPU, for the pixel genome and a mutation it runs
    (``TENSOR_MUTATIONS``), and the fast engine elsewhere (on a CPU the fast engine's compiled operators are faster)."""
    if config.engine != "auto":
        return config.engine
    on_tensors = config.genome == "pixel" and config.mutation in TENSOR_MUTATIONS
    return "tensor" if torch.device(device).type != "cpu" and on_tensors else "fast"


def pixel_mutation(config: EvolveConfig, basis: FaceBasis | None, side: int, face_side: int | None,
                   seeds: SeedStream, on_tensors: bool = False):
    """The pixel genome's block mutation (a block of genes, changed in place), drawing from ``seeds``; ``side``: the
    genome's side, ``face_side``: the face space's; ``on_tensors``: the tensor engine's, on a block on the device."""
    if config.mutation == "face-space":
        if side != face_side:
            raise InputError(f"--mutation face-space (the default) moves the full {face_side}px image; with "
                             f"--genome-size {side} use --mutation blob or --mutation reset")
        return partial(mut_face_space_tensor if on_tensors else mut_face_space_block, basis=basis,
                       step=config.face_step, pull=config.face_pull, indpb=config.indpb, seeds=seeds,
                       shrink=prior_shrink(config.face_step) if config.face_moves == "pcn" else 0.0)
    if config.mutation == "blob":
        return partial(mut_blobs_and_reset_block, side=side, blobs=config.blobs,
                       radius=(config.blob_min_radius, config.blob_max_radius), indpb=config.indpb, seeds=seeds)
    return partial(reset_genes_tensor if on_tensors else mut_uniform_reset_block, indpb=config.indpb, seeds=seeds)


def _run_mutation(config: EvolveConfig, face_space, size: int, seeds: SeedStream, on_tensors: bool = False):
    """``pixel_mutation`` for this run's genome and face space."""
    basis = FaceBasis.of(face_space) if config.mutation == "face-space" else None
    face_side = face_space.config.size if face_space is not None else None
    return pixel_mutation(config, basis, config.genome_size or size, face_side, seeds, on_tensors)


def build_scoring(config: EvolveConfig, target_path: str | Path | None = None) -> Scoring:
    """Load the models, the face space and the target (read from ``target_path``, the run's stored copy, where given,
    else from ``config.target``) and build the scorer at the run's precision."""
    model = load_faceness(config.fitness)
    size = model.config.size
    if config.size is not None and config.size != size:
        raise InputError(f"--size {config.size} does not match the fitness model, which scores {size}px images")
    models = [model] + [load_faceness(path) for path in config.ensemble]
    pixel_needs = config.genome == "pixel" and (config.mutation == "face-space" or bool(config.niche_radius))
    needs_face_space = (config.prior == "face-space" or pixel_needs
                        or (config.target is not None and config.target_space == "face-space"))
    face_space = load_face_space(config.prior_model) if needs_face_space else None
    target = None if config.target is None else read_target(target_path or config.target, size)
    likeness = None
    if target is not None:  # the faceness space runs its own fused copy of the net's convolutions
        faceness = fuse_for_inference(model) if config.target_space == "faceness" else None
        likeness = target_likeness(config.target_space, as_chw(target), face_space, faceness)
    # "auto" precision is tried on copies of a genome that the run's own mutation has changed once
    probe_mutation = (_run_mutation(config, face_space, size, SeedStream(PROBE_SEED))
                      if config.genome == "pixel" else None)
    prior = None
    if config.prior == "face-space" and (config.prior_weight or config.typicality_weight):
        prior = FaceRealism(face_space, clipped=config.prior_projection == "clipped",
                            distance_weight=config.prior_weight, typicality_weight=config.typicality_weight)
    scorer = BatchScorer(models, resolve_device(config.device), config.genome_size, config.tv_weight,
                         config.blur_sigma, ensemble_rule=config.ensemble_rule, precision=config.precision,
                         prior=prior, prior_weight=1.0,
                         target=likeness, target_weight=config.target_weight,
                         faceness_cap=config.faceness_cap if config.faceness_cap < 1 else None,
                         probe_mutation=probe_mutation)
    note = None  # what "auto" chose where it had a choice
    if config.precision == "auto" and resolve_precision("auto", scorer.device) != "fp32":
        ranks = "ranks" if scorer.precision != "fp32" else "did not rank"
        probe = "children of this run's mutation" if probe_mutation else "copies of a genome with 0.1% resets"
        note = f"precision auto: {scorer.precision} (bf16 {ranks} {probe} as fp32 does)"
    return Scoring(scorer, face_space, target, note)


def _toolbox(config: EvolveConfig, scoring: Scoring, latent: LatentGenome | None, engine: str,
             rng: np.random.Generator, seeds: SeedStream, user_toolbox: base.Toolbox | None) -> base.Toolbox:
    """The run's DEAP toolbox: the method's operators for its genome and engine, the user's where given."""
    truncation = config.truncation or max(config.q, 2)
    scorer = scoring.scorer
    if latent:
        toolbox = build_latent_toolbox(
            latent.scoring(scorer), rng, seeds, crossover=config.crossover, sigma=config.sigma, cxpb=config.cxpb,
            latent_indpb=config.latent_indpb, latent_sigma=config.latent_sigma, foreign=config.foreign,
            selection=config.selection, truncation=truncation, tournsize=config.tournsize,
            sphere=config.latent_norm == "sphere")
    else:
        toolbox = build_toolbox(scorer, rng, seeds, sigma=config.sigma, cxpb=config.cxpb, indpb=config.indpb,
                                selection=config.selection, truncation=truncation, tournsize=config.tournsize)
        toolbox.register("mutate", _run_mutation(config, scoring.face_space, scorer.size, seeds,
                                                 on_tensors=engine == "tensor"))
        if engine == "tensor":  # the same draws from the same seeds, on tensors on the scorer's device
            toolbox.register("mate", cx_normal_point_tensor, sigma=config.sigma, cxpb=config.cxpb, seeds=seeds)
    if engine == "reference":
        block_mutate = toolbox.mutate
        use_reference_operators(toolbox, rng, sigma=config.sigma, indpb=config.indpb, selection=config.selection,
                                truncation=truncation, tournsize=config.tournsize)
        if config.mutation != "reset":  # blob and face-space moves: the fast engine's operator, child by child
            toolbox.register("mutate", per_individual(block_mutate))
        for name in ("select", "mate", "mutate"):
            if user_toolbox is not None and hasattr(user_toolbox, name):
                toolbox.register(name, getattr(user_toolbox, name))
        print(reference_notice(), file=sys.stderr)
    return toolbox


def _hall_of_fame(size: int, niche_radius: float, describe=None, polish=None) -> tools.HallOfFame:
    """The run's top ``size``; with niching, the best of distinct niches (polished as they enter, where given)."""
    return (NicheHallOfFame(size, niche_radius, describe, polish) if niche_radius
            else tools.HallOfFame(size, similar=np.array_equal))


def niching(config: EvolveConfig, face_space, length: int):
    """(radius, describe) of the run's niching by clearing: latent codes are compared gene for gene (describe None),
    pixel images by their coordinates in ``face_space`` (in real faces' stds), both with ``--niche-radius`` a share
    of the distance between two random codes or faces; (0.0, None) without niching."""
    if not config.niche_radius:
        return 0.0, None
    if config.genome == "latent":
        return radius_in_genes(config.niche_radius, length), None
    basis = FaceBasis.of(face_space)
    if basis.mean.shape[0] != length:
        raise InputError(f"--niche-radius compares faces in the {face_space.config.size}px face space; this "
                         f"run's genome is {config.genome_size}px (use --niche-radius 0 with --genome-size)")
    return radius_in_genes(config.niche_radius, basis.components.shape[1]), basis.coordinates


def _initial_genes_from(run_dir: str, config: EvolveConfig, latent: LatentGenome | None, genome_size: int) -> np.ndarray:
    """Another run's final population, best first, resized to this run's genome (coarse-to-fine)."""
    ckpt = load_checkpoint(last_checkpoint(run_dir), KIND)
    if latent:
        latent.check_genes(ckpt, f"--init-from {run_dir}")
    elif ckpt.get("genome", "pixel") != "pixel":
        raise InputError(f"--init-from {run_dir} evolved latent codes; a pixel run starts from a pixel run")
    order = np.argsort(-ckpt["fitness"].numpy(), kind="stable")
    genes = ckpt["genes"].numpy()[order]
    genes = genes[np.arange(config.mu) % len(genes)]  # repeat the best when mu is larger
    if latent:
        return np.ascontiguousarray(genes)
    images = render(genes, genome_size)
    return np.ascontiguousarray(images.reshape(len(images), -1))


def _engine(engine: str, population: list, toolbox: base.Toolbox, config: EvolveConfig, device: torch.device,
            elites_first: bool):
    if engine == "reference":
        return ReferenceGA(population, toolbox, config.q, config.cxpb, elites_first)
    if engine == "tensor":
        return TensorGA(population, toolbox, config.q, device, elites_first)
    return QElitistGA(population, toolbox, config.q, elites_first)


def build_evolution(config: EvolveConfig, state: dict[str, Any] | None = None, toolbox: base.Toolbox | None = None,
                    target_path: str | Path | None = None) -> Evolution:
    """An ``Evolution`` of ``config`` (validated), fresh from its seed or, with ``state`` (a checkpoint dict, see
    ``STATE_KEYS``), exactly where that state was. ``toolbox``: the user's DEAP operators (reference engine);
    ``target_path``: the run's stored target, read instead of ``config.target``."""
    config.validate()
    scoring = build_scoring(config, target_path)
    scorer = scoring.scorer
    engine = resolved_engine(config, scorer.device)
    if config.genome == "latent" and config.decoder is None:
        config.decoder = config.decoder_source  # stored, so that a resumed run keeps its decoder
    latent = LatentGenome(config.decoder_source, scorer.size, scorer.device) if config.genome == "latent" else None
    length = latent.length if latent else scorer.genome_length
    if state is not None:
        rng, generation = np.random.default_rng(), state["generation"]
        rng_state.restore(state["rng"], rng)
        seeds = SeedStream(state["seed_stream"])
        if latent:
            latent.check_genes(state, "the run")
        elif state["genes"].shape[1] != length:
            raise InputError(f"the run's genomes do not match its {scorer.size}px fitness model")
        if state["genes"].shape[0] != config.mu:
            raise InputError(f"the run's checkpoint holds {state['genes'].shape[0]} individuals, its config --mu "
                             f"{config.mu}")
    else:
        rng, generation = rng_state.seed_everything(config.seed), 0
        seeds = SeedStream.from_generator(rng)
    box = _toolbox(config, scoring, latent, engine, rng, seeds, toolbox)
    niche_radius, describe = niching(config, scoring.face_space, length)
    if niche_radius:
        box.register("rank", clearing_ranking, radius=niche_radius, capacity=config.niche_capacity)
        if describe is not None:
            box.register("describe", describe)
    # pixel niching compares the full-size image (``niching``): its hall of fame loses the resets' stray dots
    polish = polisher(scorer, scorer.size) if describe is not None else None
    hall_of_fame = _hall_of_fame(config.top_k, niche_radius, describe, polish)
    if state is not None:
        population = as_individuals(state["genes"].numpy().copy(), state["fitness"].numpy())
        members = as_individuals(state["hof_genes"].numpy().copy(), state["hof_fitness"].numpy())
        if isinstance(hall_of_fame, NicheHallOfFame):
            hall_of_fame.restore(members)
        else:
            hall_of_fame.update(members)
        elites_first = state["elites_first"]
    else:
        elites_first = True
        if config.init_from:
            population = as_individuals(_initial_genes_from(config.init_from, config, latent, scorer.genome_size))
        else:
            population = box.population(config.mu, length)
        evaluate_invalid(population, box)
        hall_of_fame.update(population)
    ga = _engine(engine, population, box, config, scorer.device, elites_first)
    return Evolution(config, scoring, box, ga, hall_of_fame, generation, rng, seeds, latent, engine, niche_radius,
                     elapsed=state["elapsed"] if state is not None else 0.0)

