"""The measure registry: complete, consistent, and importable without torch."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from robuniv import measures as M

WORKFLOW = str(Path(M.__file__).resolve().parents[1])


def test_every_measure_written_is_registered():
    from robuniv import similarity as S
    from robuniv.analyses import subgroup_measures

    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(520, 6)), rng.normal(size=(520, 7))
    written = S.compare_pair(a[:, :4], b[:, :4], a, b, ks=M.JACCARD_KS, rtd_trials=1, rtd_batch=20, rtd_jobs=1)
    mask = np.arange(520) < 400
    written = set(written) | set(subgroup_measures(a, b, mask, minimum=20, k=10, rtd_trials=1, rtd_batch=20,
                                                   matched_draws=2).measure)
    from robuniv.catalogue import CATALOGUE_FAMILIES, compute_family

    for family in CATALOGUE_FAMILIES:
        written |= set(compute_family(family, a[:, :6], b[:, :6], {"ks": M.CATALOGUE_KS}))
    assert written <= set(M.MEASURES)
    assert set(M.MEASURES) <= written  # and nothing registered is never written
    assert {M.measure(n).family for n in M.catalogue_measures()} == set(CATALOGUE_FAMILIES)


def test_registry_fields():
    for name, entry in M.MEASURES.items():
        assert entry.name == name and entry.label and entry.variant
        assert entry.kind in (M.PREDICTIONS, M.REPRESENTATIONS)
        assert entry.direction in (M.HIGHER, M.LOWER)
    paper = {n: e for n, e in M.MEASURES.items() if n not in M.catalogue_measures()}
    assert {n for n, e in paper.items() if e.direction == M.LOWER} == {M.RTD, M.PROCRUSTES_DISTANCE}
    # distances and differences of the catalogue are "lower is more similar"
    assert {n for n in M.catalogue_measures() if M.measure(n).direction == M.LOWER} == {
        "rsm_norm_difference", "orthogonal_angular_shape_metric", "permutation_procrustes",
        "procrustes_size_and_shape", "gulp", "magnitude_difference", "concentricity_difference",
        "uniformity_difference"}
    assert {n for n, e in M.MEASURES.items() if e.kind == M.PREDICTIONS} == {M.AGREEMENT, M.JSD_SIM}
    # the paper's figures plot the released code's variants: debiased CKA and the nuclear norm
    assert M.MEASURES[M.CKA_DEBIASED].published and M.MEASURES[M.PROCRUSTES_NUCLEAR_NORM].published
    assert not M.MEASURES[M.CKA].published and not M.MEASURES[M.PROCRUSTES_SIM].published


def test_jaccard_names_for_any_k_and_unknown_names():
    assert M.jaccard_name(7) == "jaccard@7" and M.jaccard_k("jaccard@7") == 7
    assert M.measure("jaccard@7").direction == M.HIGHER
    assert M.jaccard_k("jaccard@0") is None and M.jaccard_k("cka") is None
    with pytest.raises(ValueError, match="unknown measure 'ckaa'"):
        M.measure("ckaa")
    with pytest.raises(ValueError, match="k must be a positive integer"):
        M.jaccard_name(0)


def test_importable_without_torch():
    code = ("import sys; sys.modules['torch'] = None; sys.modules['numpy'] = None\n"
            "from robuniv import measures; assert 'cka' in measures.MEASURES")
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, "PYTHONPATH": WORKFLOW})
