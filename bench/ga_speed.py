"""GA speed: generations/s of the real evolve loop at 64, 100 and 128 px (mu=100, q=20), the share of each generation
spent outside the CNN forward pass, the same loop with the CPU's default chunks against one forward pass per
generation, what the default snapshot and checkpoint cadence adds, and the numba mutation kernel against a plain numpy
version of the operator; then, taking turns in the same process, the original study's GA loop (rebuilt in
``bench/original_loop.py``) against evoface's default loop at 64 and 100 px, and the fitness forward's GFLOP/s against
this machine's measured fp32 and bf16 matmul peak. Only ratios from one run compare; absolute figures hold for the
machine printed first.

Run: python bench/ga_speed.py [--generations 1000] [--repeats 3] [--device cpu]
     python bench/ga_speed.py --copies      # crossover and elitism kernels: their plain copy loop against memcpy
     python bench/ga_speed.py --allocator   # the 64 px loop with glibc's thresholds fixed (the default) and not
     python bench/ga_speed.py --products    # the face space's products: MKL, oneDNN, and the int8 product
     python bench/ga_speed.py --engines --device cuda  # the default loop on the tensor engine and the fast one
     python bench/ga_speed.py --goal 100000 --device cuda  # a default evolve run, start to end, timed
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from evoface.core import onednn  # noqa: E402
from evoface.core.allocator import large_blocks_on_heap  # noqa: E402
from evoface.evolve import EvolveConfig, EvolveRun, evolve, metrics_row  # noqa: E402
from evoface.ga.operators import (_keep_elites, _normal_cuts, _write_children, mut_uniform_reset_block,  # noqa: E402
                                   mut_uniform_reset_numpy)
from evoface.ga.seed_stream import SeedStream  # noqa: E402
from neural.faceness import FacenessConfig, FacenessNet  # noqa: E402
from neural.faceness_store import save_faceness  # noqa: E402

WARMUP_GENERATIONS = 20
OFFSPRING = 80  # mu - q


class TimedScorer:
    """Wraps a scorer and records when each call starts and how long it takes."""

    def __init__(self, scorer):
        self.scorer, self.starts, self.seconds = scorer, [], []

    def __getattr__(self, name):
        return getattr(self.scorer, name)

    def __call__(self, genes):
        start = time.perf_counter()
        try:
            return self.scorer(genes)
        finally:
            self.starts.append(start)
            self.seconds.append(time.perf_counter() - start)

    def generation_figures(self) -> tuple[float, float, float]:
        """(generations/s, share of time outside the forward pass, microseconds per generation outside it), from the
        start of the first call to the start of the last: whole generations, none of a run's start or end."""
        generations, span = len(self.starts) - 1, self.starts[-1] - self.starts[0]
        inside = sum(self.seconds[:-1])
        return generations / span, 1.0 - inside / span, (span - inside) / generations * 1e6


def warm_run(size: int, device: str, workdir: Path, batch_size: int | None = None, precision: str = "auto",
             shipped: bool = False, heap_blocks: bool = True, options: dict | None = None,
             width: int = FacenessConfig.width) -> tuple[EvolveRun, TimedScorer]:
    """An EvolveRun of an untrained faceness net at ``size`` px and first-block ``width`` (mu=100, q=20;
    ``shipped``: the shipped 64 px model), warmed up, its scorer timed; one forward pass per ``batch_size`` images
    (None: the default chunks), the models at ``precision``; glibc's thresholds fixed in the loop unless not
    ``heap_blocks``; ``options``: more evolve options (default: the pixel GA's original fitness and mutation, which
    every size has; the default realism prior and face-space mutation ship for 64 px only)."""
    workdir.mkdir(parents=True, exist_ok=True)
    model_path = workdir / f"faceness{size}-{width}.pt"
    save_faceness(FacenessNet(FacenessConfig(size=size, width=width)).eval(), model_path)
    options = dict(ORIGINAL if options is None else options)
    name = "-".join(f"{k}={v}" for k, v in options.items())
    use_onednn = options.pop("onednn", True)
    config = EvolveConfig(out=str(workdir / f"run{size}-{width}-{batch_size}-{precision}-{shipped}-{name}"),
                          fitness=None if shipped else str(model_path), generations=WARMUP_GENERATIONS,
                          checkpoint_every=10**9, snapshot_every=10**9, device=device, seed=0, precision=precision,
                          **options)
    run = EvolveRun(config, resume=False)
    run.scorer.batch_size = batch_size
    run.keep_blocks_on_heap = heap_blocks  # False: glibc's own thresholds (--allocator)
    if not use_onednn:  # plain torch: MKL's sgemm, the LeakyReLU a pass of its own, no int8 or packed kernels
        run.run_until_stop = onednn.plain()(run.run_until_stop)
    run.run_until_stop()  # first calls load numba's cached kernels and warm torch up: not timed
    timed = TimedScorer(run.toolbox.evaluate)
    run.toolbox.register("evaluate", timed)
    run.write_outputs = lambda: {}  # the end-of-run grid, plot and GIF are not part of a generation
    return run, timed


def time_generations(run: EvolveRun, timed: TimedScorer, generations: int) -> tuple[float, float, float]:
    """``TimedScorer.generation_figures`` of ``generations`` more generations of the real loop."""
    timed.starts, timed.seconds = [], []
    run.config.generations = run.evolution.generation + generations
    run.run_until_stop()
    return timed.generation_figures()


def median_of(calls) -> float:
    """Median seconds of calling each of a list of zero-argument functions."""
    durations = []
    for call in calls:
        start = time.perf_counter()
        call()
        durations.append(time.perf_counter() - start)
    return float(np.median(durations))


def time_periodic_outputs(run: EvolveRun, repeats: int) -> float:
    """Microseconds per generation that the default cadence adds: a best-image snapshot every ``snapshot_every``
    generations, and every ``checkpoint_every`` the metric rows written and a checkpoint saved."""
    defaults = EvolveConfig(out="")
    row = metrics_row(run.evolution.ga, run.evolution.generation, time.perf_counter(), 0)
    rows = [row] * defaults.checkpoint_every
    snapshot = median_of([run._snapshot] * repeats)
    checkpoint = median_of([lambda: (run.run.append_metrics(rows), run._save(time.perf_counter()))] * repeats)
    return (snapshot / defaults.snapshot_every + checkpoint / defaults.checkpoint_every) * 1e6


def summary(figures: list[tuple[float, float, float]]) -> tuple[float, float, float, str]:
    """Medians of (generations/s, share outside, microseconds outside) and their range, as text."""
    rates, shares, outside = (np.array(column) for column in zip(*figures))
    spread = (f"median of {len(rates)}; range {rates.min():.1f}-{rates.max():.1f} gen/s, "
              f"{shares.min():.1%}-{shares.max():.1%} outside")
    return float(np.median(rates)), float(np.median(shares)), float(np.median(outside)), spread


def time_mutation(length: int, indpb: float, repeats: int) -> tuple[float, float]:
    rng, seeds = np.random.default_rng(0), SeedStream(0)
    block = rng.integers(0, 256, (80, length), dtype=np.uint8)
    mut_uniform_reset_block(block, indpb, seeds)  # compile
    result = []
    for operator, source in ((mut_uniform_reset_block, seeds), (mut_uniform_reset_numpy, rng)):
        start = time.perf_counter()
        for _ in range(repeats):
            operator(block, indpb, source)
        result.append((time.perf_counter() - start) / repeats * 1e6)
    return result[0], result[1]


ORIGINAL = {"prior": "none", "mutation": "reset"}  # the method's own fitness (faceness) and per-gene mutation
# evoface's loops timed against the original study's: the default (at 64 px, the shipped faceness model, realism
# prior and face-space mutation), the same at --precision fp32 (the default is fp32 or bf16, by CPU), with the fast
# kernels off (``evoface.core.onednn.plain()``: plain torch and MKL, no oneDNN graph, int8 product or packed bf16
# convolutions), and at --precision bf16, and the previous default (faceness and per-gene resets only);
# at 100 px (no shipped prior) the previous default and bf16. fp32-compiled was measured no faster (README).
SIDE_BY_SIDE = {64: {"default": {}, "default --precision fp32": {"precision": "fp32"},
                     "default, fast kernels off": {"onednn": False},
                     "--prior none --mutation reset": ORIGINAL, "default --precision bf16": {"precision": "bf16"}},
                100: {"--prior none --mutation reset": ORIGINAL, "--prior none --mutation reset --precision bf16":
                      {**ORIGINAL, "precision": "bf16"}}}


def cpu_model() -> str:
    """The CPU's model name as ``lscpu`` gives it."""
    cpuinfo = Path("/proc/cpuinfo")
    lines = cpuinfo.read_text().splitlines() if cpuinfo.exists() else []
    return next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), "unknown")


def synchronize(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def rate_of(step, count: int, device: str) -> float:
    """Calls per second of ``count`` calls of ``step``."""
    synchronize(device)
    start = time.perf_counter()
    for _ in range(count):
        step()
    synchronize(device)
    return count / (time.perf_counter() - start)


def take_turns(measures: dict, repeats: int) -> dict:
    """``repeats`` figures of each zero-argument measure, all taking turns (forward, then backward, order)."""
    figures = {name: [] for name in measures}
    for turn in range(repeats):
        for name in measures if turn % 2 == 0 else reversed(list(measures)):
            figures[name].append(measures[name]())
    return figures


def median_range(values) -> str:
    values = np.asarray(values)
    return f"{np.median(values):.1f} ({values.min():.1f}-{values.max():.1f})"


def compare_with_original(device: str, workdir: Path, generations: int, repeats: int) -> None:
    """The original study's loop (``bench/original_loop.py``) against evoface's default evolve loop and the same loop
    at each other ``--precision``, at 64 and 100 px, taking turns in this process; prints medians, ranges and the
    ratio of each turn's pair. At 64 px evoface runs the shipped model, at 100 px an untrained net of its shape."""
    from bench.original_loop import OriginalLoop

    print(f"\n== side by side with the original study's GA loop (population 100, 25 parents, its classifier, images "
          f"normalised one by one), {repeats} turns each, alternating; evoface {generations} generations a turn; "
          f"gen/s and ratio to the original: median (range)")
    for size in (64, 100):
        loop = OriginalLoop(size, device)
        loop.step()  # warm-up
        start = time.perf_counter()
        runs = {name: warm_run(size, device, workdir, precision=options.get("precision", "auto"), shipped=size == 64,
                               options={k: v for k, v in options.items() if k != "precision"})
                for name, options in SIDE_BY_SIDE[size].items()}
        print(f"{size} px: warm-up of the evoface runs {time.perf_counter() - start:.0f} s")
        original_generations = max(3, generations // 60)  # about as long a turn as evoface's
        rates = take_turns({"original": lambda: rate_of(loop.step, original_generations, device),
                            **{name: lambda r=run: time_generations(*r, generations)[0] for name, run in runs.items()}},
                           repeats)
        original = np.array(rates["original"])
        print(f"{size:>5} original {median_range(original)} gen/s")
        for name, (run, _) in runs.items():
            print(f"{size:>5} evoface {name} (runs {run.scorer.precision}): {median_range(rates[name])} gen/s, "
                  f"{1000 / np.median(rates[name]):.1f} ms/gen, {median_range(np.array(rates[name]) / original)}x "
                  f"the original")
        if "default" in runs:
            print_default_parts(*runs["default"], generations, repeats, float(np.median(original)))


class Stopwatch:
    """Wraps a callable and adds up the seconds spent in it."""

    def __init__(self, call):
        self.call, self.seconds = call, 0.0

    def __call__(self, *args):
        start = time.perf_counter()
        try:
            return self.call(*args)
        finally:
            self.seconds += time.perf_counter() - start


def time_default_parts(run: EvolveRun, timed: TimedScorer, generations: int) -> dict[str, float]:
    """Milliseconds per generation of the real default loop in: the faceness forward, the realism prior (inside the
    scorer), the face-space mutation, and the rest (crossover, selection, elitism, metrics)."""
    prior, mutation = Stopwatch(run.scorer.prior), Stopwatch(run.toolbox.mutate)
    original_prior, original_mutate = run.scorer.prior, run.toolbox.mutate
    run.scorer.prior = prior
    run.toolbox.register("mutate", mutation)
    try:
        rate, _, _ = time_generations(run, timed, generations)
    finally:
        run.scorer.prior = original_prior
        run.toolbox.register("mutate", original_mutate)
    per_generation = 1000 / generations
    total, inside = 1000 / rate, sum(timed.seconds[:-1]) * per_generation
    parts = {"faceness forward": inside - prior.seconds * per_generation,
             "realism prior": prior.seconds * per_generation, "face-space mutation": mutation.seconds * per_generation}
    parts["the rest"] = total - sum(parts.values())
    return {"generation": total, **parts}


def print_default_parts(run: EvolveRun, timed: TimedScorer, generations: int, repeats: int,
                        original_rate: float) -> None:
    """Where the default's generation goes (medians of ``repeats`` timed stretches), and what 25x the original loop
    would leave for it."""
    turns = [time_default_parts(run, timed, generations) for _ in range(repeats)]
    medians = {name: float(np.median([t[name] for t in turns])) for name in turns[0]}
    print(f"   64 the default's generation, ms (median of {repeats} stretches of {generations}): "
          + ", ".join(f"{name} {value:.2f}" for name, value in medians.items())
          + f"; 25x the original loop's {original_rate:.1f} gen/s leaves {1000 / (25 * original_rate):.2f} ms, "
          f"and all but the forward takes {medians['generation'] - medians['faceness forward']:.2f}")


def matmul_peak(device: str, dtype, side: int = 2048, calls: int = 8, through_onednn: bool = False) -> float:
    """GFLOP/s of a side x side matmul in ``dtype`` on ``device``: the measured peak to hold the forward pass to.
    An fp32 product on a CPU runs MKL's sgemm, or oneDNN's (``evoface.core.onednn``) when ``through_onednn``."""
    import torch

    a, b = (torch.randn(side, side, device=device).to(dtype) for _ in range(2))
    product = (lambda: onednn.matmul(a, b)) if through_onednn else (lambda: a @ b)
    product()
    return rate_of(product, calls, device) * 2 * side**3 / 1e9


def print_side_by_side(device: str, generations: int, repeats: int) -> None:
    """The machine, then ``compare_with_original`` and ``forward_against_peak``."""
    import torch

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {device}, CPU {cpu_model()}")
    with tempfile.TemporaryDirectory() as tmp:
        compare_with_original(device, Path(tmp), generations, repeats)
    forward_against_peak(device, repeats)
    if device == "cpu":
        print_products(repeats)


# the forwards timed: name -> (--precision, oneDNN's kernels on)
FORWARDS = {"fp32": ("fp32", True), "fp32 (oneDNN kernels off)": ("fp32", False),
            "fp32-compiled": ("fp32-compiled", True), "bf16": ("bf16", True)}


def forward_against_peak(device: str, repeats: int) -> None:
    """GFLOP/s of the fitness forward (the shipped model scoring one default CPU chunk of offspring through
    ``BatchScorer`` at each of ``FORWARDS``) against the measured fp32 (MKL's and oneDNN's) and bf16 matmul peak,
    taking turns; then the fp32 forward layer by layer."""
    import torch

    from evoface.scoring import BatchScorer, chunk_size
    from neural.faceness import flops
    from neural.faceness_store import load_faceness

    model = load_faceness(None)
    size = model.config.size
    count = chunk_size(OFFSPRING, torch.device(device), size)
    genes = np.random.default_rng(0).integers(0, 256, (count, size * size * 3), dtype=np.uint8)
    work = flops(model, size) * count / 1e9
    measures = {}
    for name, (precision, fast) in FORWARDS.items():
        scorer = BatchScorer(model, torch.device(device), precision=precision)
        scorer(genes)
        score = (lambda s=scorer: s(genes)) if fast else onednn.plain()(lambda s=scorer: s(genes))
        measures[f"forward {name}"] = lambda f=score: rate_of(f, 50, device) * work
    products = {"fp32 (MKL)": (torch.float32, False), "fp32 (oneDNN)": (torch.float32, True),
                "bf16": (torch.bfloat16, False)}
    for name, (dtype, through_onednn) in products.items():
        measures[f"matmul {name}"] = lambda d=dtype, o=through_onednn: matmul_peak(device, d, through_onednn=o)
    with large_blocks_on_heap():  # as in the evolve loop: multi-MB activations not mmap'd afresh on every call
        figures = take_turns(measures, repeats)
    print(f"\n== the fitness forward against this machine's measured peak ({count} images of {size} px a call, "
          f"{flops(model, size) / 1e6:.1f} MFLOP each; 2048^2 matmul; GFLOP/s, median (range) of {repeats})")
    for name in products:
        print(f"matmul {name}: {median_range(figures[f'matmul {name}'])}")
    peaks = {"fp32": np.median(figures["matmul fp32 (oneDNN)"]), "bf16": np.median(figures["matmul bf16"])}
    for precision in FORWARDS:
        forward = np.median(figures[f"forward {precision}"])
        print(f"forward {precision}: {median_range(figures[f'forward {precision}'])}: {forward / peaks['fp32']:.0%} "
              f"of the fp32 matmul peak, {forward / peaks['bf16']:.0%} of the bf16 one")
    print_forward_layers(device, model, count, repeats, peaks["fp32"])
    print_forward_widths(device, count, repeats)


def print_forward_widths(device: str, count: int, repeats: int, widths: tuple[int, ...] = (16, 12, 8)) -> None:
    """Milliseconds of the scorer's fp32 graph forward on one chunk, for faceness nets of each first-block width
    (untrained; 16 is the shipped one's), taking turns: what a slimmer net would save."""
    import torch

    from evoface.scoring import fuse_for_inference
    from neural.faceness import flops

    nets = {width: onednn.Graphed(fuse_for_inference(FacenessNet(FacenessConfig(width=width)).eval())
                                  .to(device, memory_format=torch.channels_last)) for width in widths}
    genes = torch.randint(0, 256, (count, 64, 64, 3), dtype=torch.uint8, device=device).permute(0, 3, 1, 2)
    with torch.inference_mode(), large_blocks_on_heap():
        for net in nets.values():
            net(genes)
        times = take_turns({width: lambda n=net: 1000 / rate_of(lambda: n(genes), 200, device)
                            for width, net in nets.items()}, repeats)
    print(f"\n== the fp32 graph forward by the faceness net's width ({count} images of 64 px; ms, median of {repeats})")
    for width in widths:
        ms = float(np.median(times[width]))
        print(f"width {width}: {flops(nets[width].module, 64) / 1e6:.1f} MFLOP per image, {ms:.3f} ms "
              f"({min(times[width]):.3f}-{max(times[width]):.3f}), {np.median(times[widths[0]]) / ms:.2f}x width "
              f"{widths[0]}")


def print_forward_layers(device: str, model, count: int, repeats: int, fp32_peak: float) -> None:
    """Milliseconds of each step of the eager fp32 forward (the scorer's fused model) on one chunk of ``count`` noise
    images, each step timed on the previous step's output, and of the whole forward eager and as the scorer's
    oneDNN graph, taking turns; GFLOP/s of each convolution."""
    import torch

    from evoface.scoring import fuse_for_inference
    from neural.faceness import flops

    fused = fuse_for_inference(model).to(device, memory_format=torch.channels_last)
    graphed = onednn.Graphed(fused)
    size = model.config.size
    genes = torch.randint(0, 256, (count, size, size, 3), dtype=torch.uint8, device=device).permute(0, 3, 1, 2)
    steps = [("uint8 to float", FacenessNet.scaled_input)]
    steps += [(f"{type(layer).__name__} {i // 2 + 1}", layer) for i, layer in enumerate(fused.features)]
    steps += [("head", lambda x: torch.sigmoid(fused.head(x)).squeeze(1))]
    wholes = [("whole forward, eager", onednn.plain()(lambda x: graphed(x))), ("whole forward, graph", graphed)]
    inputs, outputs, x = [], [], genes
    with torch.inference_mode():
        for _, step in steps:
            inputs.append(x)
            x = step(x)
            outputs.append(x.shape)
        timed = zip(steps + wholes, inputs + [genes] * len(wholes))
        with large_blocks_on_heap():
            times = take_turns({name: lambda f=step, x=x: 1000 / rate_of(lambda: f(x), 200, device)
                                for (name, step), x in timed}, repeats)
    median = {name: float(np.median(values)) for name, values in times.items()}
    total = sum(median[name] for name, _ in steps)
    print(f"\n== the fp32 forward step by step ({count} images; ms, median of {repeats}; each step on the previous "
          f"one's output)")
    for (name, step), x, out in zip(steps, inputs, outputs):
        line = f"{name}: {median[name]:.3f} ms ({median[name] / total:.0%})"
        if isinstance(step, torch.nn.Conv2d):
            rate = 2 * step.weight[0].numel() * out.numel() / median[name] / 1e6
            line += f", {tuple(x.shape[1:])} -> {tuple(out[1:])}, {rate:.0f} GFLOP/s ({rate / fp32_peak:.0%})"
        print(line)
    work = flops(model, size) * count / 1e6
    print(f"sum of the steps {total:.3f} ms ({work / total:.0f} GFLOP/s)")
    for name, _ in wholes:
        print(f"{name}: {median[name]:.3f} ms ({work / median[name]:.0f} GFLOP/s, "
              f"{work / median[name] / fp32_peak:.0%} of the fp32 peak)")


def print_products(repeats: int, calls: int = 200) -> None:
    """The realism prior's and the face-space mutation's products with the shipped face space, every kernel taking
    turns: uint8 genes x components through MKL's fp32 product, oneDNN's, and the exact int8 one
    (``evoface.core.uint8_products``, where this CPU has AMX int8 tiles), and the mutation's move (coefficients x
    components^T) through MKL and oneDNN."""
    import torch

    from evoface.core.cpu import cpu_has_int8_tiles
    from evoface.core.uint8_products import Uint8Product
    from neural.face_space import load_face_space

    components = load_face_space().components
    product, transposed = Uint8Product(components), components.T.contiguous()
    print(f"\n== the face space's products, {components.shape[0]} x {components.shape[1]}; ms a call, median (range) "
          f"of {repeats} turns of {calls} calls; int8 tiles: {cpu_has_int8_tiles()}")
    for rows in (40, 80):
        genes = torch.randint(0, 256, (rows, components.shape[0]), dtype=torch.uint8)
        floats, coefficients = genes.float(), torch.randn(rows, components.shape[1])
        kernels = {"genes x components, MKL fp32": lambda: floats @ components,
                   "genes x components, oneDNN fp32": lambda: torch.ops.mkldnn._linear_pointwise(
                       floats, transposed, None, "none", [], ""),
                   "genes x components, int8 (from uint8)": lambda: product(genes),
                   "move, MKL fp32": lambda: coefficients @ transposed,
                   "move, oneDNN fp32": lambda: torch.ops.mkldnn._linear_pointwise(
                       coefficients, components, None, "none", [], "")}
        with torch.inference_mode(), large_blocks_on_heap():
            rates = take_turns({name: lambda k=kernel: rate_of(k, calls, "cpu") for name, kernel in kernels.items()},
                               repeats)
        for name, values in rates.items():
            ms = 1000 / np.array(values)
            print(f"{rows:>4} rows, {name}: {np.median(ms):.3f} ({ms.min():.3f}-{ms.max():.3f}) ms")


def _memcpy_intrinsic():
    """The C library's memcpy as a numba intrinsic built from numba internals (``cgutils.raw_memcpy``): how the kernels
    copied until this release, kept here to measure against their plain loop."""
    from numba.core import cgutils, types
    from numba.extending import intrinsic

    @intrinsic
    def memcpy(typingctx, dst, src, count):
        def codegen(context, builder, signature, args):
            dst_array = context.make_array(signature.args[0])(context, builder, args[0])
            src_array = context.make_array(signature.args[1])(context, builder, args[1])
            cgutils.raw_memcpy(builder, dst_array.data, src_array.data, args[2], 1)
            return context.get_dummy_value()
        return types.void(dst, src, count), codegen
    return memcpy


def with_memcpy(kernel):
    """``kernel`` compiled again with its row copies (``_copy_bytes``) done by memcpy, after the same bounds check."""
    import types

    import numba

    memcpy = _memcpy_intrinsic()

    @numba.njit(inline="always")
    def copy_bytes(dst, src, count):
        if count < 0 or count > dst.shape[0] or count > src.shape[0]:
            raise IndexError("a byte copy runs past the end of a row")
        memcpy(dst, src, count)

    function = kernel.py_func
    return numba.njit(types.FunctionType(function.__code__, {**function.__globals__, "_copy_bytes": copy_bytes},
                                         function.__name__, function.__defaults__, function.__closure__))


def time_copy_kernels(size: int, repeats: int) -> dict[str, tuple[float, float]]:
    """Median microseconds of the crossover kernel (80 children) and of elitism (mu=100, q=20, every elite a newcomer)
    with the kernels' plain copy loop and with memcpy, each call after a 16 MB write has evicted the caches (as the
    forward pass does)."""
    length, rng = size * size * 3, np.random.default_rng(0)
    source, out = rng.integers(0, 256, (100, length), dtype=np.uint8), np.empty((OFFSPRING, length), np.uint8)
    rows, cuts = rng.integers(0, 100, OFFSPRING), _normal_cuts(OFFSPRING // 2, length, 0.5, 1.0, 1)
    fitness = rng.random(100)
    fitness[80:] = -1.0  # the elite zone [80, 100) holds the worst rows: all 20 elites are copied in
    flush = np.empty(16_000_000, np.uint8)
    result = {}
    for name, cross, elites in (("memcpy", with_memcpy(_write_children), with_memcpy(_keep_elites)),
                                ("plain loop", _write_children, _keep_elites)):
        times = {"crossover": [], "elitism": []}
        for _ in range(repeats):
            flush[:] = 1
            start = time.perf_counter()
            cross(source, rows, cuts, out)
            times["crossover"].append(time.perf_counter() - start)
            genes, values = source.copy(), fitness.copy()
            flush[:] = 2
            start = time.perf_counter()
            elites(genes, values, 20, 80)
            times["elitism"].append(time.perf_counter() - start)
        result[name] = tuple(float(np.median(times[kind])) * 1e6 for kind in ("crossover", "elitism"))
    return result


def print_copy_kernels(repeats: int) -> None:
    print("== crossover (80 children) and elitism (20 newcomers) kernels, caches evicted before each call: "
          f"median microseconds of {repeats}; speed-up: memcpy over the kernels' plain loop")
    print(f"{'size':>5} {'crossover memcpy':>17} {'plain':>8} {'speed-up':>9} {'elitism memcpy':>15} {'plain':>8} "
          f"{'speed-up':>9}")
    for size in (64, 100, 128):
        times = time_copy_kernels(size, repeats)
        (cross, elite), (cross_plain, elite_plain) = times["memcpy"], times["plain loop"]
        print(f"{size:>5} {cross:17.1f} {cross_plain:8.1f} {cross_plain / cross:8.1f}x {elite:15.1f} "
              f"{elite_plain:8.1f} {elite_plain / elite:8.1f}x")


def loop_rate(heap_blocks: bool, generations: int) -> float:
    """generations/s of the 64 px loop (shipped model) in this process, one measurement after the warm-up."""
    with tempfile.TemporaryDirectory() as tmp:
        run, timed = warm_run(64, "cpu", Path(tmp), shipped=True, heap_blocks=heap_blocks)
        return time_generations(run, timed, generations)[0]


def print_allocator(generations: int, repeats: int) -> None:
    """The 64 px loop with glibc's thresholds fixed and with glibc's own, each in a fresh process (the setting is
    process-wide), taking turns."""
    rates = {"on": [], "off": []}
    for repeat in range(repeats):
        for mode in ("on", "off") if repeat % 2 == 0 else ("off", "on"):
            output = subprocess.run([sys.executable, __file__, "--loop-rate", mode, "--generations", str(generations)],
                                    check=True, capture_output=True, text=True).stdout
            rates[mode].append(json.loads(output.strip().splitlines()[-1])["rate"])
    on, off = float(np.median(rates["on"])), float(np.median(rates["off"]))
    print(f"== 64 px loop (shipped model), {generations} generations per process, {repeats} processes each, "
          f"taking turns")
    print(f"thresholds fixed (the default): {on:.1f} gen/s {[round(r, 1) for r in rates['on']]}; glibc's own: "
          f"{off:.1f} gen/s {[round(r, 1) for r in rates['off']]}; ratio {on / off:.2f}x")


def print_engines(device: str, generations: int, repeats: int) -> None:
    """The default 64 px loop (shipped models) on the tensor engine (the GA on ``device``) and on the fast one (the GA
    on the host, the scorer on ``device``), taking turns: gen/s and the per-turn ratio."""
    import torch

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {device}, CPU {cpu_model()}")
    with tempfile.TemporaryDirectory() as tmp:
        runs = {engine: warm_run(64, device, Path(tmp), shipped=True, options={"engine": engine})
                for engine in ("tensor", "fast")}
        rates = take_turns({engine: lambda r=run: time_generations(*r, generations)[0] for engine, run in runs.items()},
                           repeats)
    print(f"\n== the default loop at 64 px, {repeats} turns of {generations} generations, gen/s: median (range)")
    for engine, (run, _) in runs.items():
        print(f"{engine:>7} engine ({run.scorer.precision}): {median_range(rates[engine])} gen/s, "
              f"{1000 / np.median(rates[engine]):.2f} ms/gen")
    ratios = np.array(rates["tensor"]) / np.array(rates["fast"])
    print(f"tensor / fast: {np.median(ratios):.2f}x ({ratios.min():.2f}-{ratios.max():.2f}x)")


def print_loop_widths(device: str, generations: int, repeats: int, widths: tuple[int, ...] = (16, 8)) -> None:
    """The default 64 px loop (face-space prior and mutation) with untrained faceness nets of each first-block width
    (16: the shipped one's), bf16 where the CPU has AMX's tiles (an untrained net's scores all but tie, so "auto"'s
    probe would fall back to fp32), taking turns: where a generation goes, and what a slimmer net would save."""
    import torch

    from neural.precision import resolve_precision

    precision = resolve_precision("auto", torch.device(device))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {device}, CPU {cpu_model()}")
    with tempfile.TemporaryDirectory() as tmp:
        runs = {width: warm_run(64, device, Path(tmp), precision=precision, options={}, width=width)
                for width in widths}
        turns = take_turns({width: lambda r=run: time_default_parts(*r, generations) for width, run in runs.items()},
                           repeats)
    print(f"\n== the default loop at 64 px by the faceness net's width ({precision}; ms a generation, median of "
          f"{repeats} turns of {generations})")
    first = np.array([turn["generation"] for turn in turns[widths[0]]])
    for width in widths:
        medians = {name: float(np.median([turn[name] for turn in turns[width]])) for name in turns[width][0]}
        ratios = first / np.array([turn["generation"] for turn in turns[width]])
        print(f"width {width:>2}: " + ", ".join(f"{name} {value:.2f}" for name, value in medians.items())
              + f"; generations/s {np.median(ratios):.2f}x width {widths[0]} ({ratios.min():.2f}-{ratios.max():.2f}x)")


def print_goal(device: str, generations: int) -> None:
    """A default ``evolve`` run of ``generations`` on ``device`` (engine auto), timed from start to end: loading,
    the precision probe, the snapshot and checkpoint cadence and the final outputs included."""
    import torch

    print(f"torch {torch.__version__}, device {device}, CPU {cpu_model()}")
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        summary = evolve(EvolveConfig(out=f"{tmp}/run", generations=generations, device=device, seed=0))
        seconds = time.perf_counter() - start
    print(f"== a default evolve run of {generations:,} generations on {device} ({summary['engine']} engine, "
          f"{summary['precision']}): {seconds:.1f} s, {generations / seconds:.1f} gen/s, best fitness "
          f"{summary['best_fitness']:.4f}; 100,000 generations at this rate: {100_000 / (generations / seconds) / 60:.1f}"
          f" min (the goal: under 4)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generations", type=int, default=1000, help="timed generations per measurement")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=3,
                        help="measurements per size and batching, all taking turns (timings here drift between runs)")
    parser.add_argument("--side-by-side", action="store_true",
                        help="only the original study's loop against evoface's, and the forward against the peak")
    parser.add_argument("--copies", action="store_true", help="only the kernels' plain copy loop against memcpy")
    parser.add_argument("--allocator", action="store_true", help="only the loop with and without fixed thresholds")
    parser.add_argument("--products", action="store_true", help="only the face space's products, kernel by kernel")
    parser.add_argument("--engines", action="store_true", help="only the default loop on the tensor and fast engines")
    parser.add_argument("--widths", action="store_true",
                        help="only the default loop with faceness nets of width 16 and 8, in turns")
    parser.add_argument("--goal", type=int, metavar="GENERATIONS",
                        help="only a default evolve run of this many generations on --device, timed end to end")
    parser.add_argument("--loop-rate", choices=("on", "off"), help=argparse.SUPPRESS)  # one --allocator process
    args = parser.parse_args()
    if args.loop_rate:
        print(json.dumps({"rate": loop_rate(args.loop_rate == "on", args.generations)}))
        return
    if args.copies:
        print_copy_kernels(repeats=200)
        return
    if args.products:
        print_products(max(args.repeats, 5))
        return
    if args.allocator:
        print_allocator(args.generations, max(args.repeats, 3))
        return
    if args.engines:
        print_engines(args.device, args.generations, args.repeats)
        return
    if args.goal:
        print_goal(args.device, args.goal)
        return
    if args.widths:
        print_loop_widths(args.device, args.generations, args.repeats)
        return
    if args.side_by_side:
        print_side_by_side(args.device, args.generations, args.repeats)
        return
    import torch

    from evoface.scoring import chunk_size

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {args.device}, CPU {cpu_model()}")
    sizes, modes = (64, 100, 128), ("chunks", "one batch")
    results = {(size, mode): [] for size in sizes for mode in modes}
    periodic = {}
    with tempfile.TemporaryDirectory() as tmp:
        runs = {(size, mode): warm_run(size, args.device, Path(tmp), OFFSPRING if mode == "one batch" else None)
                for size in sizes for mode in modes}
        for repeat in range(args.repeats):
            for key in runs if repeat % 2 == 0 else reversed(list(runs)):
                results[key].append(time_generations(*runs[key], args.generations))
        for size in sizes:
            periodic[size] = time_periodic_outputs(runs[size, "chunks"][0], repeats=10)

    print(f"\n== evolve loop, mu=100, q=20, {args.generations} generations each, {args.repeats} times, "
          f"offspring scored in the default chunks")
    print(f"{'size':>5} {'gen/s':>8} {'outside CNN':>12} {'us/gen outside':>15}")
    for size in sizes:
        rate, share, outside, spread = summary(results[size, "chunks"])
        print(f"{size:>5} {rate:8.1f} {share:11.1%} {outside:15.0f}   {spread}")
    print(f"\n== the same loop, offspring in the default chunks vs one forward pass of all {OFFSPRING} (medians)")
    print(f"{'size':>5} {'images/chunk':>13} {'gen/s chunks':>13} {'gen/s one':>10} {'speed-up':>9} "
          f"{'outside chunks':>15} {'outside one':>12}")
    for size in sizes:
        chunked, whole = summary(results[size, "chunks"]), summary(results[size, "one batch"])
        chunk = chunk_size(OFFSPRING, torch.device(args.device), size)
        print(f"{size:>5} {chunk:13d} {chunked[0]:13.1f} {whole[0]:10.1f} {chunked[0] / whole[0]:8.2f}x "
              f"{chunked[1]:14.1%} {whole[1]:11.1%}")
    defaults = EvolveConfig(out="")
    print(f"\n== what the default cadence adds (a snapshot every {defaults.snapshot_every} generations, metrics and a "
          f"checkpoint every {defaults.checkpoint_every})")
    print(f"{'size':>5} {'us/gen':>8} {'of a generation':>16}")
    for size in sizes:
        generation_us = 1e6 / summary(results[size, "chunks"])[0]
        print(f"{size:>5} {periodic[size]:8.0f} {periodic[size] / generation_us:15.1%}")
    print("\n== mutation of an 80-offspring block (microseconds per call)")
    print(f"{'size':>5} {'indpb':>7} {'numba':>9} {'numpy':>10} {'speed-up':>9}")
    for size in (64, 100, 128):
        for indpb in (0.001, 0.01):
            fast, slow = time_mutation(size * size * 3, indpb, repeats=30)
            print(f"{size:>5} {indpb:7.3f} {fast:9.1f} {slow:10.1f} {slow / fast:8.0f}x")
    print_side_by_side(args.device, args.generations, args.repeats)


if __name__ == "__main__":
    main()
