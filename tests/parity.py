"""Helpers shared by the float64 parity tests (test_parity.py, test_conv.py): compare NumPy,
torch_impl and torch.nn results as CPU float64 arrays with one tolerance."""

import numpy as np
import torch

RTOL, ATOL = 1e-10, 1e-12


def as_float64(a):
    """A CPU float64 ndarray from a tensor (any device), an ndarray or a Python number."""
    if isinstance(a, torch.Tensor):
        return a.detach().cpu().double().numpy()
    return np.asarray(a, dtype=np.float64)


def assert_close(actual, expected, what):
    actual, expected = as_float64(actual), as_float64(expected)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    np.testing.assert_allclose(actual, expected, rtol=RTOL, atol=ATOL, err_msg=what)
