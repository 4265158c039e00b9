"""fp32 products and a small conv net's forward through oneDNN on a CPU, each with its plain torch reference.

``matmul`` (the fast path ``onednn-matmul``): torch sends an fp32 matrix product on a CPU to MKL's sgemm, which on
AMD's CPUs takes a slower code path; oneDNN's inner-product primitive (``torch.ops.mkldnn._linear_pointwise``, the
kernel ``torch.compile`` emits for a CPU linear layer) does not. On an Intel Xeon MKL was the faster of the two, so
``matmul`` takes oneDNN's kernel only off Intel's CPUs. ``Graphed`` (the fast path ``onednn-graph``) runs a small
convolutional net as one TorchScript graph that oneDNN fuses. Both compute the same fp32 sums in another order:
results match the references to fp32 rounding (tested). Off a CPU, without oneDNN, under autocast or autograd, for
another dtype, or where ``evoface.kernels`` turns them off, each is its reference. Their gains are in bench/README.md.
"""

from __future__ import annotations

import copy
import warnings

import torch
from torch import nn

from evoface.kernels import switch as kernels
from evoface.kernels.cpu import cpu_is_intel
from evoface.kernels.wrapping import DerivedKernels, wrapped_getattr


def onednn_available() -> bool:
    """True where torch was built with oneDNN (every x86 CPU wheel)."""
    return torch.backends.mkldnn.is_available()


def usable(name: str, x: torch.Tensor, dtypes: tuple[torch.dtype, ...] = (torch.float32,),
           autocast: bool = False) -> bool:
    """True when the fast path ``name`` is on (``evoface.kernels.enabled``) and oneDNN's kernels can take ``x``: a CPU
    tensor of one of ``dtypes``, oneDNN built in, and no autocast around unless ``autocast`` (the fp32 kernels would
    bypass it)."""
    return (kernels.enabled(name) and x.device.type == "cpu" and x.dtype in dtypes and onednn_available()
            and (autocast or not torch.is_autocast_enabled("cpu")))


def matmul(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """``x @ weight`` for a 2-D ``x`` (n, d) and ``weight`` (d, k), through oneDNN when ``usable``, no gradient is
    wanted (oneDNN's kernel has no backward) and the CPU is not Intel's, where MKL's own product was the faster
    one."""
    wants_gradient = torch.is_grad_enabled() and (x.requires_grad or weight.requires_grad)
    if usable("onednn-matmul", x) and weight.dtype == torch.float32 and not wants_gradient and not cpu_is_intel():
        return torch.ops.mkldnn._linear_pointwise(x, weight.T, None, "none", [], "")
    return x @ weight


# calls of a new graph before its first result is used: its first call runs unfused (TorchScript profiles it), and
# differs in the last bits from the fused calls after it, so a resumed run would score as the run it resumes did not
WARM_CALLS = getattr(torch._C, "_jit_get_num_profiled_runs", lambda: 1)() + 1


class Graphed(DerivedKernels):
    """Runs an inference module as a TorchScript graph, traced and frozen, that oneDNN's graph compiler fuses (each
    convolution with its bias and activation, blocked layouts kept between layers): the same fp32 arithmetic with no
    Python or dispatch between the layers. One graph per input signature (dtype, shape, strides), traced on its first
    call (under a second). The module itself runs where the graph cannot: input that is not ``usable`` (fp32 or
    uint8, which the module converts itself), autograd on, the fast path off, inside ``torch.compile``, or a trace that
    failed or whose graph failed to run (the module then always runs for that signature, with one warning), and in
    training mode. Moving or converting the wrapper (``.to``, ``.float``) or loading a state dict drops its graphs;
    the module's weights must not be changed in place otherwise. TorchScript is deprecated in favour of
    ``torch.compile``, which took 39 s to compile and ran no faster (bench/README.md), so its FutureWarnings are
    silenced."""

    def __init__(self, module: nn.Module):
        super().__init__()
        self.module = module
        self.train(module.training)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if (self.training or torch.is_grad_enabled() or torch.compiler.is_compiling()
                or not usable("onednn-graph", x, (torch.float32, torch.uint8))):
            return self.module(x)  # (``torch.compile`` of the scorer, ``--precision fp32-compiled``, compiles this)
        key = (x.dtype, tuple(x.shape), x.stride())
        if key not in self.kernels:
            with self.kernels_lock:
                if key not in self.kernels:
                    self.kernels[key] = self._trace(x)
        graph = self.kernels[key]
        if graph is not None:
            try:
                return graph(x)
            except RuntimeError as error:  # oneDNN compiles its partitions on the first calls
                self.kernels[key] = self._failed(error)
        return self.module(x)

    def _trace(self, example: torch.Tensor) -> torch.jit.ScriptModule | None:
        torch.jit.enable_onednn_fusion(True)
        try:
            with warnings.catch_warnings():  # deprecation; shape branches fixed per signature, as intended
                warnings.filterwarnings("ignore", category=FutureWarning, module=r"torch\.jit")
                warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
                graph = torch.jit.freeze(torch.jit.trace(self.module, example, check_trace=False))
                for _ in range(WARM_CALLS):  # TorchScript profiles the first call and fuses from the next one on
                    graph(example)
                return graph
        except Exception as error:  # noqa: BLE001  any failure to trace leaves the plain module
            return self._failed(error)

    def _failed(self, error: Exception) -> None:
        warnings.warn(f"running {type(self.module).__name__} eagerly: its oneDNN graph failed ({error})",
                      RuntimeWarning, stacklevel=4)

    def __getattr__(self, name):
        return wrapped_getattr(self, name)

    def __deepcopy__(self, memo):
        """A copy of the module, its graphs traced anew (a copied module may be changed, as ``at_precision`` does)."""
        copied = memo[id(self)] = Graphed(copy.deepcopy(self.module, memo)).train(self.training)
        return copied

