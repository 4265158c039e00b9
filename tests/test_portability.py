"""The kernels' row copies refuse to run past a row."""

import numpy as np
import pytest

from evoface.ga.operators import _write_children


def test_a_copy_past_the_end_of_a_row_is_refused():
    source, out = np.zeros((2, 10), np.uint8), np.zeros((2, 10), np.uint8)
    with pytest.raises(IndexError, match="past the end"):
        _write_children(source, np.array([0, 1]), np.array([11]), out)
