"""Small metric functions on 1-D arrays of scores."""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata, spearmanr


def spearman(scores: np.ndarray, targets: np.ndarray) -> float:
    """Spearman rank correlation of two equally long 1-D arrays (nan when either is constant)."""
    if np.ptp(scores) == 0 or np.ptp(targets) == 0:
        return float("nan")
    return float(spearmanr(scores, targets).statistic)


def roc_auc(positive_scores: np.ndarray, negative_scores: np.ndarray) -> float:
    """Area under the ROC curve: the probability that a random positive outranks a random negative (ties count 1/2).

    Computed from the Mann-Whitney U statistic of the pooled ranks.
    """
    n_pos, n_neg = len(positive_scores), len(negative_scores)
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(np.concatenate([positive_scores, negative_scores]))
    u = ranks[:n_pos].sum() - n_pos * (n_pos + 1) / 2
    return float(u / (n_pos * n_neg))
