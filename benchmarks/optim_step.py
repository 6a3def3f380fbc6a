"""Time one optimizer step on ~1M parameters: our implementations vs torch.optim, as ratios.

4 float32 tensors of 512×512 (1,048,576 parameters) with random gradients. For SGD(momentum=0.9)
and Adam it times ``step()`` of lib.torch_impl, torch.optim with foreach=False (a per-tensor loop,
like ours) and torch.optim's default (foreach on CUDA, the per-tensor loop on CPU), and, on CPU,
lib.numpy_ref. Implementations are interleaved and the median of several repeats is kept, so a
shared machine's noise hits all of them alike. Ratio > 1 means slower than the built-in.

    python benchmarks/optim_step.py              # CPU, torch threads = lib.TORCH_THREADS
    python benchmarks/optim_step.py --threads 1  # a busy machine: avoid OpenMP contention
    python benchmarks/optim_step.py --device cuda
"""

from __future__ import annotations

import argparse
import statistics
import time
from functools import partial

import numpy as np
import torch

import lib
import lib.numpy_ref.optim as nref
import lib.torch_impl.optim as timpl

SHAPES = [(512, 512)] * 4
CONFIGS = {"SGD-momentum": ("SGD", dict(lr=0.01, momentum=0.9)), "Adam": ("Adam", dict(lr=1e-3))}


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def _torch_stepper(make_opt, device, rng):
    params = [torch.zeros(s, device=device, requires_grad=True) for s in SHAPES]
    for p in params:
        p.grad = torch.tensor(rng.standard_normal(p.shape, dtype=np.float32), device=device)
    opt = make_opt(params)

    def step():
        opt.step()
        _sync(device)

    return step


def _numpy_stepper(name, kwargs, rng):
    params = {f"p{i}": np.zeros(s, dtype=np.float32) for i, s in enumerate(SHAPES)}
    grads = {k: rng.standard_normal(v.shape, dtype=np.float32) for k, v in params.items()}
    opt = getattr(nref, name)(params, **kwargs)
    return lambda: opt.step(grads)


def time_steps(steppers: dict, steps=10, repeats=7, warmup=3) -> dict[str, float]:
    """Median seconds per step of each stepper, timed in interleaved rounds (order rotated)."""
    for step in steppers.values():
        for _ in range(warmup):
            step()
    names = list(steppers)
    samples = {name: [] for name in names}
    for r in range(repeats):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            step = steppers[name]
            start = time.perf_counter()
            for _ in range(steps):
                step()
            samples[name].append((time.perf_counter() - start) / steps)
    return {name: statistics.median(s) for name, s in samples.items()}


def measure(device="cpu", steps=10, repeats=7) -> dict[str, dict[str, float]]:
    """{config: {implementation: seconds per step}} for SGD-momentum and Adam."""
    device = torch.device(device)
    rng = np.random.default_rng(0)
    results = {}
    for label, (name, kwargs) in CONFIGS.items():
        builtin = getattr(torch.optim, name)
        steppers = {
            "torch.optim (default)": _torch_stepper(partial(builtin, **kwargs), device, rng),
            "torch.optim (foreach=False)": _torch_stepper(
                partial(builtin, **kwargs, foreach=False), device, rng
            ),
            "lib.torch_impl": _torch_stepper(partial(getattr(timpl, name), **kwargs), device, rng),
        }
        if device.type == "cpu":
            steppers["lib.numpy_ref"] = _numpy_stepper(name, kwargs, rng)
        results[label] = time_steps(steppers, steps, repeats)
    return results


def main(argv=None) -> dict[str, dict[str, float]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")
    parser.add_argument(
        "--threads",
        type=int,
        default=lib.TORCH_THREADS,
        help="torch CPU threads (default: the book's %(default)s; use 1 on a busy machine, where "
        "OpenMP threads fight over the cores and every torch op slows down many times)",
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    n_params = sum(int(np.prod(s)) for s in SHAPES)
    print(
        f"optimizer step on {n_params:,} float32 parameters ({len(SHAPES)} tensors), "
        f"device={args.device}, torch threads={torch.get_num_threads()}"
    )
    results = measure(args.device)
    header = ["optimizer", "implementation", "ms/step", "vs default", "vs foreach=False"]
    print(f"{header[0]:<14}{header[1]:<30}{header[2]:>9}{header[3]:>12}{header[4]:>18}")
    for label, times in results.items():
        default, loop = times["torch.optim (default)"], times["torch.optim (foreach=False)"]
        for impl, seconds in times.items():
            print(
                f"{label:<14}{impl:<30}{1e3 * seconds:>9.3f}{seconds / default:>11.2f}×"
                f"{seconds / loop:>17.2f}×"
            )
    return results


if __name__ == "__main__":
    main()
