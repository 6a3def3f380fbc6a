"""Shared library of the book: NumPy references, PyTorch counterparts, data, training, plots,
widgets."""

from __future__ import annotations

import inspect
import os
import random

import numpy as np

__all__ = ["chapter_seed", "device", "seed_everything", "setup", "show_source"]

# One CPU thread: results do not depend on the machine's core count, and the small models of the
# book lose little speed. Two threads on a busy 2-core machine were measured 14x slower
# (busy-waiting threads fighting for cores), so more threads is not the safe default here.
TORCH_THREADS = 1


def device():
    """The torch device to compute on: $BOOK_DEVICE if set (e.g. "cpu"), else CUDA, then Apple MPS,
    then CPU. `make test` sets BOOK_DEVICE=cpu so that re-executed chapters reproduce their stored,
    CPU-computed outputs even on a machine with a GPU."""
    import torch

    requested = os.environ.get("BOOK_DEVICE")
    if requested:
        try:
            dev = torch.device(requested)
        except RuntimeError as err:
            raise ValueError(f"BOOK_DEVICE={requested!r} is not a torch device; "
                             "use e.g. 'cpu', 'cuda', 'cuda:1' or 'mps'") from err
        available = {
            "cpu": 1,
            "cuda": torch.cuda.device_count() if torch.cuda.is_available() else 0,
            "mps": int(getattr(torch.backends, "mps", None) is not None
                       and torch.backends.mps.is_available()),
        }
        if dev.type in available and (dev.index or 0) >= available[dev.type]:
            usable = ["cpu"] + [f"cuda:{i}" for i in range(available["cuda"])]
            usable += ["mps"] * available["mps"]
            raise ValueError(f"BOOK_DEVICE={requested!r} but this machine has no such device; "
                             f"allowed here: {', '.join(usable)} (or unset BOOK_DEVICE)")
        return dev
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def seed_everything(seed: int = 0) -> np.random.Generator:
    """Seed Python, NumPy's legacy global state and torch (CPU and CUDA).

    Returns a fresh np.random.Generator(seed) for code that takes an explicit generator.
    """
    import torch

    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    os.environ["PYTHONHASHSEED"] = str(seed)
    return np.random.default_rng(seed)


def chapter_seed(default: int = 0) -> int:
    """The seed a chapter runs with: $BOOK_SEED if set (the robustness check runs every chapter
    with seeds 0–4), else ``default``."""
    value = os.environ.get("BOOK_SEED")
    if value is None or value == "":
        return default
    try:
        seed = int(value)
    except ValueError:
        seed = -1
    if seed < 0:
        raise ValueError(f"BOOK_SEED must be a non-negative integer, got {value!r}")
    return seed


def setup(seed: int = 0, threads: int = TORCH_THREADS) -> np.random.Generator:
    """Chapter preamble: seed everything (``seed``, or $BOOK_SEED when set), fix torch's CPU thread
    count, apply the plot style. Returns np.random.default_rng(seed)."""
    import torch

    torch.set_num_threads(threads)
    from lib import plots

    plots.use_style()
    return seed_everything(chapter_seed(seed))


def show_source(obj) -> None:
    """Show the source code of a library function or class (chapters never copy library code)."""
    from IPython.display import Markdown, display

    display(Markdown(f"```python\n{inspect.getsource(obj)}```"))
