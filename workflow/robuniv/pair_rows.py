"""One comparison's measures as tidy rows, and their CSV writer, without pandas.

Every comparison job (one model pair on one input set: 216 of the demo's 427 jobs) ends by writing a few
rows; importing pandas for that costs each of them 0.15 s. The file is the one ``DataFrame.to_csv(index=False)``
writes for these columns: floats by their shortest round-trip text (``repr``), NaN as an empty field
(tests/test_tables.py compares the two byte for byte).
"""
from __future__ import annotations

import csv
import math

from . import measures as M
from .atomic import atomic_path

SIMILARITY_COLUMNS = ["dataset", "eps", "inputs", "source", "model_a", "model_b", "measure", "value"]


def similarity_records(values: dict, *, dataset: str, eps: float, inputs: str, source: str, model_a: str,
                       model_b: str) -> list[dict]:
    """Tidy rows (one per measure) of one comparison; every measure must be in the registry."""
    for measure in values:
        M.measure(measure)  # unknown names raise
    return [{"dataset": dataset, "eps": eps, "inputs": inputs, "source": source, "model_a": model_a,
             "model_b": model_b, "measure": measure, "value": float(value)} for measure, value in values.items()]


def _field(value) -> str:
    if isinstance(value, float):
        return "" if math.isnan(value) else repr(value)
    return str(value)


def write_similarity_csv(records: list[dict], path) -> None:
    """Write rows of :data:`SIMILARITY_COLUMNS` through a temporary file and rename it."""
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(SIMILARITY_COLUMNS)
        writer.writerows([_field(row[c]) for c in SIMILARITY_COLUMNS] for row in records)
