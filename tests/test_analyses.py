import itertools

import numpy as np
import pytest
import scipy.stats

from robuniv.analyses import (agreement_mask, error_rate_limits, fort_agreement_bounds, paired_permutation_test,
                              probe_logits, subgroup_measures, train_linear_probe)
from robuniv import similarity as S


def test_fort_bounds_hand_computed():
    lower, upper = fort_agreement_bounds(0.8, 0.9, 10)
    assert upper == pytest.approx(1 - 9 * 0.1 / 8)
    assert lower == pytest.approx(1 - (0.1 * 0.8 + 0.2 * 0.9 + 0.1 * 0.2 * 8 / 9))
    assert fort_agreement_bounds(0.9, 0.8, 10) == (lower, upper)  # a ≤ a* is sorted out
    lower2, upper2 = fort_agreement_bounds(0.7, 0.9, 2)  # C = 2: the (C-2) term vanishes
    assert upper2 == pytest.approx(0.75) and lower2 == pytest.approx(0.66)
    assert fort_agreement_bounds(0.85, 0.85, 100)[1] == pytest.approx(1.0)


def test_bounds_hold_for_simulated_classifiers():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 5, 5000)
    for _ in range(20):
        pred = [np.where(rng.random(5000) < acc, labels, rng.integers(0, 5, 5000)) for acc in rng.uniform(0.3, 1, 2)]
        acc = [float((p == labels).mean()) for p in pred]
        agree = float((pred[0] == pred[1]).mean())
        low, high = error_rate_limits(1 - acc[0], 1 - acc[1])
        assert low - 1e-12 <= agree <= high + 1e-12


def test_error_rate_limits():
    assert error_rate_limits(0.1, 0.3) == pytest.approx((0.6, 0.8))
    assert error_rate_limits(0.7, 0.6) == pytest.approx((0.0, 0.9))
    with pytest.raises(ValueError, match="err_2"):
        error_rate_limits(0.1, 1.5)


def exact_paired_test(x, y):
    d = np.asarray(x) - np.asarray(y)
    observed = d.mean()
    stats = np.array([(d * signs).mean() for signs in itertools.product([1, -1], repeat=len(d))])
    tol = 1e-12
    p = min(1.0, 2 * min((stats >= observed - tol).mean(), (stats <= observed + tol).mean()))
    return observed, p


def test_permutation_test_against_exact_enumeration_and_scipy():
    rng = np.random.default_rng(1)
    x, y = rng.normal(0.5, 0.1, 8), rng.normal(0.4, 0.1, 8)
    ours = paired_permutation_test(x, y, n_resamples=9999, seed=3)
    observed, p = exact_paired_test(x, y)
    assert ours["statistic"] == pytest.approx(observed)
    assert ours["p_value"] == pytest.approx(p)
    x, y = rng.normal(0.5, 0.1, 30), rng.normal(0.45, 0.1, 30)  # too many pairs to enumerate: resampled
    ours = paired_permutation_test(x, y, n_resamples=9999, seed=5)
    ref = scipy.stats.permutation_test((x, y), lambda a, b, axis: a.mean(axis) - b.mean(axis),
                                       permutation_type="samples", vectorized=True, n_resamples=9999,
                                       rng=np.random.default_rng(5))
    assert ours["p_value"] == ref.pvalue and ours["statistic"] == pytest.approx(ref.statistic)


def test_subgroups_on_constructed_logits():
    la = np.array([[2, 1, 0], [0, 2, 1], [1, 0, 2], [2, 0, 1]], dtype=float)
    lb = np.array([[3, 1, 0], [2, 0, 1], [0, 0, 2], [0, 3, 1]], dtype=float)
    assert agreement_mask(la, lb).tolist() == [True, False, True, False]
    rng = np.random.default_rng(2)
    reps_a, reps_b = rng.normal(size=(60, 6)), rng.normal(size=(60, 6))
    mask = np.arange(60) < 45
    out = subgroup_measures(reps_a, reps_b, mask, minimum=20, k=5, rtd_trials=2, rtd_batch=30)
    assert out[("agree", "n_inputs")] == 45 and out[("disagree", "n_inputs")] == 15
    assert out[("agree", "cka")] == pytest.approx(S.cka(reps_a[:45], reps_b[:45]))
    assert out[("agree", "rtd")] == pytest.approx(S.rtd(reps_a[:45], reps_b[:45], trials=2, batch=30))
    assert all(np.isnan(out[("disagree", m)]) for m in ("cka", "procrustes_sim", "jaccard@5", "rtd"))


def test_linear_probe_learns_digits_far_above_chance():
    from robuniv.data import load_split

    x, y = load_split("sklearn_digits", "train").tensors
    xe, ye = load_split("sklearn_digits", "eval").tensors
    probe = train_linear_probe(x.flatten(1).numpy(), y.numpy(), 10, epochs=30, batch_size=256, seed=0)
    accuracy = (probe_logits(probe, xe.flatten(1).numpy()).argmax(1) == ye.numpy()).mean()
    assert accuracy > 0.85  # chance: 0.1
    again = train_linear_probe(x.flatten(1).numpy(), y.numpy(), 10, epochs=30, batch_size=256, seed=0)
    assert np.array_equal(probe_logits(again, xe.flatten(1).numpy()), probe_logits(probe, xe.flatten(1).numpy()))
