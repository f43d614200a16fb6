"""Tidy tables of the workflow: pure DataFrame functions (and the CSV reader and writer they share).

The jobs (:mod:`robuniv.jobs`) read the files and compute the measures; the functions here only shape,
aggregate and test tables, so they need neither torch nor HDF5. Measure names come from :mod:`robuniv.measures`.
"""
from __future__ import annotations

from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from . import measures as M
from .catalog import AGREE, AGREE_MATCHED, DISAGREE
from .settings import SpearmanSettings, SubgroupSettings
from .atomic import atomic_path
from .pair_rows import SIMILARITY_COLUMNS, similarity_records

ACCURACY_COLUMNS = ["dataset", "model", "arch", "eps", "clean_accuracy", "adversarial_accuracy",
                    "attack_eps", "attack_steps"]


def accuracy_rows(records: list[dict]) -> pd.DataFrame:
    """One row per (model, attack) from evaluation records; the model's own attack first."""
    rows = [{"dataset": r["dataset"], "model": r["model"], "arch": r["arch"], "eps": r["eps"],
             "clean_accuracy": r["clean_accuracy"], "adversarial_accuracy": a["adversarial_accuracy"],
             "attack_eps": a["attack_eps"], "attack_steps": a["attack_steps"]}
            for r in records for a in r["attacks"]]
    frame = pd.DataFrame(rows, columns=ACCURACY_COLUMNS)
    return frame.sort_values(["dataset", "model", "eps", "attack_eps"], kind="stable").reset_index(drop=True)


def write_csv(frame: pd.DataFrame, path) -> None:
    """Write a CSV through a temporary file and rename it."""
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)


class TableError(ValueError):
    """A table read back is not what the workflow wrote (a column missing, a key repeated, a value not a
    number): names the file."""


def read_csvs(paths: Iterable, columns: Sequence[str], *, required: Sequence[str] = (), keys: Sequence[str] = (),
              numeric: Sequence[str] = (), **read_options) -> pd.DataFrame:
    """Concatenated CSV tables (``read_options`` go to ``pd.read_csv``) with ``columns`` first (missing ones
    empty); no paths give an empty table with ``columns`` (a data set with one model has no pairs).

    Checked, naming the file (:class:`TableError`): every ``required`` column is there, every ``numeric``
    column holds numbers (empty or "nan" = missing), and no two rows of all files share their ``keys`` (a row
    pasted twice would be counted twice)."""
    frames, origin = [], []
    for path in paths:
        try:
            frame = pd.read_csv(path, **read_options)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
            raise TableError(f"{path}: not a readable CSV table ({err}); delete it and rerun the job that makes it")
        missing = [c for c in required if c not in frame.columns]
        if missing:
            raise TableError(f"{path}: column(s) {', '.join(missing)} missing (it has {', '.join(frame.columns)})")
        for column in (c for c in numeric if c in frame.columns):
            raw = frame[column]
            values = pd.to_numeric(raw, errors="coerce")
            text = raw.astype(str).str.strip()
            bad = values.isna() & raw.notna() & ~text.isin(["", "nan", "NaN"])
            if bad.any():
                row = int(np.flatnonzero(bad.to_numpy())[0])
                raise TableError(f"{path}: column '{column}', line {row + 2}: {text.iloc[row]!r} is not a number")
            frame[column] = values
        frames.append(frame)
        origin += [str(path)] * len(frame)
    if not frames:
        return pd.DataFrame(columns=list(columns))
    frame = pd.concat(frames, ignore_index=True)
    if keys:
        repeated = frame.duplicated(list(keys), keep=False).to_numpy()
        if repeated.any():
            rows = np.flatnonzero(repeated)
            where = sorted({origin[i] for i in rows})
            key = ", ".join(f"{k}={frame[k].iloc[rows[0]]}" for k in keys)
            raise TableError(f"{', '.join(where)}: {len(rows)} rows repeat the same {'/'.join(keys)} (first: "
                             f"{key}); a table edited by hand or copied in twice? Rerun the job that makes it")
    # tables written before a column existed get it as missing values; extra columns are kept, last
    return frame.reindex(columns=list(columns) + [c for c in frame.columns if c not in columns])


# ---------------------------------------------------------------- similarity (analyses 1-3, 7)
def similarity_rows(values: dict, **keys) -> pd.DataFrame:
    """Tidy rows (one per measure) of one comparison (:func:`robuniv.pair_rows.similarity_records`)."""
    return pd.DataFrame(similarity_records(values, **keys), columns=SIMILARITY_COLUMNS)


def annotate_measures(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with each measure's direction, variant and published flag from the registry."""
    entries = {name: M.measure(name) for name in frame["measure"].unique()}
    return frame.assign(direction=frame["measure"].map(lambda n: entries[n].direction),
                        variant=frame["measure"].map(lambda n: entries[n].variant),
                        published=frame["measure"].map(lambda n: entries[n].published).astype(bool))


def similarity_table(frame: pd.DataFrame) -> pd.DataFrame:
    """similarity.csv from the per-pair tables (read with ``keep_default_na=False``: source "" stays a string),
    sorted, with the registry's notes on each measure."""
    frame = frame.sort_values(["dataset", "inputs", "measure", "eps", "model_a", "model_b"], kind="stable")
    return annotate_measures(frame.reset_index(drop=True))


SPEARMAN_COLUMNS = ["dataset", "inputs", "measure", "spearman_rho", "p_value", "p_asymptotic", "p_permutation",
                    "n", "n_resamples"]


def spearman_permutation_pvalue(x, y, *, n_resamples: int = SpearmanSettings.n_resamples, seed: int = 0) -> float:
    """Two-sided permutation p-value of Spearman's ρ(x, y): ``scipy.stats.permutation_test`` permuting the
    pairings (exact when n! ≤ n_resamples)."""
    from scipy.stats import permutation_test, rankdata

    rank_x = rankdata(np.asarray(x, dtype=np.float64))
    rank_y = rankdata(np.asarray(y, dtype=np.float64))
    centred_x = rank_x - rank_x.mean()

    def rho(permuted_ranks_y, axis):
        centred_y = permuted_ranks_y - permuted_ranks_y.mean(axis=axis, keepdims=True)
        return (centred_y * centred_x).sum(axis=axis) / np.sqrt(
            (centred_y ** 2).sum(axis=axis) * (centred_x ** 2).sum())

    result = permutation_test((rank_y,), rho, permutation_type="pairings", vectorized=True,
                              n_resamples=n_resamples, alternative="two-sided", rng=np.random.default_rng(seed))
    return float(result.pvalue)


def spearman_table(frame: pd.DataFrame, *, n_resamples: int = SpearmanSettings.n_resamples,
                   seed: int = 0) -> pd.DataFrame:
    """Spearman's ρ of each measure's values against ε, per data set and input kind, with its permutation
    p-value (``p_value``, what the figures and the paper report; also ``p_permutation``: ``n_resamples`` seeded
    pairings, exact when n! ≤ n_resamples), the asymptotic p-value (``p_asymptotic``) and n."""
    from scipy.stats import spearmanr

    if n_resamples < 1:
        raise ValueError(f"n_resamples must be positive, got {n_resamples}")
    rows = []
    for (dataset, inputs, measure), group in frame.groupby(["dataset", "inputs", "measure"], sort=True):
        n = len(group)
        rho = p = p_perm = float("nan")
        if group["eps"].nunique() >= 2 and group["value"].nunique() >= 2:
            result = spearmanr(group["eps"], group["value"])
            rho, p = float(result.statistic), float(result.pvalue)
            p_perm = spearman_permutation_pvalue(group["eps"], group["value"], n_resamples=n_resamples, seed=seed)
        rows.append({"dataset": dataset, "inputs": inputs, "measure": measure, "spearman_rho": rho,
                     "p_value": p_perm, "p_asymptotic": p, "p_permutation": p_perm, "n": n, "n_resamples": n_resamples})
    return pd.DataFrame(rows, columns=SPEARMAN_COLUMNS)


# ---------------------------------------------------------------- subgroups (analysis 4)
PAIR_COLUMNS = ["dataset", "eps", "model_a", "model_b"]
SUBGROUP_TABLE_COLUMNS = PAIR_COLUMNS + ["subgroup", "measure", "value", "n_inputs", "std", "n_draws"]
SUBGROUP_TEST_COLUMNS = ["dataset", "eps", "measure", "n_pairs", "mean_agree", "mean_disagree", "statistic",
                         "p_value", "n_pairs_matched", "mean_agree_matched", "statistic_matched", "p_value_matched"]


def _paired_test(wide: pd.DataFrame, first: str, second: str, n_resamples: int, seed: int) -> dict:
    from .analyses import paired_permutation_test

    if first not in wide or second not in wide:
        return {"n": 0, "mean": float("nan"), "statistic": float("nan"), "p_value": float("nan")}
    both = wide[[first, second]].dropna()  # pairs with a missing subgroup are left out
    out = {"n": len(both), "mean": both[first].mean(), "statistic": float("nan"), "p_value": float("nan")}
    if len(both) >= 2:
        test = paired_permutation_test(both[first], both[second], n_resamples=n_resamples, seed=seed)
        out.update(statistic=test["statistic"], p_value=test["p_value"])
    return out


def subgroup_test_table(subgroups: pd.DataFrame, settings: Mapping[str, SubgroupSettings]) -> pd.DataFrame:
    """Paired permutation tests per (data set, ε, measure): agree vs disagree (the paper's) and
    agree_matched vs disagree (the size control), with ``settings[dataset]``'s n_resamples and seed."""
    rows = []
    for (dataset, eps, measure), group in subgroups.groupby(["dataset", "eps", "measure"], sort=True):
        wide = group.pivot_table(index=["model_a", "model_b"], columns="subgroup", values="value", dropna=False)
        n_resamples, seed = settings[dataset].n_resamples, settings[dataset].seed
        raw = _paired_test(wide, AGREE, DISAGREE, n_resamples, seed)
        matched = _paired_test(wide, AGREE_MATCHED, DISAGREE, n_resamples, seed)
        mean_disagree = wide[[AGREE, DISAGREE]].dropna()[DISAGREE].mean() if raw["n"] else float("nan")
        rows.append({"dataset": dataset, "eps": eps, "measure": measure, "n_pairs": raw["n"], "mean_agree": raw["mean"],
                     "mean_disagree": mean_disagree, "statistic": raw["statistic"], "p_value": raw["p_value"],
                     "n_pairs_matched": matched["n"], "mean_agree_matched": matched["mean"],
                     "statistic_matched": matched["statistic"], "p_value_matched": matched["p_value"]})
    return pd.DataFrame(rows, columns=SUBGROUP_TEST_COLUMNS)


# ---------------------------------------------------------------- probes (analysis 5)
PROBE_COLUMNS = ["dataset", "kind", "eps", "model_a", "model_b", "seed", "agreement"]


def probe_table(probes: Mapping, similarity: pd.DataFrame) -> pd.DataFrame:
    """Probe-probe agreement per pair and probe seed, beside the original classifiers' agreement (from
    similarity.csv's regular rows) at ε = 0 and at the probes' ε."""
    regular = similarity[(similarity["inputs"] == "regular") & (similarity["measure"] == M.AGREEMENT)]
    rows = []
    for dataset, by_model in probes.items():
        models = list(by_model)
        probe_eps = float(next(iter(by_model.values()))[1])
        for i, a in enumerate(models):
            for b in models[i + 1:]:
                for seed in range(by_model[a][0].shape[0]):
                    agree = float((by_model[a][0][seed].argmax(1) == by_model[b][0][seed].argmax(1)).mean())
                    rows.append({"dataset": dataset, "kind": f"probes ε={probe_eps:g}", "eps": probe_eps,
                                 "model_a": a, "model_b": b, "seed": seed, "agreement": agree})
        for eps in sorted({0.0, probe_eps}):
            sub = regular[(regular["dataset"] == dataset) & (regular["eps"] == eps)]
            for r in sub.itertuples():
                rows.append({"dataset": dataset, "kind": f"pretrained ε={eps:g}", "eps": eps, "model_a": r.model_a,
                             "model_b": r.model_b, "seed": -1, "agreement": r.value})
    return pd.DataFrame(rows, columns=PROBE_COLUMNS)


# ---------------------------------------------------------------- agreement bounds (analysis 6)
BOUNDS_COLUMNS = ["dataset", "eps", "model_a", "model_b", "agreement", "clean_accuracy_a", "clean_accuracy_b",
                  "fort_lower", "fort_upper", "fort_applies", "error_a", "error_b", "error_lower", "error_upper"]


def agreement_bounds_table(similarity: pd.DataFrame, accuracy: Mapping, errors: Mapping,
                           num_classes: Mapping[str, int]) -> pd.DataFrame:
    """Each regular pair's agreement beside Fort et al.'s bounds (from clean accuracies) and the error-rate
    limits (from the error rates on the compared inputs)."""
    from .analyses import error_rate_limits, fort_agreement_bounds

    regular = similarity[(similarity["inputs"] == "regular") & (similarity["measure"] == M.AGREEMENT)]
    rows = []
    for r in regular.itertuples():
        key_a, key_b = (r.dataset, r.model_a, float(r.eps)), (r.dataset, r.model_b, float(r.eps))
        acc_a, acc_b = accuracy[key_a], accuracy[key_b]
        lower, upper = fort_agreement_bounds(acc_a, acc_b, num_classes[r.dataset])
        e_a, e_b = errors[key_a], errors[key_b]
        e_lower, e_upper = error_rate_limits(e_a, e_b)
        rows.append({"dataset": r.dataset, "eps": r.eps, "model_a": r.model_a, "model_b": r.model_b,
                     "agreement": r.value, "clean_accuracy_a": acc_a, "clean_accuracy_b": acc_b,
                     "fort_lower": lower, "fort_upper": upper,
                     # fort_agreement_bounds leaves them missing at or below chance (1/C): say so
                     "fort_applies": not np.isnan(lower),
                     "error_a": e_a, "error_b": e_b,
                     "error_lower": e_lower, "error_upper": e_upper})
    return pd.DataFrame(rows, columns=BOUNDS_COLUMNS)
