import itertools
import math

import numpy as np
import pytest
import scipy.stats
import torch

from robuniv.analyses import (SUBGROUP_COLUMNS, agreement_mask, error_rate_limits, fort_agreement_bounds,
                              paired_permutation_test, probe_logits, subgroup_measures, train_linear_probe)
from robuniv import similarity as S
from robuniv.settings import SimilaritySettings


def test_fort_bounds_hand_computed():
    lower, upper = fort_agreement_bounds(0.8, 0.9, 10)
    assert upper == pytest.approx(1 - 9 * 0.1 / 8)
    assert lower == pytest.approx(1 - (0.1 * 0.8 + 0.2 * 0.9 + 0.1 * 0.2 * 8 / 9))
    assert fort_agreement_bounds(0.9, 0.8, 10) == (lower, upper)  # a ≤ a* is sorted out
    lower2, upper2 = fort_agreement_bounds(0.7, 0.9, 2)  # C = 2: the (C-2) term vanishes
    assert upper2 == pytest.approx(0.75) and lower2 == pytest.approx(0.66)
    assert fort_agreement_bounds(0.85, 0.85, 100)[1] == pytest.approx(1.0)


def test_fort_bounds_are_missing_at_or_below_chance():
    """The formulas assume both classifiers beat chance: below it they leave [0, 1] (upper 4.6 here)."""
    a, a_star, c = 0.05, 0.09, 10
    assert 1 - (c - 1) * (a_star - a) / (c * a_star - 1) == pytest.approx(4.6)  # what the formula would give
    for accuracies in ((a, a_star), (0.1, 0.9), (0.5, 0.8)):
        classes = 2 if accuracies == (0.5, 0.8) else c  # 0.1 of 10 and 0.5 of 2 classes: exactly chance
        lower, upper = fort_agreement_bounds(*accuracies, classes)
        assert math.isnan(lower) and math.isnan(upper), accuracies
    lower, upper = fort_agreement_bounds(0.11, 0.9, 10)  # just above chance: defined, and within [0, 1]
    assert 0 <= lower <= upper <= 1


def simulated_pair(rng, labels, acc_best, acc_worse, copy, c):
    """Two classifiers with clean accuracies acc_best ≥ acc_worse, errors uniform over the wrong classes.

    The better one errs independently; the worse one copies the better one's predictions with
    probability ``copy`` (Fort et al.'s upper-limit construction: its other predictions are uniformly
    random) and otherwise predicts independently (their lower-limit construction).
    """
    n = len(labels)

    def independent(acc):
        wrong = (labels + rng.integers(1, c, n)) % c
        return np.where(rng.random(n) < acc, labels, wrong)

    best = independent(acc_best)
    # Fort's upper model: replace a fraction p of the best's predictions by uniform random classes
    p = c * (acc_best - acc_worse) / (c * acc_best - 1)
    perturbed = np.where(rng.random(n) < p, rng.integers(0, c, n), best)
    worse = np.where(rng.random(n) < copy, perturbed, independent(acc_worse))
    return best, worse


@pytest.mark.parametrize("c", [2, 5, 10])
def test_bounds_hold_for_simulated_classifiers(c):
    rng = np.random.default_rng(c)
    n = 40_000
    labels = rng.integers(0, c, n)
    for acc_best, acc_worse in [(0.9, 0.7), (0.8, 0.6), (0.95, 0.94), (0.7, 0.55)]:  # above chance (1/C)
        results = {}
        for copy in (0.0, 0.5, 1.0):
            best, worse = simulated_pair(rng, labels, acc_best, acc_worse, copy, c)
            acc = [float((p == labels).mean()) for p in (best, worse)]
            agree = float((best == worse).mean())
            lower, upper = fort_agreement_bounds(acc[0], acc[1], c)
            tolerance = 4 * math.sqrt(0.25 / n) + 0.01  # sampling error of agreement and of the accuracies
            assert lower - tolerance <= agree <= upper + tolerance, (c, acc_best, acc_worse, copy)
            low, high = error_rate_limits(1 - acc[0], 1 - acc[1])
            assert low - 1e-12 <= agree <= high + 1e-12
            results[copy] = (agree, lower, upper, tolerance)
        # the constructions reach the limits: independent errors at the lower, copies at the upper
        agree, lower, upper, tolerance = results[0.0]
        assert agree == pytest.approx(lower, abs=tolerance)
        agree, lower, upper, tolerance = results[1.0]
        assert agree == pytest.approx(upper, abs=tolerance)
        assert results[0.0][0] < results[0.5][0] < results[1.0][0]


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
    assert list(out.columns) == SUBGROUP_COLUMNS
    table = out.set_index(["subgroup", "measure"])
    assert set(out.subgroup) == {"agree", "disagree", "agree_matched"}
    assert (table.loc["agree", "n_inputs"] == 45).all() and (table.loc["disagree", "n_inputs"] == 15).all()
    assert table.loc[("agree", "cka"), "value"] == pytest.approx(S.cka(reps_a[:45], reps_b[:45]))
    assert table.loc[("agree", "cka_debiased"), "value"] == pytest.approx(
        S.cka(reps_a[:45], reps_b[:45], debiased=True))
    assert table.loc[("agree", "procrustes_sim"), "value"] == pytest.approx(S.procrustes_sim(reps_a[:45], reps_b[:45]))
    assert table.loc[("agree", "jaccard@5"), "value"] == pytest.approx(S.jaccard(reps_a[:45], reps_b[:45], 5))
    assert table.loc[("agree", "rtd"), "value"] == pytest.approx(S.rtd(reps_a[:45], reps_b[:45], trials=2, batch=30))
    assert table.loc["disagree", "value"].isna().all()  # 15 < minimum
    assert table.loc["agree_matched", "value"].isna().all()  # matched to a missing subgroup
    assert (table.loc["agree_matched", "n_draws"] == 0).all()


def test_matched_subgroup_is_the_mean_over_seeded_draws():
    rng = np.random.default_rng(3)
    reps_a, reps_b = rng.normal(size=(80, 5)), rng.normal(size=(80, 5))
    mask = np.arange(80) < 55
    out = subgroup_measures(reps_a, reps_b, mask, minimum=10, k=4, rtd_trials=2, rtd_batch=20, matched_draws=3,
                            matched_seed=7).set_index(["subgroup", "measure"])
    draws_rng = np.random.default_rng(7)
    draws = [np.sort(draws_rng.choice(np.arange(55), size=25, replace=False)) for _ in range(3)]
    per_draw = [S.cka(reps_a[d], reps_b[d]) for d in draws]
    assert out.loc[("agree_matched", "cka"), "value"] == pytest.approx(np.mean(per_draw), abs=1e-12)
    assert out.loc[("agree_matched", "cka"), "std"] == pytest.approx(np.std(per_draw, ddof=1), abs=1e-12)
    assert out.loc[("agree_matched", "cka"), "n_inputs"] == 25 and out.loc[("agree_matched", "cka"), "n_draws"] == 3
    # RTD: its trials are the matched draws (batch capped at the disagreeing subset's size)
    assert out.loc[("agree_matched", "rtd"), "value"] == pytest.approx(
        S.rtd(reps_a[:55], reps_b[:55], trials=2, batch=20))
    again = subgroup_measures(reps_a, reps_b, mask, minimum=10, k=4, rtd_trials=2, rtd_batch=20, matched_draws=3,
                              matched_seed=7)
    assert again.set_index(["subgroup", "measure"]).equals(out)
    with pytest.raises(ValueError, match="matched_draws"):
        subgroup_measures(reps_a, reps_b, mask, minimum=10, matched_draws=0)


def identically_distributed_pair(seed, n=1000, latent=10, dims=20):
    """Both models: a shared Gaussian latent through a random linear map, plus unit noise; a random 90% of
    the inputs marked as agreeing. Agreeing and disagreeing inputs are identically distributed."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, latent))
    a = z @ rng.normal(size=(latent, dims)) + rng.normal(size=(n, dims))
    b = z @ rng.normal(size=(latent, dims)) + rng.normal(size=(n, dims))
    mask = np.zeros(n, dtype=bool)
    mask[rng.choice(n, size=int(0.9 * n), replace=False)] = True
    return a, b, mask


def test_size_matched_control_removes_the_subset_size_effect():
    frames = [subgroup_measures(*identically_distributed_pair(seed), minimum=20, k=10, matched_draws=20,
                                with_rtd=False).pivot(index="measure", columns="subgroup", values="value")
              for seed in range(8)]
    mean = sum(frames) / len(frames)
    raw = (mean["agree"] - mean["disagree"]).to_dict()
    matched = (mean["agree_matched"] - mean["disagree"]).to_dict()
    # Measured (8 pairs, 900 vs 100 inputs): raw agree - disagree = -0.022 (cka), -0.013 (procrustes_sim),
    # -0.142 (jaccard@10): the smaller subset scores higher. Size-matched: +0.0015, +0.0021, +0.0040.
    assert raw["cka"] < -0.015 and abs(matched["cka"]) < 0.006
    assert raw["procrustes_sim"] < -0.009 and abs(matched["procrustes_sim"]) < 0.005
    assert raw["jaccard@10"] < -0.10 and abs(matched["jaccard@10"]) < 0.015
    for name in ("cka", "procrustes_sim", "jaccard@10"):
        assert abs(matched[name]) < 0.25 * abs(raw[name]), name
    # debiased CKA has (almost) no size bias to begin with
    assert abs(raw["cka_debiased"]) < 0.006


def test_linear_probe_learns_digits_far_above_chance():
    from robuniv.data import load_split

    x, y = load_split("sklearn_digits", "train").tensors
    xe, ye = load_split("sklearn_digits", "eval").tensors
    probe = train_linear_probe(x.flatten(1).numpy(), y.numpy(), 10, epochs=30, batch_size=256, seed=0)
    accuracy = (probe_logits(probe, xe.flatten(1).numpy()).argmax(1) == ye.numpy()).mean()
    assert accuracy > 0.85  # chance: 0.1
    again = train_linear_probe(x.flatten(1).numpy(), y.numpy(), 10, epochs=30, batch_size=256, seed=0)
    assert np.array_equal(probe_logits(again, xe.flatten(1).numpy()), probe_logits(probe, xe.flatten(1).numpy()))


class _CountingRows:
    """An on-disk-like N x D array that records the largest read (an h5py dataset reads the same way)."""

    def __init__(self, array):
        self.array, self.shape, self.largest = array, array.shape, 0

    def __getitem__(self, key):
        rows = self.array[key]
        self.largest = max(self.largest, len(rows))
        return rows


def test_probe_streams_features_from_disk_in_blocks(tmp_path):
    import h5py

    from robuniv.analyses import train_linear_probe

    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 600)
    centres = rng.normal(size=(3, 16)) * 4
    features = (centres[labels] + rng.normal(size=(600, 16))).astype(np.float32)
    on_disk = _CountingRows(features)
    probe = train_linear_probe(on_disk, labels, 3, epochs=3, batch_size=32, block_batches=4)
    assert on_disk.largest <= 32 * 4  # never more than one block in memory
    with h5py.File(tmp_path / "f.h5", "w") as fh:
        fh["x"] = features
    with h5py.File(tmp_path / "f.h5", "r") as fh:
        streamed = train_linear_probe(fh["x"], labels, 3, epochs=3, batch_size=32, block_batches=4)
    in_memory = train_linear_probe(features, labels, 3, epochs=3, batch_size=32)
    for model in (probe, streamed, in_memory):
        accuracy = (model(torch.from_numpy(features)).argmax(1).numpy() == labels).mean()
        assert accuracy > 0.95, accuracy
    assert torch.equal(probe.weight, streamed.weight)  # the same data and seed stream identically
    features[5, 3] = np.nan
    with pytest.raises(ValueError, match="rows 0-127 contain NaN"):
        train_linear_probe(_CountingRows(features), labels, 3, epochs=1, batch_size=32, block_batches=4)


def test_subgroup_names_come_from_the_catalog():
    from robuniv import analyses, catalog

    assert analyses.SUBGROUPS == tuple(catalog.SUBGROUPS) == ("agree", "disagree", "agree_matched")
    assert (analyses.AGREE, analyses.DISAGREE, analyses.AGREE_MATCHED) == analyses.SUBGROUPS


def test_subgroup_measures_equal_the_measures_computed_on_the_masks():
    rng = np.random.default_rng(11)
    reps_a, reps_b = rng.normal(size=(90, 6)), rng.normal(size=(90, 6))
    mask = rng.permutation(np.arange(90) < 62)  # agreeing inputs scattered, not a prefix
    k, trials, batch, draws, seed = 4, 2, 40, 4, 9  # batch: more than the 28 disagreeing
    out = subgroup_measures(reps_a, reps_b, mask, minimum=10, k=k, rtd_trials=trials, rtd_batch=batch, rtd_seed=3,
                            matched_draws=draws, matched_seed=seed)
    names = ["cka", "cka_debiased", "procrustes_sim", "procrustes_nuclear_norm", "jaccard@4", "rtd"]
    assert list(out.subgroup) == [g for g in ("agree", "disagree", "agree_matched") for _ in names]
    assert list(out.measure) == names * 3
    table = out.set_index(["subgroup", "measure"])
    direct = {"cka": S.cka, "cka_debiased": lambda a, b: S.cka(a, b, debiased=True),
              "procrustes_sim": S.procrustes_sim, "procrustes_nuclear_norm": S.procrustes_nuclear_norm,
              "jaccard@4": lambda a, b: S.jaccard(a, b, k)}
    for group, rows in (("agree", mask), ("disagree", ~mask)):
        a, b = reps_a[rows], reps_b[rows]
        shared = S.compare_representations(a, b, ks=(k,), with_rtd=False)
        for name, measure in direct.items():
            assert table.loc[(group, name), "value"] == shared[name]  # the same computation: exact
            assert table.loc[(group, name), "value"] == pytest.approx(measure(a, b), rel=1e-9, abs=1e-12)
        assert table.loc[(group, "rtd"), "value"] == S.rtd(a, b, trials=trials, batch=min(batch, len(a)), seed=3,
                                                           n_jobs=1)
        assert (table.loc[group, "n_inputs"] == rows.sum()).all() and (table.loc[group, "n_draws"] == 1).all()
        assert table.loc[group, "std"].isna().all()
    agree_rows, n_disagree = np.flatnonzero(mask), int((~mask).sum())
    draws_rng = np.random.default_rng(seed)
    subsets = [np.sort(draws_rng.choice(agree_rows, size=n_disagree, replace=False)) for _ in range(draws)]
    for name, measure in direct.items():
        per_draw = np.array([S.compare_representations(reps_a[d], reps_b[d], ks=(k,), with_rtd=False)[name]
                             for d in subsets])
        assert table.loc[("agree_matched", name), "value"] == float(per_draw.mean())
        assert table.loc[("agree_matched", name), "std"] == float(per_draw.std(ddof=1))
        assert table.loc[("agree_matched", name), "value"] == pytest.approx(
            np.mean([measure(reps_a[d], reps_b[d]) for d in subsets]), rel=1e-9, abs=1e-12)
        assert table.loc[("agree_matched", name), "n_draws"] == draws
    assert table.loc[("agree_matched", "rtd"), "value"] == S.rtd(reps_a[mask], reps_b[mask], trials=trials,
                                                                 batch=min(batch, n_disagree), seed=3, n_jobs=1)
    assert np.isnan(table.loc[("agree_matched", "rtd"), "std"])
    assert table.loc[("agree_matched", "rtd"), "n_draws"] == trials
    assert (table.loc["agree_matched", "n_inputs"] == n_disagree).all()


def test_one_matched_draw_has_no_std_and_rtd_can_be_skipped():
    rng = np.random.default_rng(12)
    reps_a, reps_b = rng.normal(size=(50, 5)), rng.normal(size=(50, 5))
    mask = np.arange(50) % 3 != 0
    out = subgroup_measures(reps_a, reps_b, mask, minimum=5, k=3, matched_draws=1, matched_seed=2,
                            with_rtd=False).set_index(["subgroup", "measure"])
    draw = np.sort(np.random.default_rng(2).choice(np.flatnonzero(mask), size=int((~mask).sum()), replace=False))
    assert out.loc[("agree_matched", "cka"), "value"] == S.compare_representations(
        reps_a[draw], reps_b[draw], ks=(3,), with_rtd=False)["cka"]
    assert out.loc["agree_matched", "std"].isna().all() and out.xs("rtd", level="measure")["value"].isna().all()
    assert out.loc[("agree_matched", "rtd"), "n_draws"] == SimilaritySettings.rtd_trials
    assert (out.loc[("agree_matched", "cka"), "n_draws"]) == 1


def test_probe_leaves_excluded_rows_out_of_training():
    """Rows given in ``exclude`` are as if absent: in memory the probe equals one trained without them, bit for
    bit; streamed from disk, with rows mislabelled on purpose, the probe does not learn the wrong labels and its
    schedule still ends at final_lr (the step count follows the rows kept)."""
    from robuniv.analyses import train_linear_probe

    rng = np.random.default_rng(1)
    labels = rng.integers(0, 3, 600)
    centres = rng.normal(size=(3, 16)) * 4
    features = (centres[labels] + rng.normal(size=(600, 16))).astype(np.float32)
    held = rng.choice(600, size=150, replace=False)
    poisoned = labels.copy()
    poisoned[held] = (labels[held] + 1) % 3  # would be learnt if the held-out rows were trained on
    keep = np.setdiff1d(np.arange(600), held)
    excluded = train_linear_probe(features, poisoned, 3, epochs=3, batch_size=32, exclude=held)
    subset = train_linear_probe(features[keep], labels[keep], 3, epochs=3, batch_size=32)
    assert torch.equal(excluded.weight, subset.weight) and torch.equal(excluded.bias, subset.bias)
    on_disk = _CountingRows(features)
    streamed = train_linear_probe(on_disk, poisoned, 3, epochs=3, batch_size=32, block_batches=4, exclude=held,
                                  lr=0.05, final_lr=1e-4)
    predictions = streamed(torch.from_numpy(features[held])).argmax(1).numpy()
    assert (predictions == labels[held]).mean() > 0.95  # the true labels, not the poisoned ones
    with pytest.raises(ValueError, match="every training row is excluded"):
        train_linear_probe(features, labels, 3, epochs=1, exclude=np.arange(600))


def test_probes_on_training_images_are_trained_without_them(tmp_path):
    """input_pool: train (ImageNet100): the comparison inputs are training images; the probe job leaves them
    out of the probes' training set and says so in its file (the leak issue 18 found)."""
    import h5py

    from robuniv import jobs
    from robuniv import settings as st
    from robuniv.checkpoints import save_robustness_checkpoint
    from robuniv.models import create_model

    source, model = {"source": "sklearn_digits"}, st.ModelSettings(arch="resnet18", width=0.125)
    ckpt = tmp_path / "m.ckpt"
    save_robustness_checkpoint(ckpt, create_model(**jobs.model_spec(source, model)), epoch=1)
    for pool in ("train", "eval"):
        ds = st.DatasetSettings(n_inputs=40, input_pool=pool)
        inputs, act, feats, out = (tmp_path / f"{name}_{pool}.h5" for name in ("inputs", "act", "feats", "probe"))
        jobs.prepare_inputs(source, ds, "digits", inputs)
        jobs.extract_activations(ckpt, inputs, source, model, ds, dataset="digits", model_name="m", eps=0,
                                 input_set="regular", out=act, device="cpu")
        jobs.extract_train_features(ckpt, source, model, ds, dataset="digits", model_name="m", eps=0, out=feats,
                                    device="cpu")
        jobs.train_probes(feats, act, st.ProbeSettings(epochs=1), dataset="digits", model_name="m", eps=0, out=out,
                          device="cpu")
        with h5py.File(out) as fh, h5py.File(feats) as train:
            n_train = len(train["labels"])
            held = 40 if pool == "train" else 0
            assert fh.attrs["held_out_of_training"] == held and fh.attrs["n_train"] == n_train - held, pool
            assert fh.attrs["evaluated_on"] == f"the regular comparison inputs ({pool} split)"
