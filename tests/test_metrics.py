import math

import numpy as np

from neural.metrics import roc_auc, spearman


def test_roc_auc_worked_example():
    # positives 0.9, 0.4; negatives 0.5, 0.1: pairs won 1 + 1 + 0 + 1 = 3 of 4
    assert roc_auc(np.array([0.9, 0.4]), np.array([0.5, 0.1])) == 0.75
    assert roc_auc(np.array([0.5]), np.array([0.5])) == 0.5
    assert math.isnan(roc_auc(np.array([]), np.array([0.1])))


def test_spearman_is_rank_based():
    x = np.array([1.0, 2.0, 3.0, 4.0])
    assert spearman(x, x**3) == 1.0
    assert spearman(x, -x) == -1.0
    assert math.isnan(spearman(x, np.ones(4)))
