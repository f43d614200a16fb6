"""Tidy tables written by the workflow: each script reads its inputs, calls one function here, writes CSV.

Measure names come from :mod:`robuniv.measures`; torch is imported only by the functions that compute
measures, so aggregating tables stays light.
"""
from __future__ import annotations

import json
from typing import Iterable, Mapping, Optional, Sequence

import numpy as np
import pandas as pd

from . import measures as M
from .settings import FigureSettings, SubgroupSettings
from .atomic import atomic_path

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


def read_csvs(paths: Iterable, columns: Sequence[str], **read_options) -> pd.DataFrame:
    """Concatenated CSV tables (``read_options`` go to ``pd.read_csv``) with ``columns`` first (missing ones
    empty); no paths give an empty table with ``columns`` (a data set with one model has no pairs)."""
    frames = [pd.read_csv(p, **read_options) for p in paths]
    if not frames:
        return pd.DataFrame(columns=list(columns))
    frame = pd.concat(frames, ignore_index=True)
    # tables written before a column existed get it as missing values; extra columns are kept, last
    return frame.reindex(columns=list(columns) + [c for c in frame.columns if c not in columns])


# ---------------------------------------------------------------- similarity (analyses 1-3, 7)
SIMILARITY_COLUMNS = ["dataset", "eps", "inputs", "source", "model_a", "model_b", "measure", "value"]
MEASURE_COLUMNS = ["direction", "variant", "published"]  # from the registry, added to similarity.csv


def similarity_rows(values: dict, *, dataset: str, eps: float, inputs: str, source: str, model_a: str,
                    model_b: str) -> pd.DataFrame:
    """Tidy rows (one per measure) of one comparison; every measure must be in the registry."""
    for measure in values:
        M.measure(measure)  # unknown names raise
    rows = [{"dataset": dataset, "eps": eps, "inputs": inputs, "source": source, "model_a": model_a,
             "model_b": model_b, "measure": measure, "value": float(value)} for measure, value in values.items()]
    return pd.DataFrame(rows, columns=SIMILARITY_COLUMNS)


def _names(act_a: dict, act_b: dict, names: Optional[Sequence[str]]) -> tuple:
    """What errors call the two activation sets: ``names``, else the files they were read from."""
    if names is not None:
        return tuple(names)
    return act_a.get("path", "act_a"), act_b.get("path", "act_b")


def _check_same_inputs(act_a: dict, act_b: dict, names: Optional[Sequence[str]] = None) -> None:
    names = _names(act_a, act_b, names)
    index_a, index_b = np.asarray(act_a["index"]), np.asarray(act_b["index"])
    if index_a.shape != index_b.shape or (index_a != index_b).any():
        what = (f"{index_b.shape[0]} inputs vs {index_a.shape[0]}" if index_a.shape != index_b.shape else
                f"first differing row {int(np.flatnonzero(index_a != index_b)[0])}")
        raise ValueError(f"{names[1]}: its inputs differ from {names[0]}'s (index mismatch, {what}); "
                         "rerun the jobs that made them from the same inputs.h5")


def pair_similarity_table(act_a: dict, act_b: dict, graph_a, graph_b, *, settings: Mapping, inputs: str,
                          dataset: str, eps: float, model_a: str, model_b: str, device=None,
                          threads: Optional[int] = None, names: Optional[Sequence[str]] = None) -> pd.DataFrame:
    """Every measure of one model pair on one input set (activations as from ``h5io.read_activations``,
    kNN graphs as from ``h5io.read_knn``), as tidy rows. ``settings``: jaccard_k, rtd_trials, rtd_batch,
    rtd_seed, rtd. Inverted inputs are model A's, recorded in ``source``. Errors name ``names`` (default: the
    files the activations were read from)."""
    import torch

    from .similarity import compare_pair

    names = _names(act_a, act_b, names)
    _check_same_inputs(act_a, act_b, names)
    reps_a, reps_b = (torch.from_numpy(np.ascontiguousarray(x["representations"])) for x in (act_a, act_b))
    if device is not None:
        reps_a, reps_b = reps_a.to(device), reps_b.to(device)
    try:
        values = compare_pair(act_a["logits"], act_b["logits"], reps_a, reps_b, ks=settings["jaccard_k"],
                              graphs_a=graph_a, graphs_b=graph_b, rtd_trials=settings["rtd_trials"],
                              rtd_batch=settings["rtd_batch"], rtd_seed=settings["rtd_seed"],
                              with_rtd=settings["rtd"], rtd_jobs=threads)
    except ValueError as err:
        raise ValueError(f"comparing {names[0]} with {names[1]}: {err}") from err
    return similarity_rows(values, dataset=dataset, eps=float(eps), inputs=inputs,
                           source=model_a if inputs == "inverted" else "", model_a=model_a, model_b=model_b)


def annotate_measures(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with each measure's direction, variant and published flag from the registry."""
    entries = {name: M.measure(name) for name in frame["measure"].unique()}
    return frame.assign(direction=frame["measure"].map(lambda n: entries[n].direction),
                        variant=frame["measure"].map(lambda n: entries[n].variant),
                        published=frame["measure"].map(lambda n: entries[n].published).astype(bool))


def similarity_table(paths: Iterable) -> pd.DataFrame:
    """similarity.csv: every per-pair table, sorted, with the registry's notes on each measure."""
    frame = read_csvs(paths, SIMILARITY_COLUMNS, keep_default_na=False)  # source "" stays a string
    frame = frame.sort_values(["dataset", "inputs", "measure", "eps", "model_a", "model_b"], kind="stable")
    return annotate_measures(frame.reset_index(drop=True))


SPEARMAN_COLUMNS = ["dataset", "inputs", "measure", "spearman_rho", "p_value", "p_asymptotic", "p_permutation",
                    "n", "n_resamples"]


def spearman_permutation_pvalue(x, y, *, n_resamples: int = FigureSettings.n_resamples, seed: int = 0) -> float:
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


def spearman_table(frame: pd.DataFrame, *, n_resamples: int = FigureSettings.n_resamples,
                   seed: int = 0) -> pd.DataFrame:
    """Spearman's ρ of each measure's values against ε, per data set and input kind, with its asymptotic
    p-value (``p_asymptotic``; ``p_value`` is the same number, kept for older readers), a permutation
    p-value (``p_permutation``: ``n_resamples`` seeded pairings, exact when n! ≤ n_resamples) and n."""
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
        rows.append({"dataset": dataset, "inputs": inputs, "measure": measure, "spearman_rho": rho, "p_value": p,
                     "p_asymptotic": p, "p_permutation": p_perm, "n": n, "n_resamples": n_resamples})
    return pd.DataFrame(rows, columns=SPEARMAN_COLUMNS)


# ---------------------------------------------------------------- subgroups (analysis 4)
PAIR_COLUMNS = ["dataset", "eps", "model_a", "model_b"]
SUBGROUP_TABLE_COLUMNS = PAIR_COLUMNS + ["subgroup", "measure", "value", "n_inputs", "std", "n_draws"]
SUBGROUP_TEST_COLUMNS = ["dataset", "eps", "measure", "n_pairs", "mean_agree", "mean_disagree", "statistic",
                         "p_value", "n_pairs_matched", "mean_agree_matched", "statistic_matched", "p_value_matched"]


def pair_subgroup_table(act_a: dict, act_b: dict, *, dataset: str, eps: float, model_a: str, model_b: str,
                        subgroups: Mapping, similarity: Mapping) -> pd.DataFrame:
    """Analysis 4 for one regular-image pair: :func:`robuniv.analyses.subgroup_measures` on the inputs where
    the pair agrees / disagrees, with the size-matched control. ``subgroups``: min_size, k, and optionally
    matched_draws (default 20) and seed; ``similarity``: rtd_trials, rtd_batch, rtd_seed."""
    from .analyses import agreement_mask, subgroup_measures

    _check_same_inputs(act_a, act_b)  # errors name the files the activations were read from
    mask = agreement_mask(act_a["logits"], act_b["logits"])
    frame = subgroup_measures(act_a["representations"], act_b["representations"], mask,
                              minimum=subgroups["min_size"], k=subgroups["k"], rtd_trials=similarity["rtd_trials"],
                              rtd_batch=similarity["rtd_batch"], rtd_seed=similarity["rtd_seed"],
                              with_rtd=similarity.get("rtd", True),
                              matched_draws=subgroups.get("matched_draws", SubgroupSettings.matched_draws),
                              matched_seed=subgroups.get("seed", SubgroupSettings.seed))
    frame = frame.assign(dataset=dataset, eps=float(eps), model_a=model_a, model_b=model_b)
    return frame[SUBGROUP_TABLE_COLUMNS]


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


def subgroup_test_table(subgroups: pd.DataFrame, settings: Mapping[str, Mapping]) -> pd.DataFrame:
    """Paired permutation tests per (data set, ε, measure): agree vs disagree (the paper's) and
    agree_matched vs disagree (the size control). ``settings[dataset]``: n_resamples, seed."""
    from .analyses import AGREE, AGREE_MATCHED, DISAGREE

    rows = []
    for (dataset, eps, measure), group in subgroups.groupby(["dataset", "eps", "measure"], sort=True):
        wide = group.pivot_table(index=["model_a", "model_b"], columns="subgroup", values="value", dropna=False)
        n_resamples, seed = settings[dataset]["n_resamples"], settings[dataset]["seed"]
        raw = _paired_test(wide, AGREE, DISAGREE, n_resamples, seed)
        matched = _paired_test(wide, AGREE_MATCHED, DISAGREE, n_resamples, seed)
        mean_disagree = wide[[AGREE, DISAGREE]].dropna()[DISAGREE].mean() if raw["n"] else float("nan")
        rows.append({"dataset": dataset, "eps": eps, "measure": measure, "n_pairs": raw["n"], "mean_agree": raw["mean"],
                     "mean_disagree": mean_disagree, "statistic": raw["statistic"], "p_value": raw["p_value"],
                     "n_pairs_matched": matched["n"], "mean_agree_matched": matched["mean"],
                     "statistic_matched": matched["statistic"], "p_value_matched": matched["p_value"]})
    return pd.DataFrame(rows, columns=SUBGROUP_TEST_COLUMNS)


def subgroup_tables(paths: Iterable, settings: Mapping[str, Mapping]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """subgroups.csv (every pair's subgroup table) and subgroup_tests.csv; no pairs give empty tables."""
    subgroups = read_csvs(paths, SUBGROUP_TABLE_COLUMNS)
    return subgroups, subgroup_test_table(subgroups, settings)


# ---------------------------------------------------------------- probes (analysis 5)
PROBE_COLUMNS = ["dataset", "kind", "eps", "model_a", "model_b", "seed", "agreement"]


def read_probes(paths: Sequence) -> dict:
    """{dataset: {model: (probe logits n_probes × N × C, ε)}} from the probe files (their attributes name
    the data set, model and ε). H5Error naming the file for anything else (an activation file), and when the
    probes of one data set differ in ε or in their inputs (``index``)."""
    from .h5io import H5Error, open_h5

    probes: dict = {}
    first: dict = {}  # per data set: (path, ε, index) of its first probe file
    for path in paths:
        with open_h5(path) as fh:
            if "logits" not in fh or fh["logits"].ndim != 3 or not {"dataset", "model", "eps"} <= set(fh.attrs):
                raise H5Error(f"{path}: not a probe file (needs 'logits' of n_probes x N x C and the attributes "
                              "dataset, model, eps; an activation file has N x C logits)")
            dataset, model, eps = str(fh.attrs["dataset"]), str(fh.attrs["model"]), float(fh.attrs["eps"])
            logits = fh["logits"][()]
            index = fh["index"][()] if "index" in fh else np.arange(logits.shape[1])  # older files: no index
        if logits.shape[1] != len(index):
            raise H5Error(f"{path}: 'logits' has {logits.shape[1]} inputs but 'index' {len(index)}")
        if dataset in first:
            path0, eps0, index0 = first[dataset]
            if eps != eps0:
                raise H5Error(f"{path}: probes at ε {eps:g}, but {path0} at ε {eps0:g} (same data set {dataset}); "
                              "all probes of a data set must be at one ε")
            if index.shape != index0.shape or (index != index0).any():
                raise H5Error(f"{path}: its inputs differ from {path0}'s (index mismatch); rerun both probes "
                              "on the same regular activations")
        else:
            first[dataset] = (path, eps, index)
        probes.setdefault(dataset, {})[model] = (logits, eps)
    return probes


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
                  "fort_lower", "fort_upper", "error_a", "error_b", "error_lower", "error_upper"]


def read_accuracies(paths: Iterable) -> dict:
    """{(dataset, model, ε): clean accuracy} from evaluation JSON files."""
    out = {}
    for path in paths:
        with open(path) as fh:
            record = json.load(fh)
        out[(record["dataset"], record["model"], float(record["eps"]))] = record["clean_accuracy"]
    return out


def read_error_rates(paths: Iterable) -> dict:
    """{(dataset, model, ε): error rate on the compared inputs} from regular-image activation files (their
    logits and labels only: the N x D representations are not read)."""
    from .h5io import H5Error, open_h5

    out = {}
    for path in paths:
        with open_h5(path) as fh:
            if "logits" not in fh or "labels" not in fh:
                raise H5Error(f"{path}: dataset 'logits' or 'labels' is missing")
            logits, labels, attrs = fh["logits"][()], fh["labels"][()], dict(fh.attrs)
        if len(logits) != len(labels) or len(labels) == 0:
            raise H5Error(f"{path}: {len(logits)} logits rows for {len(labels)} labels")
        error = float((logits.argmax(1) != labels).mean())
        out[(attrs["dataset"], attrs["model"], float(attrs["eps"]))] = error
    return out


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
                     "fort_lower": lower, "fort_upper": upper, "error_a": e_a, "error_b": e_b,
                     "error_lower": e_lower, "error_upper": e_upper})
    return pd.DataFrame(rows, columns=BOUNDS_COLUMNS)


def read_num_classes(dataset_paths: Sequence) -> dict:
    """{dataset: number of classes} from the data sets' summaries (dataset.json)."""
    out = {}
    for path in dataset_paths:
        with open(path) as fh:
            summary = json.load(fh)
        out[summary["dataset"]] = int(summary["num_classes"])
    return out


def analysis_tables(*, similarity_path, subgroup_paths: Sequence, probe_paths: Sequence, eval_paths: Sequence,
                    regular_paths: Sequence, dataset_paths: Sequence, subgroup_settings: Mapping) -> dict:
    """Analyses 4-6 from their files: {"subgroups", "subgroup_tests", "probes", "agreement_bounds": table}."""
    similarity = pd.read_csv(similarity_path, keep_default_na=False)
    subgroups, tests = subgroup_tables(subgroup_paths, subgroup_settings)
    return {"subgroups": subgroups, "subgroup_tests": tests,
            "probes": probe_table(read_probes(probe_paths), similarity),
            "agreement_bounds": agreement_bounds_table(similarity, read_accuracies(eval_paths),
                                                       read_error_rates(regular_paths),
                                                       read_num_classes(dataset_paths))}
