"""What the studio evolves: a pixel genome (the uint8 image chromosome of ``evoface evolve``) or a latent genome
decoded by a generator. Each genome draws fresh faces, crosses and mutates a block of genes with the project's GA
operators (``evoface.ga``), and turns genes into (n, S, S, 3) uint8 images."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from evoface.ga.face_space_mutation import FaceBasis, mut_face_space_block, random_faces
from evoface.ga.operators import cx_normal_point_rows, cx_slerp_rows, fill_foreign, mut_gaussian_block
from evoface.ga.seed_stream import SeedStream

GENOMES = ("latent", "pixel")
PIXEL_MAX_STEP = 1.0     # mutation strength 1.0 moves a pixel face by real faces' std along each face-space component
PIXEL_PULL = 1.0         # and projects it onto face space first, so that crossover seams blend away
LATENT_MAX_SIGMA = 1.0   # mutation strength 1.0 adds N(0, 1) to every latent gene
CROSSOVER_SIGMA = 0.5    # the pixel GA's normal-point cut: N(L/2, (L/2)^2)


class Decoder(Protocol):
    """A generator seen as a decoder of latent genomes (``evoface.decoders.load_decoder`` gives one)."""

    kind: str
    latent_size: int
    image_size: int

    def decode(self, z: np.ndarray) -> np.ndarray:
        """(n, k) float32 latents -> (n, S, S, 3) uint8 images."""


class PixelGenome:
    """The image itself, S x S x 3 uint8 genes in HWC order. A person cannot choose among uniform noise, so fresh
    faces are drawn from a face space (``evoface.ga.face_space_mutation``; the shipped one by default) and mutation
    is the face-space move of ``evoface evolve``'s default, without its per-gene resets."""

    kind = "pixel"
    dtype = np.uint8

    def __init__(self, basis: FaceBasis | None = None):
        if basis is None:
            from neural.face_space import load_face_space

            basis = FaceBasis.of(load_face_space())
        self.basis = basis
        self.length = len(basis.mean)
        self.image_size = round((self.length // 3) ** 0.5)

    def random(self, n: int, seeds: SeedStream) -> np.ndarray:
        return random_faces(self.basis, n, seeds)

    def cross(self, source: np.ndarray, rows: np.ndarray, out: np.ndarray, seeds: SeedStream) -> None:
        cx_normal_point_rows(source, rows, out, CROSSOVER_SIGMA, 1.0, seeds)

    def mutate(self, block: np.ndarray, strength: float, seeds: SeedStream) -> None:
        """A random move along face space of ``strength * PIXEL_MAX_STEP`` real faces' std per component and the
        pull back to it; nothing at strength 0."""
        if strength > 0:
            mut_face_space_block(block, self.basis, strength * PIXEL_MAX_STEP, PIXEL_PULL, 0.0, seeds)

    def images(self, genes: np.ndarray) -> np.ndarray:
        return genes.reshape(len(genes), self.image_size, self.image_size, 3)


class LatentGenome:
    """A latent vector of a decoder: fresh faces are N(0, I) ("foreign" individuals), children come from slerp
    crossover and Gaussian mutation of every gene (``evoface.ga.operators``)."""

    kind = "latent"
    dtype = np.float32

    def __init__(self, decoder: Decoder):
        self.decoder = decoder
        self.image_size = decoder.image_size
        self.length = decoder.latent_size

    def random(self, n: int, seeds: SeedStream) -> np.ndarray:
        block = np.empty((n, self.length), np.float32)
        fill_foreign(block, seeds)
        return block

    def cross(self, source: np.ndarray, rows: np.ndarray, out: np.ndarray, seeds: SeedStream) -> None:
        cx_slerp_rows(source, rows, out, 1.0, seeds)

    def mutate(self, block: np.ndarray, strength: float, seeds: SeedStream) -> None:
        """Gaussian noise of standard deviation ``strength * LATENT_MAX_SIGMA`` on every gene."""
        mut_gaussian_block(block, 1.0, strength * LATENT_MAX_SIGMA, seeds)

    def images(self, genes: np.ndarray) -> np.ndarray:
        return self.decoder.decode(np.ascontiguousarray(genes, np.float32))


SHIPPED_DECODER = "gan"


def make_genome(kind: str, decoder: str | None) -> PixelGenome | LatentGenome:
    """The genome of a session: ``pixel``, or ``latent`` on ``decoder`` (a GAN/VAE checkpoint, or "gan"/"vae" for a
    shipped one; None: the shipped GAN). Raises InputError when the decoder cannot be loaded."""
    if kind == "pixel":
        return PixelGenome()
    from evoface.decoders import load_decoder

    return LatentGenome(load_decoder(decoder or SHIPPED_DECODER))
