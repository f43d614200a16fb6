"""Tidy tables written by the workflow."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pandas as pd

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
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        frame.to_csv(tmp, index=False)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
