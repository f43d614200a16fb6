"""How much inverted images look like their targets, per data set, ε and model, from a finished run.

    python benchmarks/inversion_quality.py [RESULTS_DIR]   (default: results)

For every inverted-images file: the fraction of saturated pixels (exactly 0 or 255), the mean Pearson
correlation of each inverted image with its target and with its seed, and the mean relative feature loss.
The paper's Figure 2 effect is a correlation with the target that rises with ε.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd


def _rowwise_corr(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a.reshape(len(a), -1).astype(np.float64)
    b = b.reshape(len(b), -1).astype(np.float64)
    a -= a.mean(1, keepdims=True)
    b -= b.mean(1, keepdims=True)
    return (a * b).sum(1) / np.sqrt((a * a).sum(1) * (b * b).sum(1) + 1e-30)


def quality(results: Path) -> pd.DataFrame:
    from robuniv.data import open_split
    from robuniv.h5io import open_h5, read_inputs

    rows = []
    for inputs_path in sorted(results.glob("*/inputs.h5")):
        dataset = inputs_path.parent.name
        pairs = read_inputs(inputs_path)
        with open(inputs_path.parent / "dataset.json") as fh:
            source = {"source": __import__("json").load(fh)["source"]}
        pool = open_split(source, pairs["pool_split"]) if source["source"] == "sklearn_digits" else None
        if pool is None:
            continue  # other sources need their settings (paths): only the demo is measured here
        targets = np.stack([pool[int(i)][0].numpy() for i in pairs["target_index"]])
        seeds = np.stack([pool[int(i)][0].numpy() for i in pairs["seed_index"]])
        for path in sorted(inputs_path.parent.glob("eps*/inverted/*.h5")):
            with open_h5(path) as fh:
                images, loss = fh["images"][()], fh["loss"][()]
            rows.append({"dataset": dataset, "eps": float(path.parts[-3][3:]), "model": path.stem,
                         "saturated": float(((images == 0) | (images == 255)).mean()),
                         "corr_target": float(_rowwise_corr(images / 255.0, targets).mean()),
                         "corr_seed": float(_rowwise_corr(images / 255.0, seeds).mean()),
                         "relative_loss": float(loss.mean())})
        rows.append({"dataset": dataset, "eps": float("nan"), "model": "(data: targets)",
                     "saturated": float(((targets == 0) | (targets == 1)).mean()),
                     "corr_target": 1.0, "corr_seed": float(_rowwise_corr(targets, seeds).mean()),
                     "relative_loss": float("nan")})
    return pd.DataFrame(rows)


if __name__ == "__main__":
    frame = quality(Path(sys.argv[1] if len(sys.argv) > 1 else "results"))
    pd.set_option("display.width", 160)
    print(frame.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    robust = frame.dropna(subset=["eps"]).groupby(["dataset", "eps"])[["saturated", "corr_target", "corr_seed"]].mean()
    print("\nmean over models per ε:\n" + robust.to_string(float_format=lambda v: f"{v:.3f}"))
