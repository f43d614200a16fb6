"""The paper's further analyses (docs/method.md, analyses 4-6) as pure functions: agreement bounds, agree/disagree
subgroups with a paired permutation test, and linear probes on frozen features.
"""
from __future__ import annotations

import math
from typing import Optional, Sequence

import numpy as np
import pandas as pd
import torch

from . import catalog, measures as M
from .catalog import AGREE, AGREE_MATCHED, DISAGREE
from .settings import ProbeSettings, SimilaritySettings, SubgroupSettings


# ---------------------------------------------------------------- agreement bounds (analysis 6)
def fort_agreement_bounds(acc_1: float, acc_2: float, num_classes: int) -> tuple[float, float]:
    """Fort et al. (2019) lower and upper agreement of two classifiers with clean accuracies a ≤ a*.

    upper = 1 - (C-1)(a* - a) / (C a* - 1);
    lower = 1 - [(1-a*) a + (1-a) a* + (1-a*)(1-a)(C-2)/(C-1)].
    The order of the two accuracies does not matter (they are sorted first). The bounds hold only for
    classifiers above chance: where an accuracy is at most 1/C both are NaN (the formulas leave [0, 1] there).
    """
    if num_classes < 2:
        raise ValueError(f"num_classes must be >= 2, got {num_classes}")
    for name, acc in (("acc_1", acc_1), ("acc_2", acc_2)):
        if not 0 <= acc <= 1:
            raise ValueError(f"{name} must be in [0, 1], got {acc}")
    a, a_star = sorted((float(acc_1), float(acc_2)))
    c = num_classes
    if a <= 1 / c:
        return math.nan, math.nan
    denominator = c * a_star - 1
    upper = 1.0 if denominator == 0 else 1 - (c - 1) * (a_star - a) / denominator
    lower = 1 - ((1 - a_star) * a + (1 - a) * a_star + (1 - a_star) * (1 - a) * (c - 2) / (c - 1))
    return lower, upper


def error_rate_limits(err_1: float, err_2: float) -> tuple[float, float]:
    """Limits on agreement from the error rates on the compared inputs (Klabunde & Lemmerich 2023):
    |e1 - e2| ≤ disagreement ≤ min(e1 + e2, 1), i.e. 1 - min(e1 + e2, 1) ≤ agreement ≤ 1 - |e1 - e2|."""
    for name, err in (("err_1", err_1), ("err_2", err_2)):
        if not 0 <= err <= 1:
            raise ValueError(f"{name} must be in [0, 1], got {err}")
    return 1 - min(err_1 + err_2, 1.0), 1 - abs(err_1 - err_2)


# ---------------------------------------------------------------- subgroups (analysis 4)
def agreement_mask(logits_a, logits_b) -> np.ndarray:
    """True where the two models predict the same class."""
    la, lb = np.asarray(logits_a), np.asarray(logits_b)
    if la.shape != lb.shape or la.ndim != 2:
        raise ValueError(f"logits must be two N x C arrays of one shape, got {la.shape} and {lb.shape}")
    return la.argmax(axis=1) == lb.argmax(axis=1)


def paired_permutation_test(x: Sequence[float], y: Sequence[float], *, n_resamples: int = SubgroupSettings.n_resamples,
                            seed: int = 0) -> dict:
    """Paired permutation test of mean(x) - mean(y) (two-sided), as
    ``scipy.stats.permutation_test((x, y), ..., permutation_type="samples")`` with the same seed."""
    from scipy.stats import permutation_test

    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1 or len(x) < 2:
        raise ValueError(f"x and y must be paired 1-D samples of length >= 2, got {x.shape} and {y.shape}")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise ValueError("x and y must be finite (drop missing subgroups first)")

    def mean_difference(a, b, axis):
        return np.mean(a, axis=axis) - np.mean(b, axis=axis)

    result = permutation_test((x, y), mean_difference, permutation_type="samples", vectorized=True,
                              n_resamples=n_resamples, alternative="two-sided",
                              rng=np.random.default_rng(seed))
    return {"statistic": float(result.statistic), "p_value": float(result.pvalue), "n_pairs": int(len(x)),
            "n_resamples": n_resamples}


# ---------------------------------------------------------------- linear probes (analysis 5)
def _in_memory_batches(x, y, batch_size, generator):
    order = torch.randperm(len(x), generator=generator)
    for start in range(0, len(x), batch_size):
        batch = order[start:start + batch_size]
        yield x[batch], y[batch]


def _blocks(n, block):
    return [(b * block, min(n, (b + 1) * block)) for b in range(math.ceil(n / block))]


def _streamed_batches(features, y, batch_size, generator, block, keep=None):
    """Batches from an on-disk N x D array (an h5py dataset): blocks of ``block`` consecutive rows in random
    order, each read once per epoch and shuffled inside (``keep``: only the rows it marks). Only one block is
    ever in memory."""
    blocks = _blocks(len(y), block)
    for b in torch.randperm(len(blocks), generator=generator).tolist():
        start, stop = blocks[b]
        xb = torch.as_tensor(np.asarray(features[start:stop]), dtype=torch.float32)
        if not torch.isfinite(xb).all():
            raise ValueError(f"features rows {start}-{stop - 1} contain NaN or inf")
        yb = y[start:stop]
        if keep is not None:
            rows = torch.from_numpy(keep[start:stop])
            xb, yb = xb[rows], yb[rows]
        yield from _in_memory_batches(xb, yb, batch_size, generator)


def train_linear_probe(features, labels: np.ndarray, num_classes: int, *,
                       epochs: int = ProbeSettings.epochs, batch_size: int = ProbeSettings.batch_size,
                       lr: float = ProbeSettings.lr, final_lr: float = ProbeSettings.final_lr, seed: int = 0,
                       device: str | torch.device = "cpu", block_batches: int = 64,
                       exclude: Optional[np.ndarray] = None) -> torch.nn.Linear:
    """A fresh Linear(D, C) on frozen features: Adam, cosine schedule from ``lr`` to ``final_lr`` over
    ``epochs`` (stepped per batch), cross-entropy (docs/method.md, analysis 5).

    ``features`` is an N x D array in memory, or an array on disk (an h5py dataset): then it is streamed in
    shuffled blocks of ``block_batches`` batches (ImageNet's 1.28M x 4096 features would need 21 GB in memory).
    ``exclude``: rows left out of training (the inputs the probe is evaluated on, where they are training
    images), as if they were not in ``features``.
    """
    y = torch.as_tensor(np.asarray(labels), dtype=torch.long)
    in_memory = isinstance(features, (np.ndarray, torch.Tensor, list))
    shape = tuple(np.shape(features)) if in_memory else tuple(features.shape)
    if len(shape) != 2 or shape[0] != len(y) or shape[0] == 0:
        raise ValueError(f"features must be N x D with one label each, got {shape} and {tuple(y.shape)}")
    keep = None
    if exclude is not None and len(exclude):
        keep = np.ones(shape[0], dtype=bool)
        keep[np.asarray(exclude, dtype=np.int64)] = False
        if not keep.any():
            raise ValueError("every training row is excluded: the probe has nothing to learn from")
    if in_memory:
        x = torch.as_tensor(np.asarray(features), dtype=torch.float32)
        if not torch.isfinite(x).all():
            raise ValueError("features contain NaN or inf")
        if keep is not None:
            x, y = x[torch.from_numpy(keep)], y[torch.from_numpy(keep)]
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    probe = torch.nn.Linear(shape[1], num_classes).to(device)
    optimizer = torch.optim.Adam(probe.parameters(), lr=lr)
    block = batch_size * block_batches  # a multiple of the batch: the same number of steps as in memory
    if in_memory or keep is None:
        steps_per_epoch = math.ceil(len(y) / batch_size)
    else:  # blocks lose rows unevenly: count each block's batches
        steps_per_epoch = sum(math.ceil(int(keep[a:b].sum()) / batch_size) for a, b in _blocks(shape[0], block))
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs * steps_per_epoch, eta_min=final_lr)
    for _ in range(epochs):
        batches = (_in_memory_batches(x, y, batch_size, generator) if in_memory
                   else _streamed_batches(features, y, batch_size, generator, block, keep))
        for xb, yb in batches:
            loss = torch.nn.functional.cross_entropy(probe(xb.to(device)), yb.to(device))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
    return probe.eval()


@torch.no_grad()
def probe_logits(probe: torch.nn.Linear, features: np.ndarray) -> np.ndarray:
    weight = probe.weight
    return probe(torch.as_tensor(np.asarray(features), dtype=torch.float32, device=weight.device)).cpu().numpy()


SUBGROUPS = tuple(catalog.SUBGROUPS)
SUBGROUP_COLUMNS = ["subgroup", "measure", "value", "std", "n_inputs", "n_draws"]


subgroup_measure_names = M.subgroup_measure_names  # the measures of analysis 4 (registry flags)


def subgroup_measures(reps_a, reps_b, mask: np.ndarray, *, minimum: int, k: int = SubgroupSettings.k,
                      rtd_trials: int = SimilaritySettings.rtd_trials, rtd_batch: int = SimilaritySettings.rtd_batch,
                      rtd_seed: int = SimilaritySettings.rtd_seed, matched_draws: int = SubgroupSettings.matched_draws,
                      matched_seed: int = SubgroupSettings.seed, with_rtd: bool = True) -> pd.DataFrame:
    """Representational measures computed afresh on the agreeing and the disagreeing inputs, plus a
    size-matched control (beyond the paper).

    Subgroups: ``agree`` (mask true), ``disagree`` (mask false) and ``agree_matched``: the mean over
    ``matched_draws`` random agreeing subsets of the disagreeing subset's size (drawn with
    ``matched_seed``), with the draws' standard deviation in ``std``. Several measures score a smaller
    subset higher on identically distributed data (biased CKA, ProcrustesSim, Jaccard@k), so
    agree_matched vs disagree separates agreement from subset size. RTD already draws ``rtd_batch``
    inputs per trial; its agree_matched value is RTD on the agreeing inputs with the batch capped at the
    disagreeing subset's size, i.e. its trials are the matched draws (``std`` is NaN there).

    A subset smaller than ``minimum`` (or than k + 1, or 4) gives NaN (missing); agree_matched is missing
    too when there are fewer agreeing than disagreeing inputs. Returns one row per (subgroup, measure)
    with columns :data:`SUBGROUP_COLUMNS`.
    """
    reps_a, reps_b = np.asarray(reps_a), np.asarray(reps_b)
    mask = np.asarray(mask, dtype=bool)
    if mask.ndim != 1 or len(mask) != len(reps_a) or len(reps_a) != len(reps_b):
        raise ValueError("reps_a, reps_b and mask must have one row per input")
    if not isinstance(matched_draws, (int, np.integer)) or matched_draws < 1:
        raise ValueError(f"matched_draws must be a positive integer, got {matched_draws!r}")
    names = subgroup_measure_names(k)
    smallest = max(minimum, k + 1, 4)
    rtd_options = dict(trials=rtd_trials, batch=rtd_batch, seed=rtd_seed, enabled=with_rtd)
    agree_rows, disagree_rows = np.flatnonzero(mask), np.flatnonzero(~mask)
    n_disagree = len(disagree_rows)

    records = []
    for group, rows in ((AGREE, agree_rows), (DISAGREE, disagree_rows)):
        values = {}
        if len(rows) >= smallest:
            values = _measures_on(reps_a, reps_b, rows, names, k) | {
                M.RTD: _rtd_on(reps_a, reps_b, rows, len(rows), **rtd_options)}
        records += _subgroup_records(group, names, values, {}, len(rows), 1, rtd_trials)

    values, stds = {}, {}
    if smallest <= n_disagree <= len(agree_rows):
        values, stds = _matched_draws(reps_a, reps_b, agree_rows, n_disagree, names, k, matched_draws, matched_seed)
        values[M.RTD] = _rtd_on(reps_a, reps_b, agree_rows, n_disagree, **rtd_options)
    records += _subgroup_records(AGREE_MATCHED, names, values, stds, n_disagree, matched_draws if values else 0,
                                 rtd_trials)
    return pd.DataFrame(records, columns=SUBGROUP_COLUMNS)


def _measures_on(reps_a: np.ndarray, reps_b: np.ndarray, rows: np.ndarray, names: list[str], k: int) -> dict:
    """Every measure of ``names`` but RTD (computed on its own) on the inputs ``rows``."""
    from . import similarity as S

    values = S.compare_representations(reps_a[rows], reps_b[rows], ks=(k,), with_rtd=False)
    return {name: values[name] for name in names if name != M.RTD}


def _rtd_on(reps_a: np.ndarray, reps_b: np.ndarray, rows: np.ndarray, max_batch: int, *, trials: int, batch: int,
            seed: int, enabled: bool) -> float:
    """RTD on the inputs ``rows`` with at most ``max_batch`` inputs per trial; NaN when not ``enabled``.
    One process: the subgroups of many pairs already run in parallel jobs."""
    from . import similarity as S

    if not enabled:
        return float("nan")
    return S.rtd(reps_a[rows], reps_b[rows], trials=trials, batch=min(batch, max_batch), seed=seed, n_jobs=1)


def _matched_draws(reps_a: np.ndarray, reps_b: np.ndarray, agree_rows: np.ndarray, size: int, names: list[str],
                   k: int, draws: int, seed: int) -> tuple[dict, dict]:
    """Mean and standard deviation (ddof 1; NaN for one draw) of each measure but RTD over ``draws`` random
    subsets of ``size`` agreeing inputs (drawn with ``seed``, each in input order)."""
    rng = np.random.default_rng(seed)
    per_draw = [_measures_on(reps_a, reps_b, np.sort(rng.choice(agree_rows, size=size, replace=False)), names, k)
                for _ in range(draws)]
    means, stds = {}, {}
    for name in per_draw[0]:
        values = np.array([d[name] for d in per_draw])
        means[name] = float(values.mean())
        stds[name] = float(values.std(ddof=1)) if len(values) > 1 else float("nan")
    return means, stds


def _subgroup_records(group: str, names: list[str], values: dict, stds: dict, n_inputs: int, n_draws: int,
                      rtd_trials: int) -> list[dict]:
    """One output row per measure of ``group``; a measure without a value is NaN. RTD of a computed
    agree_matched counts its trials as the draws."""
    records = []
    for name in names:
        draws = rtd_trials if (name == M.RTD and group == AGREE_MATCHED and n_draws) else n_draws
        records.append({"subgroup": group, "measure": name, "value": values.get(name, float("nan")),
                        "std": stds.get(name, float("nan")), "n_inputs": n_inputs, "n_draws": draws})
    return records
