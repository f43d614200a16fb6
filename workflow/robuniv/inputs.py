"""The inputs every model is compared on: target images and, per target, a seed of a different class."""
from __future__ import annotations

import numpy as np


def sample_pairs(labels: np.ndarray, n_inputs: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n_inputs`` target indices into the evaluation pool and one seed index of another class each.

    Targets are drawn without replacement; each seed is drawn uniformly from the pool's images whose
    label differs from its target's. Deterministic in ``seed``; the same pairs serve every model and ε.
    """
    labels = np.asarray(labels)
    if labels.ndim != 1 or len(labels) == 0:
        raise ValueError("labels must be a non-empty 1-D array")
    if not 1 <= n_inputs <= len(labels):
        raise ValueError(f"n_inputs must be in 1..{len(labels)} (the evaluation pool's size), got {n_inputs}")
    if len(np.unique(labels)) < 2:
        raise ValueError("the evaluation pool has a single class: no seed of a different class exists")
    rng = np.random.default_rng(seed)
    targets = np.sort(rng.choice(len(labels), size=n_inputs, replace=False))
    seeds = np.empty(n_inputs, dtype=np.int64)
    for i, t in enumerate(targets):
        others = np.flatnonzero(labels != labels[t])
        seeds[i] = others[rng.integers(len(others))]
    return targets.astype(np.int64), seeds
