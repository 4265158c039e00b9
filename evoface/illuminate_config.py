"""``IlluminateConfig``: every parameter of an ``evoface illuminate`` run. Its fitness options are evolve's (the same
fields, ranges and meanings: ``evoface.evolve_config``), and ``scoring_config`` hands them to evolve's build step."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any

from evoface.core.configs import RunConfig, bounded, seed_field
from evoface.core.errors import InputError
from evoface.decoders import default_decoder
from evoface.evolve_config import GENOMES, MAX_COUNT, EvolveConfig
from evoface.qd.emitters import EMITTERS
from evoface.qd.measures import parse_names, parse_ranges

KIND = "illuminate"
STOPPING_RULES = ("iterations", "evaluations", "time_limit")
MAX_CELLS = 10_000  # the map draws every cell's face: 10,000 is a 100 x 100 mosaic
# what a field left unset means, by genome: faceness capped (an elite that passes as a face counts as one, so the map
# rewards distinct faces over super-stimuli), the face-space prior for pixels, and the emitter that measured best
# (bench/README.md, "Quality-diversity maps"); CMA-ME needs a covariance of the genome, out of reach for 12,288 pixels
GENOME_DEFAULTS = {"pixel": {"prior": "face-space", "faceness_cap": 0.98, "emitters": "ga"},
                   "latent": {"prior": "none", "faceness_cap": 0.98, "emitters": "cma-me"}}
_EVOLVE_FIELDS = {f.name: f for f in dataclasses.fields(EvolveConfig)}
# the fields handed to evolve's build step (``scoring_config``)
SCORING_FIELDS = ("fitness", "ensemble", "ensemble_rule", "size", "faceness_cap", "prior", "prior_model",
                  "prior_weight", "target", "target_space", "target_weight", "genome", "decoder", "sigma", "indpb",
                  "face_step", "face_pull", "latent_sigma", "latent_indpb", "device", "precision", "kernels", "seed")


def _as_in_evolve(name: str) -> Any:
    """A field declared as EvolveConfig's ``name`` is: the same default, range and choices."""
    source = _EVOLVE_FIELDS[name]
    return dataclasses.field(default=source.default, default_factory=source.default_factory,
                             metadata=source.metadata)


def parse_cells(text: str, count: int | None = None) -> list[int]:
    """'10x10' -> [10, 10]; InputError for a bad shape, a side below 1 or more than ``MAX_CELLS`` cells."""
    match = re.fullmatch(r"\s*\d+(\s*x\s*\d+)*\s*", text)
    if not match:
        raise InputError(f"--cells takes sides like 10x10 (one per measure), got {text!r}")
    dims = [int(side) for side in text.split("x")]
    if min(dims) < 1:
        raise InputError(f"--cells {text}: every side needs at least 1 cell")
    total = 1
    for side in dims:
        total *= side
    if total > MAX_CELLS:
        raise InputError(f"--cells {text} is {total} cells; at most {MAX_CELLS}")
    if count is not None and len(dims) != count:
        raise InputError(f"--cells {text} has {len(dims)} sides for {count} measures (one side per measure)")
    return dims


@dataclass
class IlluminateConfig(RunConfig):
    """Every parameter of one ``evoface illuminate`` run. Typing any stopping rule drops the default one."""

    kind = KIND
    command = "illuminate"
    resume_changeable = (*STOPPING_RULES, "checkpoint_every", "snapshot_every", "device", "precision", "kernels")
    given_together = STOPPING_RULES

    out: str
    genome: str = bounded("latent", choices=GENOMES)  # latent: a decoder's code; pixel: the uint8 image
    decoder: str | None = _as_in_evolve("decoder")
    # the map's axes (``evoface.qd.measures``), their ranges (None: real faces' 1st-99th percentiles, then stored) and
    # its cells per axis
    measures: str = "face-space:0,face-space:1"
    ranges: str | None = None
    cells: str = "10x10"
    emitters: str | None = bounded(None, choices=EMITTERS)  # None: the genome's default (``GENOME_DEFAULTS``)
    emitter_count: int = bounded(4, 1, 256)
    batch: int = bounded(32, 2, 100_000)  # genomes each emitter asks for per iteration
    iterations: int | None = bounded(None, 1, MAX_COUNT)  # ask/tell rounds in total (a stopping rule)
    evaluations: int | None = bounded(20_000, 1, 10**12)  # genomes scored in total (a stopping rule)
    time_limit: float | None = bounded(None, 0.0, 1e8, low_open=True)  # seconds in total, across resumes
    checkpoint_every: int = bounded(100, 1, MAX_COUNT)  # iterations
    snapshot_every: int = bounded(25, 1, MAX_COUNT)  # iterations between redraws of map.png (the studio shows it)
    fitness: str | None = _as_in_evolve("fitness")
    ensemble: list[str] = field(default_factory=list)
    ensemble_rule: str = _as_in_evolve("ensemble_rule")
    size: int | None = _as_in_evolve("size")
    faceness_cap: float | None = _as_in_evolve("faceness_cap")
    prior: str | None = _as_in_evolve("prior")
    prior_model: str | None = _as_in_evolve("prior_model")
    prior_weight: float = _as_in_evolve("prior_weight")
    target: str | None = _as_in_evolve("target")
    target_space: str = _as_in_evolve("target_space")
    target_weight: float = _as_in_evolve("target_weight")
    sigma: float = _as_in_evolve("sigma")  # GA emitters: the crossover's cut spread
    indpb: float = _as_in_evolve("indpb")  # pixel GA: per-gene resets
    face_step: float = _as_in_evolve("face_step")  # pixel GA: face-space mutation
    face_pull: float = _as_in_evolve("face_pull")
    latent_sigma: float = _as_in_evolve("latent_sigma")  # latent: CMA-ME's first step, the GA's mutation std
    latent_indpb: float = _as_in_evolve("latent_indpb")
    device: str = "auto"
    precision: str = _as_in_evolve("precision")
    kernels: str = _as_in_evolve("kernels")
    seed: int = seed_field()

    def validate(self) -> None:
        super().validate()
        for name, value in GENOME_DEFAULTS[self.genome].items():
            if getattr(self, name) is None:  # stored so: a resumed run keeps what it started with
                setattr(self, name, value)
        names = parse_names(self.measures)
        parse_cells(self.cells, len(names))
        if self.ranges is not None:
            parse_ranges(self.ranges, len(names))
        if self.iterations is None and self.evaluations is None and self.time_limit is None:
            raise InputError("give a stopping rule: --iterations, --evaluations or --time-limit")
        if self.genome == "pixel":
            if self.decoder is not None:
                raise InputError("--decoder needs --genome latent")
            if self.emitters == "cma-me":
                raise InputError("--emitters cma-me runs on the latent genome: its covariance over a pixel genome "
                                 "(12,288 numbers at 64 px) is out of reach; use --emitters ga")
        elif self.decoder is None:
            self.decoder = default_decoder()  # stored, so that a resumed run keeps its decoder
        if self.emitters == "cma-me" and self.latent_sigma == 0:
            raise InputError("--latent-sigma is CMA-ME's first step size: it must be above 0")

    @property
    def measure_names(self) -> list[str]:
        return parse_names(self.measures)

    @property
    def dims(self) -> list[int]:
        return parse_cells(self.cells)

    def scoring_config(self) -> EvolveConfig:
        """The evolve config whose build step (``evoface.evolve_build``) makes this run's scorer and operators."""
        # the pixel maps were measured with the random-walk move and the linear distance, without typicality
        # (bench/README.md, 12)
        return EvolveConfig(out=self.out, **{name: getattr(self, name) for name in SCORING_FIELDS},
                            mutation="face-space", face_moves="walk", prior_projection="linear", typicality_weight=0.0,
                            generations=1)
