"""From-scratch NumPy reference: forward AND backward written by hand, float64 by default.

Modules: ``module`` (Module, Sequential), ``activations``, ``layers``, ``conv`` (Conv2d and the
pooling layers), ``norm``, ``losses``, ``init``, ``optim``, ``schedules``, ``gradcheck`` (numerical
gradients), ``mlp`` (MLP builder and a mini-batch training loop). Randomness comes only from an
explicit ``np.random.Generator`` (``rng``).
"""
