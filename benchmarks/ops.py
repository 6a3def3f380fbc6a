"""Speed of the from-scratch layers relative to PyTorch's built-ins, in one run.

For BatchNorm2d, LayerNorm, GroupNorm, Conv2d (3×3, 16 → 16 channels, padding 1), MaxPool2d(2),
AvgPool2d(2) and AdaptiveAvgPool2d(1) (the last four on a CNN-sized input (64, 16, 28, 28)) it
times one forward + backward (random upstream gradient) of ``lib.torch_impl`` (tensor ops +
autograd), of the ``torch.nn`` built-in (fused kernels), and of ``lib.numpy_ref`` (forward and
backward by hand, CPU only), and prints the ratios to the built-in. The three are timed in turns,
repeat after repeat, so that a change in the machine's load affects them alike; the table shows
medians. Then it runs ``benchmarks/optim_step.py``'s ``main()`` (optimizer steps) if that file
exists.

    python benchmarks/ops.py [--repeats 7] [--threads N]   # default: lib.TORCH_THREADS

float32 for torch; numpy_ref's layers keep γ, β and the conv weights in float64 (their default),
so they run mostly in float64. On CUDA (when present) the torch rows are repeated on the GPU.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

import lib
from lib.numpy_ref import conv as np_conv
from lib.numpy_ref import norm as np_norm
from lib.torch_impl import conv as ti_conv
from lib.torch_impl import norm as ti_norm

# name, input shape, (torch_impl, built-in, numpy_ref) constructors
CASES = [
    (
        "BatchNorm2d",
        (32, 64, 32, 32),
        (
            lambda: ti_norm.BatchNorm2d(64),
            lambda: nn.BatchNorm2d(64),
            lambda: np_norm.BatchNorm2d(64),
        ),
    ),
    (
        "LayerNorm",
        (32, 128, 768),
        (lambda: ti_norm.LayerNorm(768), lambda: nn.LayerNorm(768), lambda: np_norm.LayerNorm(768)),
    ),
    (
        "GroupNorm",
        (32, 64, 32, 32),
        (
            lambda: ti_norm.GroupNorm(8, 64),
            lambda: nn.GroupNorm(8, 64),
            lambda: np_norm.GroupNorm(8, 64),
        ),
    ),
    (
        "Conv2d 3×3",
        (64, 16, 28, 28),
        (
            lambda: ti_conv.Conv2d(16, 16, 3, padding=1),
            lambda: nn.Conv2d(16, 16, 3, padding=1),
            lambda: np_conv.Conv2d(16, 16, 3, padding=1, rng=np.random.default_rng(0)),
        ),
    ),
    (
        "MaxPool2d 2",
        (64, 16, 28, 28),
        (lambda: ti_conv.MaxPool2d(2), lambda: nn.MaxPool2d(2), lambda: np_conv.MaxPool2d(2)),
    ),
    (
        "AvgPool2d 2",
        (64, 16, 28, 28),
        (lambda: ti_conv.AvgPool2d(2), lambda: nn.AvgPool2d(2), lambda: np_conv.AvgPool2d(2)),
    ),
    (
        "AdaptAvgPool 1",
        (64, 16, 28, 28),
        (
            lambda: ti_conv.AdaptiveAvgPool2d(1),
            lambda: nn.AdaptiveAvgPool2d(1),
            lambda: np_conv.AdaptiveAvgPool2d(1),
        ),
    ),
]


def torch_step(module, x, g):
    """One training step's worth of work for a layer: forward, then backward from g."""

    def step():
        x.grad = None
        module.zero_grad(set_to_none=True)
        module(x).backward(g)
        if x.is_cuda:
            torch.cuda.synchronize()

    return step


def numpy_step(module, x, g):
    def step():
        module.forward(x)
        module.backward(g)

    return step


def median_times(steps: dict, repeats: int) -> dict:
    """Median wall time (ms) of each step after one warm-up call each; the steps run in turns,
    starting each round with the next one, so none always runs first."""
    for step in steps.values():
        step()
    names = list(steps)
    times = {name: [] for name in names}
    for r in range(repeats):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            start = time.perf_counter()
            steps[name]()
            times[name].append(time.perf_counter() - start)
    return {name: 1e3 * statistics.median(t) for name, t in times.items()}


def run_case(name, shape, makers, device, repeats):
    make_ti, make_ref, make_np = makers
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(shape, generator=gen).to(device).requires_grad_(True)
    ref = make_ref().to(device)
    with torch.no_grad():
        out_shape = ref(x).shape  # a conv or pooling layer changes the shape
    g = torch.randn(out_shape, generator=gen).to(device)
    steps = {
        "torch_impl": torch_step(make_ti().to(device), x, g),
        "built-in": torch_step(ref, x, g),
    }
    if device.type == "cpu":
        steps["numpy_ref"] = numpy_step(make_np(), x.detach().numpy(), g.numpy())
    ms = median_times(steps, repeats)
    base = ms["built-in"]
    row = f"{name:<14} {'×'.join(map(str, shape)):<16} {device.type:<5} {base:9.1f} "
    row += f"{ms['torch_impl']:10.1f} {ms['torch_impl'] / base:6.2f}"
    if "numpy_ref" in ms:
        row += f" {ms['numpy_ref']:10.1f} {ms['numpy_ref'] / base:6.2f}"
    print(row, flush=True)


def run_optim_benchmark(threads):
    path = Path(__file__).with_name("optim_step.py")
    if not path.exists():
        print(f"\n({path.name} not found: no optimizer-step ratios)")
        return
    spec = importlib.util.spec_from_file_location("optim_step", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    print(f"\n{path.name}:")
    module.main(["--threads", str(threads)])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="timed repeats per variant")
    parser.add_argument(
        "--threads",
        type=int,
        default=lib.TORCH_THREADS,
        help="torch CPU threads (default: the book's %(default)s; use 1 on a busy machine)",
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    print(
        f"forward + backward, median of {args.repeats}, torch {torch.__version__}, "
        f"numpy {np.__version__}, {args.threads} CPU threads; times in ms, ratio = x / built-in"
    )
    print(
        f"{'layer':<14} {'input':<16} {'dev':<5} {'built-in':>9} {'torch_impl':>10} {'ratio':>6}"
        f" {'numpy_ref':>10} {'ratio':>6}"
    )
    for device in devices:
        for name, shape, makers in CASES:
            run_case(name, shape, makers, device, args.repeats)
    run_optim_benchmark(args.threads)


if __name__ == "__main__":
    main()
