"""Base class of the NumPy layers and the ``Sequential`` container.

Gradient storage: each layer allocates its ``grads`` arrays once (in ``add_param``) and every
``backward`` writes into them in place (``grads[name][...] = g``), overwriting the previous
gradient (no accumulation). So any dict that holds these arrays, an optimizer's included, always
sees the latest backward. ``Sequential.params`` / ``grads`` / ``buffers`` are flat dicts built on
access whose values are the layers' own array objects, so in-place updates reach the layers.
Never rebind a parameter (``layer.params["weight"] = new``); update it in place (``w[...] = new``).
"""

from __future__ import annotations

import numbers

import numpy as np

__all__ = [
    "Module",
    "Sequential",
    "as_float_array",
    "check_real",
    "check_rng",
    "is_real",
    "is_size",
]


def is_real(value) -> bool:
    """True for a real number (int, float, NumPy scalar); False for bool, str, arrays, None."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def is_size(value) -> bool:
    """True for an integer >= 1 (a layer or tensor size); False for 3.5, "3", True, 0."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= 1


def check_real(name: str, value, condition: str = "", ok=None) -> None:
    """ValueError unless ``value`` is a real number for which ``ok(value)`` holds; ``condition``
    says in words what is allowed, e.g. ``check_real("beta", beta, "> 0", lambda b: b > 0)``."""
    if not is_real(value):
        raise ValueError(f"{name} must be a real number {condition}".rstrip() + f", got {value!r}")
    if ok is not None and not ok(value):
        raise ValueError(f"{name} must be {condition}, got {value!r}")


def as_float_array(x, who: str) -> np.ndarray:
    """``x`` as a floating-point ndarray; TypeError naming ``who`` for any other dtype."""
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.floating):
        raise TypeError(f"{who} expects a floating-point array (e.g. float64), got dtype {x.dtype}")
    return x


def check_rng(rng, who: str) -> np.random.Generator:
    """Return ``rng`` if it is a ``np.random.Generator``; TypeError otherwise."""
    if not isinstance(rng, np.random.Generator):
        raise TypeError(
            f"{who} needs an explicit rng=np.random.Generator (e.g. np.random.default_rng(0)), "
            f"got {type(rng).__name__}"
        )
    return rng


class Module:
    """A layer: ``params``/``grads``/``buffers`` dicts, ``forward(x)``, ``backward(dout) -> dx``."""

    def __init__(self):
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.buffers: dict[str, np.ndarray] = {}
        self.training = True
        self._cache = None

    def add_param(self, name: str, value: np.ndarray) -> None:
        """Register a learnable array and its gradient array (allocated once, zero)."""
        self.params[name] = value
        self.grads[name] = np.zeros_like(value)

    def _set_grad(self, name: str, value: np.ndarray) -> None:
        self.grads[name][...] = value  # in place: holders of the grads dict see the new values

    def _check_dout(self, dout, shape) -> np.ndarray:
        """``dout`` as a float array of ``shape`` (the forward output's); ValueError otherwise."""
        dout = as_float_array(dout, f"{type(self).__name__}.backward dout")
        if dout.shape != tuple(shape):
            raise ValueError(
                f"{type(self).__name__}.backward expects dout of shape {tuple(shape)} (the shape "
                f"of its forward output), got {dout.shape}"
            )
        return dout

    def _saved(self):
        """What the last forward cached for backward; RuntimeError if there was none."""
        if self._cache is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before forward")
        return self._cache

    def forward(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def backward(self, dout: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.forward(x)

    def train(self, mode: bool = True) -> Module:
        """Set training mode (``mode=False`` is eval mode); returns self."""
        self.training = bool(mode)
        return self

    def eval(self) -> Module:
        return self.train(False)

    def zero_grad(self) -> None:
        for g in self.grads.values():
            g.fill(0.0)

    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.extra_repr()})"


class Sequential(Module):
    """Layers applied in order; ``backward`` runs them in reverse.

    ``params``, ``grads`` and ``buffers`` are flat dicts named like PyTorch's ``state_dict``
    (``"0.weight"``, ``"2.bias"``), built on access from the layers' own arrays.
    """

    def __init__(self, *layers: Module):
        for i, layer in enumerate(layers):
            if not isinstance(layer, Module):
                raise TypeError(
                    f"Sequential expects Module instances, got {type(layer).__name__} at {i}"
                )
        self.layers = list(layers)
        self.training = True

    def _flat(self, attr: str) -> dict[str, np.ndarray]:
        return {
            f"{i}.{name}": value
            for i, layer in enumerate(self.layers)
            for name, value in getattr(layer, attr).items()
        }

    @property
    def params(self) -> dict[str, np.ndarray]:
        return self._flat("params")

    @property
    def grads(self) -> dict[str, np.ndarray]:
        return self._flat("grads")

    @property
    def buffers(self) -> dict[str, np.ndarray]:
        return self._flat("buffers")

    def forward(self, x: np.ndarray) -> np.ndarray:
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def backward(self, dout: np.ndarray) -> np.ndarray:
        for layer in reversed(self.layers):
            dout = layer.backward(dout)
        return dout

    def train(self, mode: bool = True) -> Sequential:
        self.training = bool(mode)
        for layer in self.layers:
            layer.train(mode)
        return self

    def zero_grad(self) -> None:
        for layer in self.layers:
            layer.zero_grad()

    def __len__(self) -> int:
        return len(self.layers)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return Sequential(*self.layers[index])
        return self.layers[index]

    def __repr__(self) -> str:
        lines = [
            f"  ({i}): " + repr(layer).replace("\n", "\n  ") for i, layer in enumerate(self.layers)
        ]
        return "Sequential(\n" + "\n".join(lines) + "\n)"
