"""How typical of real faces an image's combination of face-space components is: a Gaussian mixture over the
coordinates.

Face space's components are uncorrelated over real faces but not independent: a smile's teeth come with an open
mouth, a fringe with a forehead in shadow. Drawn one by one, each coordinate can be typical while the combination is
no face anyone has (a pale band of "teeth" above closed lips). A mixture of full-covariance Gaussians, fitted to real
faces' coordinates (in real faces' standard deviations), scores the combination: its negative log-likelihood (NLL,
nats). ``atypicality`` is how far an image's NLL lies above real held-out faces' median, 0 below it, so a fitness that
subtracts it stops pushing once a face is as typical as the median real one.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn


class FaceMixture(nn.Module):
    """A K-component Gaussian mixture over k face-space coordinates, with real faces' median NLL."""

    def __init__(self, mixtures: int, components: int):
        super().__init__()
        self.register_buffer("log_weights", torch.zeros(mixtures))
        self.register_buffer("means", torch.zeros(mixtures, components))
        # each Gaussian's precision matrix is chol @ chol.T (scikit-learn's precisions_cholesky_)
        self.register_buffer("precision_chol", torch.zeros(mixtures, components, components))
        self.register_buffer("typical_nll", torch.zeros(()))

    def nll(self, coordinates: torch.Tensor) -> torch.Tensor:
        """(B,) negative log-likelihood of (B, k) coordinates, in nats."""
        chol = self.precision_chol
        whitened = torch.einsum("bd,kde->bke", coordinates, chol) - torch.einsum("kd,kde->ke", self.means, chol)
        log_det = torch.diagonal(chol, dim1=1, dim2=2).log().sum(1)
        log_density = (self.log_weights + log_det - 0.5 * whitened.pow(2).sum(2)
                       - 0.5 * coordinates.shape[1] * math.log(2 * math.pi))
        return -torch.logsumexp(log_density, dim=1)

    def atypicality(self, coordinates: torch.Tensor) -> torch.Tensor:
        """(B,) how far the NLL lies above real faces' median (nats), 0 below it."""
        return (self.nll(coordinates) - self.typical_nll).clamp_min(0.0)


def fit_face_mixture(coordinates: np.ndarray, mixtures: int, held_out: np.ndarray | None = None,
                     seed: int = 0) -> FaceMixture:
    """Fit the mixture to (N, k) real faces' coordinates by EM (scikit-learn's ``GaussianMixture``: k-means
    initialisation, a small ridge on each covariance); its typical NLL is the median over ``held_out`` coordinates
    where given, else over the fitted ones."""
    from sklearn.mixture import GaussianMixture

    fitted = GaussianMixture(mixtures, covariance_type="full", reg_covar=1e-3, max_iter=200,
                             random_state=seed).fit(coordinates.astype(np.float64))
    model = FaceMixture(mixtures, coordinates.shape[1])
    model.log_weights.copy_(torch.from_numpy(np.log(fitted.weights_)))
    model.means.copy_(torch.from_numpy(fitted.means_))
    model.precision_chol.copy_(torch.from_numpy(fitted.precisions_cholesky_))
    typical = held_out if held_out is not None and len(held_out) else coordinates
    with torch.inference_mode():
        model.typical_nll.copy_(model.nll(torch.from_numpy(typical).float()).quantile(0.5))
    return model
