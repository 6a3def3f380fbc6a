"""Shared pytest fixtures for the unit tests of ``lib``."""

import pytest
import torch


@pytest.fixture(
    params=[
        "cpu",
        pytest.param(
            "cuda",
            marks=pytest.mark.skipif(
                not torch.cuda.is_available(), reason="CUDA not available on this machine"
            ),
        ),
    ]
)
def device(request):
    """The torch device a test runs on: "cpu" always, "cuda" when a GPU is present."""
    return torch.device(request.param)
