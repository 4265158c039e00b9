"""The latent genome of ``evoface evolve --genome latent``: an individual is the float32 input code of a GAN or VAE
decoder, and its fitness is the faceness of the decoded image, scored by the pixel GA's ``BatchScorer``."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch

from evoface.core.errors import InputError
from evoface.decoders import Decoder, decoder_summary, load_decoder


class LatentGenome:
    """The decoder of a latent run and what the run needs from it: the genome length, the genes -> images renderer
    in front of the scorer, and the checks and checkpoint fields that tie a run to its decoder."""

    def __init__(self, source: str, image_size: int, device: torch.device | str = "cpu"):
        self.decoder: Decoder = load_decoder(source, device)
        if self.decoder.image_size != image_size:
            raise InputError(f"the decoder {source} makes {self.decoder.image_size}px images, but the fitness model "
                             f"scores {image_size}px images")

    @property
    def length(self) -> int:
        return self.decoder.latent_size

    def images(self, genes: np.ndarray) -> np.ndarray:
        """(n, k) codes -> (n, S, S, 3) uint8 images."""
        return self.decoder.decode(genes)

    def scoring(self, scorer: Callable[[np.ndarray], np.ndarray]) -> Callable[[np.ndarray], np.ndarray]:
        """The fitness of a block of codes: ``scorer`` (which takes flattened uint8 images) of their decoded images."""
        def score(genes: np.ndarray) -> np.ndarray:
            images = self.images(genes)
            return scorer(images.reshape(len(images), -1))
        return score

    def checkpoint_fields(self) -> dict[str, Any]:
        return {"genome": "latent", "decoder": decoder_summary(self.decoder)}

    def check_genes(self, ckpt: dict[str, Any], what: str) -> None:
        """InputError unless the evolve checkpoint ``ckpt`` (of ``what``: a run's name) holds codes of this decoder's
        latent size."""
        genome = ckpt.get("genome", "pixel")
        if genome != "latent":
            raise InputError(f"{what} evolved a {genome} genome, not the latent codes of a decoder")
        length = ckpt["genes"].shape[1]
        if length != self.length:
            raise InputError(f"{what} holds latent codes of size {length}, but the decoder {self.decoder.source} "
                             f"takes codes of size {self.length}")


def latent_checkpoint_images(ckpt: dict[str, Any], genes: np.ndarray, device: torch.device | str = "cpu") -> np.ndarray:
    """The images of an evolve checkpoint's latent ``genes``, decoded by the decoder the run evolved them for."""
    decoder = load_decoder(ckpt["decoder"]["source"], device)
    if decoder.latent_size != genes.shape[1]:
        raise InputError(f"the run's decoder {decoder.source} now takes codes of size {decoder.latent_size}, but the "
                         f"run holds codes of size {genes.shape[1]}")
    return decoder.decode(genes)
