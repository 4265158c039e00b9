"""oneDNN's fp32 kernels and graphs against their plain torch references, alone and inside the scorer."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn

from conftest import synthetic_faces
from evoface.kernels import onednn, switch
from evoface.scoring import BatchScorer, fuse_for_inference
from neural.face_space import FaceSpaceConfig, fit_face_space
from neural.faceness import FacenessConfig, FacenessNet
from neural.precision import rank_correlation

pytestmark = pytest.mark.usefixtures("fast_paths_on")  # these tests compare the fast paths with their references
needs_onednn = pytest.mark.skipif(not torch.backends.mkldnn.is_available(), reason="torch was built without oneDNN")


def images_of(n: int, size: int, seed: int = 0) -> torch.Tensor:
    """(n, 3, size, size) uint8 channels-last images, as the scorer passes genes."""
    genes = torch.randint(0, 256, (n, size, size, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))
    return genes.permute(0, 3, 1, 2)


def small_net(size: int = 32) -> FacenessNet:
    """A faceness net with non-trivial batch-norm statistics, so that folding them is exercised."""
    torch.manual_seed(0)
    model = FacenessNet(FacenessConfig(size=size)).eval()
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
    return model


@needs_onednn
@pytest.mark.parametrize("shape", [(80, 12288, 64), (5, 64, 300), (1, 7, 1)])
def test_matmul_matches_the_plain_product(shape):
    n, d, k = shape
    generator = torch.Generator().manual_seed(0)
    x, weight = torch.randn(n, d, generator=generator), torch.randn(d, k, generator=generator)
    for w in (weight, weight.T.contiguous().T):  # contiguous, and a transposed view
        assert torch.allclose(onednn.matmul(x, w), x @ w, rtol=1e-4, atol=1e-4 * d**0.5)


def test_off_the_fast_path_each_function_is_its_reference():
    x, weight = torch.randn(4, 6), torch.randn(6, 3)
    with switch.plain():
        assert not onednn.usable("onednn-matmul", x)
        assert torch.equal(onednn.matmul(x, weight), x @ weight)
    assert not onednn.usable("onednn-matmul", x.double()) and not onednn.usable("onednn-matmul", x.bfloat16())
    assert not onednn.usable("onednn-matmul", x.byte()) and onednn.usable("onednn-matmul", x.byte(), (torch.float32, torch.uint8))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert not onednn.usable("onednn-matmul", x)


@pytest.fixture
def graphed() -> onednn.Graphed:
    """A fused small net wrapped in ``Graphed``; ``graphed.module`` is the net itself."""
    return onednn.Graphed(fuse_for_inference(small_net()))


@needs_onednn
def test_a_graph_gives_the_same_bits_from_its_first_call_on(graphed):
    images = images_of(40, 32)
    with torch.inference_mode():
        first = graphed(images)
        assert all(torch.equal(graphed(images), first) for _ in range(3))  # as a resumed run needs


@needs_onednn
def test_the_graph_runs_and_scores_as_the_module(graphed):
    images = images_of(40, 32)
    with torch.inference_mode():
        reference = graphed.module(images)
        for _ in range(3):  # TorchScript optimises a graph on its first calls
            fast = graphed(images)
        assert torch.allclose(fast, reference, atol=1e-6)
        assert list(graphed.kernels.values())[0] is not None  # a graph, not the module's fallback
        assert torch.allclose(graphed(images[:7]), reference[:7], atol=1e-6)  # another signature, another graph
    assert len(graphed.kernels) == 2 and not graphed.training


def test_the_module_runs_where_the_graph_cannot(graphed):
    images = images_of(6, 32)
    with torch.inference_mode():
        reference = graphed.module(images)
        with switch.plain():
            assert torch.equal(graphed(images), reference)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            graphed(images)
    assert torch.equal(graphed(images), graphed.module(images))  # autograd on
    assert not graphed.kernels


def test_a_failed_trace_warns_once_and_leaves_the_module(monkeypatch):
    class Untraceable(nn.Module):
        def forward(self, x):
            return x.sum(1)

    def failing_trace(*args, **kwargs):
        raise RuntimeError("no tracer here")

    graphed = onednn.Graphed(Untraceable().eval())
    x = torch.ones(2, 3)
    monkeypatch.setattr(torch.jit, "trace", failing_trace)
    with torch.inference_mode(), pytest.warns(RuntimeWarning, match="eagerly.*no tracer here"):
        assert torch.equal(graphed(x), x.sum(1))
    with torch.inference_mode():
        assert torch.equal(graphed(x), x.sum(1))  # no second trace: a second warning would fail -W error runs
    assert list(graphed.kernels.values()) == [None]


def test_a_copy_traces_its_own_graphs(graphed):
    with torch.inference_mode():
        graphed(images_of(4, 32))
    copied = copy.deepcopy(graphed)
    assert isinstance(copied, onednn.Graphed) and not copied.kernels and copied.config.size == 32


@needs_onednn
def test_the_scorer_ranks_as_the_plain_net():
    model = small_net()
    scorer = BatchScorer(model, torch.device("cpu"), precision="fp32")
    genes = images_of(64, 32, seed=1).permute(0, 2, 3, 1).reshape(64, -1).numpy()
    for _ in range(3):
        fast = scorer(genes)
    with torch.inference_mode():
        reference = model(images_of(64, 32, seed=1)).double().numpy()
    assert np.allclose(fast, reference, atol=1e-6)
    assert rank_correlation(fast, reference) >= 0.999


@needs_onednn
def test_the_scorer_with_a_prior_matches_its_plain_run():
    size = 16
    prior = fit_face_space(torch.from_numpy(synthetic_faces(200, size, seed=0)), FaceSpaceConfig(size, 12))
    scorer = BatchScorer(FacenessNet(FacenessConfig(size=size)).eval(), torch.device("cpu"), precision="fp32",
                         prior=prior, prior_weight=1.0)
    genes = np.random.default_rng(0).integers(0, 256, (80, size * size * 3), dtype=np.uint8)
    for _ in range(3):
        fast = scorer(genes)
    with switch.plain():
        reference = scorer(genes)
    assert np.allclose(fast, reference, atol=1e-5)


def test_a_graph_that_fails_to_run_warns_and_leaves_the_module(graphed):
    images = images_of(4, 32)

    def failing_graph(x):
        raise RuntimeError("partition compile failed")

    with torch.inference_mode():
        key = (images.dtype, tuple(images.shape), images.stride())
        graphed.kernels[key] = failing_graph
        with pytest.warns(RuntimeWarning, match="partition compile failed"):
            assert torch.equal(graphed(images), graphed.module(images))
        assert graphed.kernels[key] is None


def test_matmul_keeps_gradients():
    x, weight = torch.randn(3, 5, requires_grad=True), torch.randn(5, 2)
    onednn.matmul(x, weight).sum().backward()
    assert torch.allclose(x.grad, weight.sum(1).expand(3, 5))


@needs_onednn
def test_moving_or_loading_the_module_drops_its_graphs(graphed):
    images = images_of(4, 32)
    with torch.inference_mode():
        graphed(images)
    assert graphed.kernels
    graphed.to(torch.float32)
    assert not graphed.kernels
    with torch.inference_mode():
        graphed(images)
    state = {name: torch.zeros_like(value) for name, value in graphed.state_dict().items()}
    graphed.load_state_dict(state)
    assert not graphed.kernels
    with torch.inference_mode():
        assert torch.equal(graphed(images), graphed.module(images))  # the new weights, not the old graph's
    graphed.train()
    with torch.inference_mode():
        graphed(images_of(5, 32))
    assert len(graphed.kernels) == 1  # training mode runs the module


def test_a_pickled_copy_traces_its_own_graphs(graphed):
    import pickle

    with torch.inference_mode():
        graphed(images_of(4, 32))
    copied = pickle.loads(pickle.dumps(graphed))
    assert not copied.kernels
    with torch.inference_mode():
        assert torch.allclose(copied(images_of(4, 32)), graphed(images_of(4, 32)))


@needs_onednn
def test_the_bf16_wrapper_runs_the_module_under_autocast(graphed):
    from neural.precision import at_precision

    fast = at_precision(graphed, torch.device("cpu"), "bf16")
    images = images_of(8, 32)
    with torch.inference_mode():
        assert fast.config.size == 32
        bf16, fp32 = fast(images), graphed(images)
    assert not torch.equal(bf16, fp32) and torch.allclose(bf16, fp32, atol=0.05)
    assert torch.allclose(fp32, graphed.module(images), atol=1e-6)
