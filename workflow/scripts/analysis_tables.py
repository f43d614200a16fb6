"""Analyses 4-6: subgroup table and permutation tests, probe agreement, agreement bounds."""
import json

import h5py

import numpy as np
import pandas as pd

from robuniv.analyses import agreement_mask, error_rate_limits, fort_agreement_bounds, paired_permutation_test
from robuniv.h5io import read_activations
from robuniv.runtime import setup_job
from robuniv.tables import write_csv

setup_job(snakemake.log[0])
p, out = snakemake.params, snakemake.output
similarity = pd.read_csv(snakemake.input.similarity, keep_default_na=False)
regular = similarity[(similarity.inputs == "regular") & (similarity.measure == "agreement")]

# ---- analysis 4: subgroups and paired permutation tests (pairs with a missing subgroup are dropped)
subgroups = pd.concat([pd.read_csv(f) for f in snakemake.input.subgroups], ignore_index=True)
write_csv(subgroups, out.subgroups)
tests = []
for (dataset, eps, measure), group in subgroups.groupby(["dataset", "eps", "measure"]):
    wide = (group.pivot_table(index=["model_a", "model_b"], columns="subgroup", values="value", dropna=False)
            .reindex(columns=["agree", "disagree"]).dropna())  # pairs with a missing subgroup are left out
    row = {"dataset": dataset, "eps": eps, "measure": measure, "n_pairs": len(wide), "mean_agree": wide["agree"].mean(),
           "mean_disagree": wide["disagree"].mean(), "statistic": np.nan, "p_value": np.nan}
    if len(wide) >= 2:
        test = paired_permutation_test(wide["agree"], wide["disagree"],
                                       n_resamples=p.subgroups[dataset]["n_resamples"], seed=p.subgroups[dataset]["seed"])
        row.update(statistic=test["statistic"], p_value=test["p_value"])
    tests.append(row)
write_csv(pd.DataFrame(tests), out.subgroup_tests)

# ---- analysis 5: probe-probe agreement vs the original classifiers at ε = 0 and at the probe ε
rows = []
probes = {}  # dataset -> model -> (logits n_probes x N x C, ε)
for meta, path in zip(p.probe_meta, snakemake.input.probes):
    with h5py.File(path) as fh:
        probes.setdefault(meta["dataset"], {})[meta["model"]] = (fh["logits"][()], meta["eps"])
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
        sub = regular[(regular.dataset == dataset) & (regular.eps == eps)]
        for r in sub.itertuples():
            rows.append({"dataset": dataset, "kind": f"pretrained ε={eps:g}", "eps": eps, "model_a": r.model_a,
                         "model_b": r.model_b, "seed": -1, "agreement": r.value})
probe_frame = pd.DataFrame(rows)
write_csv(probe_frame, out.probes)

# ---- analysis 6: agreement vs Fort et al.'s bounds and the error-rate limits
accuracy = {(r["dataset"], r["model"], float(r["eps"])): r["clean_accuracy"]
            for r in (json.load(open(f)) for f in snakemake.input.evals)}
errors = {}
for path in snakemake.input.regular:
    act = read_activations(path, check_finite=False)
    key = (act["attrs"]["dataset"], act["attrs"]["model"], float(act["attrs"]["eps"]))
    errors[key] = float((act["logits"].argmax(1) != act["labels"]).mean())
bounds = []
for r in regular.itertuples():
    acc_a, acc_b = accuracy[(r.dataset, r.model_a, r.eps)], accuracy[(r.dataset, r.model_b, r.eps)]
    lower, upper = fort_agreement_bounds(acc_a, acc_b, p.num_classes[r.dataset])
    e_a, e_b = errors[(r.dataset, r.model_a, r.eps)], errors[(r.dataset, r.model_b, r.eps)]
    e_lower, e_upper = error_rate_limits(e_a, e_b)
    bounds.append({"dataset": r.dataset, "eps": r.eps, "model_a": r.model_a, "model_b": r.model_b,
                   "agreement": r.value, "clean_accuracy_a": acc_a, "clean_accuracy_b": acc_b,
                   "fort_lower": lower, "fort_upper": upper, "error_a": e_a, "error_b": e_b,
                   "error_lower": e_lower, "error_upper": e_upper})
bounds_frame = pd.DataFrame(bounds)
write_csv(bounds_frame, out.bounds)

