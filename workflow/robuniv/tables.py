"""Tidy tables written by the workflow."""
from __future__ import annotations

import pandas as pd

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


SIMILARITY_COLUMNS = ["dataset", "eps", "inputs", "source", "model_a", "model_b", "measure", "value"]

# What each measure's column means; "higher" = more similar, except RTD (a divergence).
MEASURE_NOTES = {
    "agreement": "fraction of inputs with the same predicted class",
    "jsd_sim": "1 - mean JSD(softmax) / ln 2",
    "cka": "linear CKA, paper eq. 4 (biased HSIC)",
    "cka_debiased": "linear CKA with unbiased HSIC (the released code's variant)",
    "procrustes_sim": "(2 - d) / 2, d = sqrt(2 - 2 nuc): paper eq. 5",
    "procrustes_distance": "d = sqrt(2 - 2 nuc)",
    "procrustes_nuclear_norm": "nuc = ||R^T R'||_*: what the released code plotted",
    "rtd": "representation topology divergence (0 = identical; plotted as -RTD)",
}


def similarity_rows(values: dict, *, dataset: str, eps: float, inputs: str, source: str, model_a: str,
                    model_b: str) -> pd.DataFrame:
    """Tidy rows (one per measure) of one comparison."""
    rows = [{"dataset": dataset, "eps": eps, "inputs": inputs, "source": source, "model_a": model_a,
             "model_b": model_b, "measure": measure, "value": float(value)} for measure, value in values.items()]
    return pd.DataFrame(rows, columns=SIMILARITY_COLUMNS)


def spearman_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Spearman's ρ of each measure's values against ε, per data set and input kind, with p-value and n."""
    from scipy.stats import spearmanr

    rows = []
    for (dataset, inputs, measure), group in frame.groupby(["dataset", "inputs", "measure"], sort=True):
        n = len(group)
        if group["eps"].nunique() < 2 or group["value"].nunique() < 2:
            rho, p = float("nan"), float("nan")
        else:
            result = spearmanr(group["eps"], group["value"])
            rho, p = float(result.statistic), float(result.pvalue)
        rows.append({"dataset": dataset, "inputs": inputs, "measure": measure, "spearman_rho": rho,
                     "p_value": p, "n": n})
    return pd.DataFrame(rows, columns=["dataset", "inputs", "measure", "spearman_rho", "p_value", "n"])
