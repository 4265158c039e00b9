"""``EvolveConfig``: every parameter of an ``evoface evolve`` run, its ranges and its checks across fields."""

from __future__ import annotations

from dataclasses import dataclass, field

from evoface.core.configs import RunConfig, bounded, seed_field
from evoface.core.errors import InputError
from evoface.decoders import default_decoder
from evoface.ga.latent_toolbox import LATENT_CROSSOVERS, LATENT_NORMS
from evoface.ga.toolbox import SELECTIONS
from evoface.kernels.switch import MODES as KERNEL_MODES
from neural.precision import PRECISIONS
from neural.target_likeness import TARGET_SPACES

KIND = "evolve"
STOPPING_RULES = ("generations", "time_limit", "target_fitness")
MAX_POPULATION = 100_000  # at 128 px, 4.9 GB of genes
MAX_COUNT = 10**9         # generations, and every "every K generations"
GENOMES = ("pixel", "latent")
PRIORS = ("none", "face-space")
# the face-space prior's distance: to the projection clipped to [0, 1] (``neural.face_space.FaceRealism``),
# or to the plain linear projection (the distance before 2026-12-07)
PRIOR_PROJECTIONS = ("clipped", "linear")
PIXEL_MUTATIONS = ("reset", "blob", "face-space")
# face-space moves: pcn (each move shrinks the coordinates so that they keep real faces' Gaussian), walk (a random
# walk of the coordinates, the move before 2026-12-07)
FACE_MOVES = ("pcn", "walk")
# fast: QElitistGA and its numba operators; tensor: the same on torch tensors on --device (``evoface.ga.tensor_engine``:
# on a GPU the whole generation runs there); auto: tensor on a GPU where it runs, else fast; reference: the spec
ENGINES = ("auto", "fast", "tensor", "reference")
TENSOR_MUTATIONS = ("reset", "face-space")
# what a field left unset means, by genome. The latent genome's decoder is its realism prior; its faceness is capped
# (satisficing) and its elites niched, so that it picks distinct faces instead of pushing one to a super-stimulus
GENOME_DEFAULTS = {"pixel": {"prior": "face-space", "faceness_cap": 0.98, "niche_radius": 0.3},
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
                         "niche_capacity", "mutation", "face_step", "face_pull", "face_moves",
                         "blobs", "blob_min_radius", "blob_max_radius", "ray_address", "kernels")
    given_together = STOPPING_RULES
    absent_in_older_runs = {"faceness_cap": 1.0, "niche_radius": 0.0, "niche_capacity": 1, "latent_norm": "free",
                            "kernels": "auto", "face_moves": "walk", "prior_projection": "linear",
                            "typicality_weight": 0.0}

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
    generations: int | None = bounded(1000, 1, MAX_COUNT)  # total generations (a stopping rule)
    # seconds of evolution in total, across resumes (a stopping rule)
    time_limit: float | None = bounded(None, 0.0, 1e8, low_open=True)
    target_fitness: float | None = bounded(None, high=1.0)  # stop once the best reaches this (a stopping rule)
    checkpoint_every: int = bounded(500, 1, MAX_COUNT)
    snapshot_every: int = bounded(100, 1, MAX_COUNT)
    # run the independent face detector on the best image every N generations (0 = off): a judge, never a fitness
    detector_every: int = bounded(0, 0, MAX_COUNT)
    top_k: int = bounded(16, 1, 10_000)
    # evolve G x G genomes, shown and scored upsampled; None = the model's size
    genome_size: int | None = bounded(None, 4, 128)
    tv_weight: float = bounded(0.0, 0.0, 1e6)  # fitness = faceness - tv_weight * total variation
    blur_sigma: float = bounded(0.0, 0.0, 64.0)  # score a Gaussian-blurred copy (pixels)
    # satisficing: faceness above this counts as this, so selection stops pushing it (1 = no cap; None: the genome's
    # default, ``GENOME_DEFAULTS``, as for the other fields left None here)
    faceness_cap: float | None = bounded(None, 0.0, 1.0, low_open=True)
    prior: str | None = bounded(None, choices=PRIORS)  # realism prior subtracted from the faceness (see ``prior_weight``)
    prior_model: str | None = None      # a train-prior run or checkpoint; None = the shipped face space
    prior_weight: float = bounded(2.0, 0.0, 1e6)  # fitness = faceness - this * distance from face space
    prior_projection: str = bounded("clipped", choices=PRIOR_PROJECTIONS)  # see PRIOR_PROJECTIONS
    # fitness -= this x the face-space mixture's NLL of the coordinates above real faces' median
    # (``neural.face_mixture``)
    typicality_weight: float = bounded(0.0, 0.0, 1e6)
    target: str | None = None  # an image: fitness also rewards likeness to this face (``neural.target_likeness``)
    target_space: str = bounded("face-space", choices=TARGET_SPACES)  # where likeness to the target is measured
    target_weight: float = bounded(0.1, 0.0, 1e6)  # fitness -= this * distance from the target
    # pixel genome: per-gene resets; blobs + resets; or face-space moves + resets (``evoface.ga.face_space_mutation``)
    mutation: str = bounded("face-space", choices=PIXEL_MUTATIONS)
    face_step: float = bounded(0.3, 0.0, 100.0)  # face-space mutation: move std, in real faces' std per component
    face_pull: float = bounded(0.1, 0.0, 1.0)  # face-space mutation: share of the way to face space per generation
    face_moves: str = bounded("pcn", choices=FACE_MOVES)  # face-space mutation: see FACE_MOVES
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
    kernels: str = bounded("auto", choices=KERNEL_MODES)  # the fast paths (``evoface.kernels``): auto or plain
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
                # pixel niching compares faces in the full-size face space, in the fast or tensor engine's ranking:
                # a smaller genome and the reference engine (DEAP's plain loop) run without it
                aside = name == "niche_radius" and (self.genome_size is not None or self.engine == "reference")
                setattr(self, name, 0.0 if aside else value)
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
            if self.face_moves == "pcn" and self.face_step > 1:
                raise InputError(f"--face-moves pcn (the default) needs --face-step <= 1 (a share of real faces' "
                                 f"std), got {self.face_step:g}; a larger step needs --face-moves walk")
            if self.decoder is not None:
                raise InputError("--decoder needs --genome latent")
            if self.niche_radius and self.genome_size is not None:
                raise InputError("--niche-radius compares pixel images in face space, at the fitness model's size: "
                                 "leave --genome-size out, or set --niche-radius 0")
            if self.niche_radius and self.engine == "reference":
                raise InputError("--niche-radius ranks in the fast and tensor engines; the reference engine is DEAP's "
                                 "plain loop (set --niche-radius 0)")
            return
        if self.genome_size is not None:
            raise InputError("--genome-size applies to the pixel genome; a latent genome is the decoder's code")
        if self.engine not in ("auto", "fast"):
            raise InputError("the latent genome runs on the fast engine only (--engine fast or auto)")
        if not 0 <= self.foreign <= self.mu - self.q:
            raise InputError(f"--foreign must be in [0, mu - q] = [0, {self.mu - self.q}], got {self.foreign}")

    @property
    def decoder_source(self) -> str:
        return self.decoder or default_decoder()
