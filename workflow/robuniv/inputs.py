"""The inputs every model is compared on: target images and, per target, a seed of a different class."""
from __future__ import annotations

import numbers

import numpy as np


def sample_pairs(labels: np.ndarray, n_inputs: int, seed: int = 0, *,
                 pool: str = "the input pool") -> tuple[np.ndarray, np.ndarray]:
    """``n_inputs`` target indices into the input pool and one seed index of another class each.

    ``labels`` are the labels of the pool (a data set's ``eval`` split, or its ``train`` split where the
    eval split is smaller than N, as ImageNet100 in the paper); ``pool`` names it in error messages.
    Targets are drawn without replacement; each seed is drawn uniformly from the pool's images whose
    label differs from its target's. Deterministic in ``seed``; the same pairs serve every model and ε.
    """
    labels = np.asarray(labels)
    if labels.ndim != 1 or len(labels) == 0:
        raise ValueError(f"labels of {pool} must be a non-empty 1-D array")
    if isinstance(n_inputs, bool) or not isinstance(n_inputs, numbers.Integral):
        raise ValueError(f"n_inputs must be an integer, got {n_inputs!r}")
    if n_inputs < 1:
        raise ValueError(f"n_inputs must be at least 1, got {n_inputs}")
    if n_inputs > len(labels):
        raise ValueError(f"n_inputs = {n_inputs} exceeds the {len(labels)} images of {pool}: sample from "
                         f"a larger split (e.g. the train split) or lower n_inputs")
    if len(np.unique(labels)) < 2:
        raise ValueError(f"{pool} has a single class: no seed of a different class exists")
    rng = np.random.default_rng(seed)
    targets = np.sort(rng.choice(len(labels), size=n_inputs, replace=False))
    # The r-th index (ascending) whose label is not c, without listing them: with p the ascending positions
    # of class c, the non-c indices before p[j] number p[j] - j, so the answer is r + #{j: p[j] - j <= r}.
    members = {c: np.flatnonzero(labels == c) for c in np.unique(labels[targets])}
    gaps = {c: p - np.arange(len(p)) for c, p in members.items()}
    seeds = np.empty(n_inputs, dtype=np.int64)
    for i, t in enumerate(targets):
        c = labels[t]
        r = int(rng.integers(len(labels) - len(members[c])))
        seeds[i] = r + int(np.searchsorted(gaps[c], r, side="right"))
    return targets.astype(np.int64), seeds
