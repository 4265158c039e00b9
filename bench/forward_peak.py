"""How close does the fitness forward come to this machine's matmul peak, layer by layer and by the net's width?

The shipped faceness model scoring one default CPU chunk of offspring through ``BatchScorer`` (fp32, fp32 with the
fast kernels off, fp32-compiled, bf16), in GFLOP/s, against a measured side x side matmul (fp32 through MKL and
through oneDNN, bf16), all taking turns; then the fp32 forward step by step (each step on the previous one's output,
eager, and the whole forward eager and as the scorer's oneDNN graph), and the fp32 graph forward of untrained nets of
first-block width 16 (the shipped one's), 12 and 8. Only ratios from one run compare; the rates hold for the machine
printed first.

Run: python bench/forward_peak.py [--turns 3] [--device cpu] [--side 2048] [--forwards fp32 bf16 ...]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import OFFSPRING, machine, median_range, onednn_product, rate_of, take_turns  # noqa: E402
from evoface.kernels import onednn, switch  # noqa: E402
from evoface.scoring import BatchScorer, chunk_size, fuse_for_inference  # noqa: E402
from neural.faceness import FacenessConfig, FacenessNet, flops  # noqa: E402
from neural.faceness_store import load_faceness  # noqa: E402

WARM_CALLS = 3  # untimed calls first: the graph for a new input shape is traced and fused on its first calls
# the forwards timed: name -> (--precision, fast kernels on)
FORWARDS = {"fp32": ("fp32", True), "fp32 (fast kernels off)": ("fp32", False),
            "fp32-compiled": ("fp32-compiled", True), "bf16": ("bf16", True)}
# the products timed for the peak: name -> (dtype, through oneDNN: timed on a CPU only)
PRODUCTS = {"fp32 (torch's default: MKL on a CPU)": (torch.float32, False), "fp32 (oneDNN)": (torch.float32, True),
            "bf16": (torch.bfloat16, False)}


def matmul_peak(device: str, dtype, side: int, calls: int = 8, through_onednn: bool = False) -> float:
    """GFLOP/s of a side x side matmul in ``dtype`` on ``device``: the measured peak to hold the forward pass to.
    An fp32 product on a CPU runs MKL's sgemm (torch's default), or oneDNN's when ``through_onednn``."""
    a, b = (torch.randn(side, side, device=device).to(dtype) for _ in range(2))
    product = (lambda: onednn_product(a, b.T)) if through_onednn else (lambda: a @ b)
    product()
    return rate_of(product, calls, device) * 2 * side**3 / 1e9


def forward_against_peak(device: str, model, count: int, turns: int, side: int, forwards: list[str]) -> float:
    """GFLOP/s of each of ``forwards`` on ``count`` noise genomes against the matmul peaks (oneDNN's on a CPU only),
    taking turns; returns the fp32 peak: the faster fp32 product's."""
    size = model.config.size
    genes = np.random.default_rng(0).integers(0, 256, (count, size * size * 3), dtype=np.uint8)
    work = flops(model, size) * count / 1e9
    measures = {}
    for name in forwards:
        precision, fast = FORWARDS[name]
        scorer = BatchScorer(model, torch.device(device), precision=precision)
        for _ in range(WARM_CALLS):
            scorer(genes)
        score = (lambda s=scorer: s(genes)) if fast else switch.plain()(lambda s=scorer: s(genes))
        measures[f"forward {name}"] = lambda f=score: rate_of(f, 50, device) * work
    products = {name: spec for name, spec in PRODUCTS.items() if device == "cpu" or not spec[1]}
    for name, (dtype, through_onednn) in products.items():
        measures[f"matmul {name}"] = lambda d=dtype, o=through_onednn: matmul_peak(device, d, side, through_onednn=o)
    figures = take_turns(measures, turns)
    print(f"\n== the fitness forward against this machine's measured peak ({count} images of {size} px a call, "
          f"{flops(model, size) / 1e6:.1f} MFLOP each; {side}^2 matmul; GFLOP/s, median (range) of {turns})")
    for name in products:
        print(f"matmul {name}: {median_range(figures[f'matmul {name}'])}")
    peaks = {"fp32": max(np.median(figures[f"matmul {name}"]) for name in products if name.startswith("fp32")),
             "bf16": np.median(figures["matmul bf16"])}
    for name in forwards:
        forward = np.median(figures[f"forward {name}"])
        print(f"forward {name}: {median_range(figures[f'forward {name}'])}: {forward / peaks['fp32']:.0%} of the "
              f"fp32 matmul peak, {forward / peaks['bf16']:.0%} of the bf16 one")
    return float(peaks["fp32"])


def forward_layers(device: str, model, count: int, turns: int, fp32_peak: float) -> None:
    """Milliseconds of each step of the eager fp32 forward (the scorer's fused model) on one chunk of ``count`` noise
    images, each step timed on the previous step's output, and of the whole forward eager and as the scorer's
    oneDNN graph, taking turns; GFLOP/s of each convolution."""
    fused = fuse_for_inference(model).to(device, memory_format=torch.channels_last)
    graphed = onednn.Graphed(fused)
    size = model.config.size
    genes = torch.randint(0, 256, (count, size, size, 3), dtype=torch.uint8, device=device).permute(0, 3, 1, 2)
    steps = [("uint8 to float", FacenessNet.scaled_input)]
    steps += [(f"{type(layer).__name__} {i // 2 + 1}", layer) for i, layer in enumerate(fused.features)]
    steps += [("head", lambda x: torch.sigmoid(fused.head(x)).squeeze(1))]
    wholes = [("whole forward, eager", switch.plain()(lambda x: graphed(x))), ("whole forward, graph", graphed)]
    inputs, outputs, x = [], [], genes
    with torch.inference_mode():
        for _, step in steps:
            inputs.append(x)
            x = step(x)
            outputs.append(x.shape)
        for _, whole in wholes:
            for _ in range(WARM_CALLS):
                whole(genes)
        timed = zip(steps + wholes, inputs + [genes] * len(wholes))
        times = take_turns({name: lambda f=step, x=x: 1000 / rate_of(lambda: f(x), 200, device)
                            for (name, step), x in timed}, turns)
    median = {name: float(np.median(values)) for name, values in times.items()}
    total = sum(median[name] for name, _ in steps)
    print(f"\n== the fp32 forward step by step ({count} images; ms, median of {turns}; each step on the previous "
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


def forward_widths(device: str, count: int, turns: int, widths: tuple[int, ...] = (16, 12, 8)) -> None:
    """Milliseconds of the scorer's fp32 graph forward on one chunk, for faceness nets of each first-block width
    (untrained; 16 is the shipped one's), taking turns: what a slimmer net would save."""
    nets = {width: onednn.Graphed(fuse_for_inference(FacenessNet(FacenessConfig(width=width)).eval())
                                  .to(device, memory_format=torch.channels_last)) for width in widths}
    genes = torch.randint(0, 256, (count, 64, 64, 3), dtype=torch.uint8, device=device).permute(0, 3, 1, 2)
    with torch.inference_mode():
        for net in nets.values():
            for _ in range(WARM_CALLS):
                net(genes)
        times = take_turns({width: lambda n=net: 1000 / rate_of(lambda: n(genes), 200, device)
                            for width, net in nets.items()}, turns)
    print(f"\n== the fp32 graph forward by the faceness net's width ({count} images of 64 px; ms, median of {turns})")
    for width in widths:
        ms = float(np.median(times[width]))
        print(f"width {width}: {flops(nets[width].module, 64) / 1e6:.1f} MFLOP per image, "
              f"{median_range(times[width], 3)} ms, {np.median(times[widths[0]]) / ms:.2f}x width {widths[0]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--side", type=int, default=2048, help="side of the square matmul that measures the peak")
    parser.add_argument("--forwards", nargs="+", choices=list(FORWARDS), default=list(FORWARDS),
                        help="the forwards to time (fp32-compiled compiles for about 40 s first)")
    args = parser.parse_args()
    print(machine(args.device), flush=True)
    model = load_faceness(None)
    count = chunk_size(OFFSPRING, torch.device(args.device), model.config.size)
    fp32_peak = forward_against_peak(args.device, model, count, args.turns, args.side, args.forwards)
    forward_layers(args.device, model, count, args.turns, fp32_peak)
    forward_widths(args.device, count, args.turns)


if __name__ == "__main__":
    main()
