"""Score a whole block of flattened images with the faceness CNN in one batched forward pass."""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn

from evoface.core.errors import InputError
from evoface.kernels.onednn import Graphed
from evoface.kernels.packed_convs import fold_batch_norms
from evoface.rendering import gaussian_blur, genes_to_tensor, total_variation
from neural.faceness import FacenessNet
from neural.precision import at_precision, keeps_ranking, resolve_precision


def fuse_for_inference(model: FacenessNet) -> FacenessNet:
    """An eval-mode copy with each BatchNorm folded into the convolution before it and the dropouts (no-ops in eval
    mode) removed: the same outputs from fewer module calls. ``BatchScorer`` runs it as one oneDNN graph
    (``evoface.kernels.onednn.Graphed``)."""
    fused = fold_batch_norms(copy.deepcopy(model).eval())
    fused.features = nn.Sequential(*(layer for layer in fused.features if not isinstance(layer, nn.Dropout2d)))
    fused.head = nn.Sequential(*(layer for layer in fused.head if not isinstance(layer, nn.Dropout)))
    return fused


ENSEMBLE_RULES = ("min", "mean")
# On a CPU, score in chunks of at most this many pixels (80 images at 64 px): about 9 MB of activations, held in cache.
# A block of more than half of it is still split in two: each chunk's activations then leave more of the cache, and of
# the population in it, to the GA's own work (at 64 px its time outside the forward pass dropped by 8-20%). In bf16
# the activations take half the bytes, so a chunk holds twice the pixels: the 80 children at 64 px then go in one
# forward pass, 1.08x the generations/s of two in the loop on an AMX Xeon (each oneDNN convolution call costs about
# 45 us whatever its size), where in fp32 one pass and two ran at the same speed.
CPU_CHUNK_PIXELS = 330_000
ACTIVATION_BYTES = {"bf16": 2}  # per value, where not 4
# The genes are scored in blocks of up to this many (or one forward chunk, where that is larger), each block rendered
# once for the forward and the distances: the prior and target distances of a generation's children in one product (a
# larger product runs faster, and the distances keep no activations in cache), a large population in bounded memory
# (each block's fp32 copies take 12.6 MB at 64 px)
DISTANCE_ROWS = 256
GPU_BATCH = 1024
PROBE_IMAGES, PROBE_RESET_SHARE = 64, 0.001  # the ranking probe: one noise genome and copies with 0.1% reset


def ranking_probe(length: int, seed: int = 0, mutate=None) -> np.ndarray:
    """(PROBE_IMAGES, length) uint8 genes as close together as a GA's children: copies of one uniform-noise genome,
    each mutated once by ``mutate`` (a block mutation, in place: the run's own operator, so that the probe's
    differences are the ones its selection has to rank), or without one with ``PROBE_RESET_SHARE`` of its genes
    reset to uniform values."""
    rng = np.random.default_rng(seed)
    probe = np.repeat(rng.integers(0, 256, (1, length), dtype=np.uint8), PROBE_IMAGES, axis=0)
    if mutate is not None:
        mutate(probe)
        return probe
    resets = rng.random(probe.shape) < PROBE_RESET_SHARE
    probe[resets] = rng.integers(0, 256, int(resets.sum()), dtype=np.uint8)
    return probe


def chunk_size(n: int, device: torch.device, size: int, precision: str = "fp32") -> int:
    """Images per forward pass when scoring n images: up to ``GPU_BATCH`` on a GPU; on a CPU, n split evenly into chunks
    of at most ``CPU_CHUNK_PIXELS`` pixels (counted as fp32 activations: a bf16 pixel is half of one), and at least
    two chunks when n holds over half of that.
    ``bench/ga_sizes.py`` measures a generation with these chunks against one batch. Even chunks, since uneven ones ran
    slower."""
    if device.type != "cpu":
        return GPU_BATCH
    pixels = n * size * size * ACTIVATION_BYTES.get(precision, 4) // 4
    chunks = max(-(-pixels // CPU_CHUNK_PIXELS), 2 if 2 * pixels > CPU_CHUNK_PIXELS else 1)
    return max(1, -(-n // chunks))


class BatchScorer:
    """Callable: (n, G*G*3) uint8 genes (HWC order; numpy or a torch tensor) -> (n,) float64 fitness.

    fitness = min(faceness(image), faceness_cap) - tv_weight * total_variation(image) - prior_weight * prior(image)
    - target_weight * target(image), where the cap (None: none) makes faceness a bar to clear rather than a score to
    push ever higher (above it the fitness cannot tell faces apart, and pushing on makes super-stimuli), the prior
    is a realism prior (``neural.face_space``: the distance from face space), the target a distance from one target
    face (``neural.target_likeness``), and the image is the genome rendered at the model's size (bilinear when G is
    smaller), optionally Gaussian-blurred before the model sees it. With several models, faceness is their minimum
    (an image must convince every model) or their mean. Every model runs at ``precision`` (``neural/precision.py``):
    "auto" keeps bf16 only where the CPU has AMX bf16 tiles and ``ranking_probe`` is ranked as in fp32, its copies
    mutated by ``probe_mutation`` where one is given (the run's own operator, drawing from a stream of its own);
    otherwise ``self.precision`` is "fp32". On a CPU, where the kernels switch allows (``evoface.kernels``), each fp32
    faceness model runs as one oneDNN graph (``onednn.Graphed``), a bf16 one with packed oneDNN convolutions
    (``packed_convs``), and the prior's products through oneDNN off Intel's CPUs (``onednn.matmul``).
    """

    def __init__(self, model: FacenessNet | list[FacenessNet], device: torch.device, genome_size: int | None = None,
                 tv_weight: float = 0.0, blur_sigma: float = 0.0, batch_size: int | None = None,
                 ensemble_rule: str = "min", precision: str = "auto", prior: nn.Module | None = None,
                 prior_weight: float = 0.0, target: nn.Module | None = None, target_weight: float = 0.0,
                 faceness_cap: float | None = None, probe_mutation=None):
        models = model if isinstance(model, list) else [model]
        self.size = models[0].config.size
        if any(m.config.size != self.size for m in models):
            raise InputError("the ensemble's faceness models score different image sizes: "
                             + ", ".join(f"{m.config.size}px" for m in models))
        if ensemble_rule not in ENSEMBLE_RULES:
            raise InputError(f"--ensemble-rule must be one of {', '.join(ENSEMBLE_RULES)}")
        self.ensemble_rule = ensemble_rule
        self.genome_size = genome_size or self.size
        self.device = device
        self.batch_size = batch_size  # None: ``chunk_size`` for each call
        self.tv_weight = tv_weight
        self.blur_sigma = blur_sigma
        self.precision = resolve_precision(precision, device)
        self.models = self._models_at(models, self.precision)
        if prior is not None and prior.config.size != self.size:
            raise InputError(f"the realism prior scores {prior.config.size}px images, the faceness model {self.size}px")
        # the prior stays fp32 at every precision: its distance is a difference of two large sums of squares
        self.prior = prior.to(device) if prior is not None and prior_weight else None
        self.prior_weight = prior_weight
        self.target = target.to(device) if target is not None and target_weight else None
        self.target_weight = target_weight
        self.faceness_cap = faceness_cap
        self.plain = genome_size in (None, self.size) and not tv_weight and not blur_sigma
        if precision == "auto" and self.precision != "fp32":
            self._keep_precision_if_it_ranks(models, probe_mutation)

    def _models_at(self, models: list[FacenessNet], precision: str) -> list[nn.Module]:
        """The faceness models fused for inference, channels-last on the scorer's device, at ``precision``."""
        return [at_precision(Graphed(fuse_for_inference(m).to(self.device, memory_format=torch.channels_last)),
                             self.device, precision) for m in models]

    def _keep_precision_if_it_ranks(self, models: list[FacenessNet], probe_mutation) -> None:
        """Fall back to fp32 models unless the fast precision ranks ``ranking_probe`` as fp32 does."""
        fast, fp32 = self.models, self._models_at(models, "fp32")

        def scores_with(chosen):
            def score(genes):
                self.models = chosen
                return self(genes)
            return score

        kept = keeps_ranking(scores_with(fast), scores_with(fp32),
                             ranking_probe(self.genome_length, mutate=probe_mutation))
        self.models = fast if kept else fp32
        self.precision = self.precision if kept else "fp32"

    @property
    def genome_length(self) -> int:
        return self.genome_size * self.genome_size * 3

    def faceness(self, images: torch.Tensor) -> torch.Tensor:
        """(n,) faceness of (n, 3, S, S) images (uint8, or float in [0, 1]) by the model or the ensemble, at most
        ``faceness_cap``."""
        if len(self.models) == 1:
            scores = self.models[0](images)
        else:
            scores = torch.stack([model(images) for model in self.models])
            scores = scores.amin(dim=0) if self.ensemble_rule == "min" else scores.mean(dim=0)
        return scores if self.faceness_cap is None else scores.clamp(max=self.faceness_cap)

    def _images(self, genes: torch.Tensor) -> torch.Tensor:
        """(n, 3, S, S) images of (n, G*G*3) genes: on the fast path a channels-last view of the uint8 genes (the
        models scale uint8 themselves), else the genome rendered at the model's size."""
        if self.plain:
            return genes.view(-1, self.size, self.size, 3).permute(0, 3, 1, 2)
        return genes_to_tensor(genes, self.size)

    def _faceness_terms(self, images: torch.Tensor) -> torch.Tensor:
        """The faceness, less the total variation where it is weighted, of one chunk of images."""
        seen = gaussian_blur(images, self.blur_sigma) if self.blur_sigma else images
        scores = self.faceness(seen)
        if self.tv_weight:
            scores = scores - self.tv_weight * total_variation(images)
        return scores

    def _distance_terms(self, images: torch.Tensor) -> torch.Tensor:
        """The weighted prior and target distances of a block of images."""
        terms = torch.zeros(len(images), device=images.device)
        if self.prior is not None:
            terms = terms + self.prior_weight * self.prior(images)
        if self.target is not None:
            terms = terms + self.target_weight * self.target(images)
        return terms

    @torch.inference_mode()
    def __call__(self, genes: np.ndarray | torch.Tensor) -> np.ndarray:
        """Fitness of genes on the host or, from the tensor engine, already on a device (where a CPU tensor, too,
        takes the fast paths)."""
        genes_t = (genes if isinstance(genes, torch.Tensor) else torch.from_numpy(genes)).to(self.device,
                                                                                                non_blocking=True)
        step = self.batch_size or chunk_size(len(genes), self.device, self.size, self.precision)
        rows = step * max(1, DISTANCE_ROWS // step)
        blocks = [self._block_scores(self._images(genes_t[i:i + rows]), step) for i in range(0, len(genes_t), rows)]
        scores = torch.cat(blocks) if blocks else torch.zeros(0, device=self.device)
        return scores.double().cpu().numpy()

    def _block_scores(self, images: torch.Tensor, step: int) -> torch.Tensor:
        """The fitness of a block of images, each rendered once for both terms: the forward in chunks of ``step``
        (a whole number of them per block, so the chunks are the ones the genes would make without blocks), the
        distances in one pass."""
        scores = torch.cat([self._faceness_terms(images[i:i + step]) for i in range(0, len(images), step)])
        if self.prior is not None or self.target is not None:
            scores = scores - self._distance_terms(images)
        return scores
