"""Similarity measures against independent float64 references written from the definitions."""
import dataclasses
import itertools
import math

import numpy as np
import pytest
import scipy.linalg
import scipy.spatial.distance
import torch
from hypothesis import given, settings, strategies as st

from robuniv import similarity as S

# ---------------------------------------------------------------- references (definitions, float64, O(N²))


def ref_agreement(la, lb):
    return np.mean([np.argmax(x) == np.argmax(y) for x, y in zip(la, lb)])


def ref_jsd_sim(la, lb):
    p = scipy.special.softmax(la, axis=1)
    q = scipy.special.softmax(lb, axis=1)
    js = np.array([scipy.spatial.distance.jensenshannon(pi, qi) ** 2 for pi, qi in zip(p, q)])  # natural log
    return 1 - js.mean() / math.log(2)


def ref_hsic(K, L, debiased):
    n = K.shape[0]
    if not debiased:
        H = np.eye(n) - np.ones((n, n)) / n
        return np.trace(K @ H @ L @ H) / (n - 1) ** 2
    K, L = K.copy(), L.copy()
    np.fill_diagonal(K, 0)
    np.fill_diagonal(L, 0)
    one = np.ones(n)
    return (np.trace(K @ L) + (one @ K @ one) * (one @ L @ one) / ((n - 1) * (n - 2))
            - 2 / (n - 2) * one @ K @ L @ one) / (n * (n - 3))


def ref_cka(x, y, debiased=False):
    x = x - x.mean(0)
    y = y - y.mean(0)
    K, L = x @ x.T, y @ y.T
    return ref_hsic(K, L, debiased) / math.sqrt(ref_hsic(K, K, debiased) * ref_hsic(L, L, debiased))


def ref_procrustes_distance(x, y):
    """min over orthogonal Q of ||X - Y Q||_F, unit-norm centred, by scipy's orthogonal_procrustes."""
    x = x - x.mean(0)
    y = y - y.mean(0)
    x, y = x / np.linalg.norm(x), y / np.linalg.norm(y)
    d = max(x.shape[1], y.shape[1])
    xp = np.pad(x, ((0, 0), (0, d - x.shape[1])))
    yp = np.pad(y, ((0, 0), (0, d - y.shape[1])))
    Q, _ = scipy.linalg.orthogonal_procrustes(yp, xp)
    return np.linalg.norm(xp - yp @ Q)


def ref_knn_sets(x, k):
    x = x - x.mean(0)
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    sims = x @ x.T
    out = []
    for i in range(len(x)):
        order = [j for j in np.argsort(-sims[i], kind="stable") if j != i]
        out.append(set(order[:k]))
    return out


def ref_jaccard(x, y, k):
    a, b = ref_knn_sets(x, k), ref_knn_sets(y, k)
    return np.mean([len(s & t) / len(s | t) for s, t in zip(a, b)])


def ref_h1_bars(dist):
    """H1 persistence of the Vietoris-Rips filtration by plain Z/2 column reduction (tiny inputs)."""
    n = dist.shape[0]
    simplices = [(0.0, 0, (i,)) for i in range(n)]
    simplices += [(dist[i, j], 1, (i, j)) for i, j in itertools.combinations(range(n), 2)]
    simplices += [(max(dist[i, j], dist[i, k], dist[j, k]), 2, (i, j, k))
                  for i, j, k in itertools.combinations(range(n), 3)]
    simplices.sort(key=lambda s: (s[0], s[1]))
    index = {s[2]: i for i, s in enumerate(simplices)}
    columns = []
    for value, dim, verts in simplices:
        faces = [index[f] for f in itertools.combinations(verts, dim)] if dim > 0 else []
        columns.append(set(faces))
    low_of = {}
    bars = []
    for j, col in enumerate(columns):
        while col:
            low = max(col)
            if low not in low_of:
                low_of[low] = j
                if simplices[low][1] == 1 and simplices[j][0] > simplices[low][0]:
                    bars.append((simplices[low][0], simplices[j][0]))
                break
            col ^= columns[low_of[low]]
    return sorted(bars)


def data(seed, n=60, da=8, db=12, shared=0.7):
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, 5))
    a = z @ rng.normal(size=(5, da)) + 0.3 * rng.normal(size=(n, da))
    b = shared * (z @ rng.normal(size=(5, db))) + rng.normal(size=(n, db))
    return a, b


# ---------------------------------------------------------------- values against the references


@pytest.mark.parametrize("seed", range(3))
def test_measures_match_references(seed):
    a, b = data(seed)
    la, lb = a[:, :6] * 3, b[:, :6] * 3
    assert S.agreement(la, lb) == pytest.approx(ref_agreement(la, lb), abs=1e-12)
    assert S.jsd_sim(la, lb) == pytest.approx(ref_jsd_sim(la, lb), abs=1e-10)
    assert S.cka(a, b) == pytest.approx(ref_cka(a, b), abs=1e-10)
    assert S.cka(a, b, debiased=True) == pytest.approx(ref_cka(a, b, debiased=True), abs=1e-10)
    d = ref_procrustes_distance(a, b)
    assert S.procrustes_distance(a, b) == pytest.approx(d, abs=1e-8)
    assert S.procrustes_sim(a, b) == pytest.approx((2 - d) / 2, abs=1e-8)
    assert S.procrustes_nuclear_norm(a, b) == pytest.approx(1 - d ** 2 / 2, abs=1e-8)
    for k in (1, 5, 20):
        assert S.jaccard(a, b, k=k) == pytest.approx(ref_jaccard(a, b, k), abs=1e-12)


def test_knn_graph_blocks_give_the_brute_force_graph():
    a, _ = data(4, n=301)
    ref = ref_knn_sets(a, 7)
    for block in (1, 16, 100, 301, 4096):
        graph = S.knn_graph(a, 7, block_size=block)
        assert graph.shape == (301, 7) and graph.dtype == np.int64
        assert [set(row) for row in graph] == ref
    # sorted by similarity: the first j columns are the j-NN graph
    for j in (1, 3):
        assert [set(row) for row in S.knn_graph(a, 7)[:, :j]] == ref_knn_sets(a, j)


def test_one_top_k_search_serves_every_smaller_k():
    a, b = data(5, n=200)
    ga, gb = S.knn_graph(a, 50), S.knn_graph(b, 50)
    for k in (5, 10, 50):
        assert S.jaccard_from_graphs(ga, gb, k=k) == pytest.approx(S.jaccard(a, b, k=k), abs=1e-12)


@pytest.mark.parametrize("n", [4, 5, 6])
def test_rtd_barcode_matches_plain_persistence(n):
    rng = np.random.default_rng(n)
    d1 = scipy.spatial.distance.squareform(rng.uniform(0.1, 1, size=n * (n - 1) // 2))
    d2 = scipy.spatial.distance.squareform(rng.uniform(0.1, 1, size=n * (n - 1) // 2))
    cross = np.zeros((2 * n, 2 * n))
    cross[n:, :n], cross[:n, n:], cross[n:, n:] = d1, d1.T, np.minimum(d1, d2)
    ours = sorted(map(tuple, S.rtd_cross_barcode(d1, d2)))
    ref = ref_h1_bars(cross)
    assert len(ours) == len(ref)
    np.testing.assert_allclose(np.array(ours).reshape(-1, 2), np.array(ref).reshape(-1, 2), atol=1e-12)


@pytest.mark.parametrize("n, dim", [(6, 2), (40, 5), (120, 30)])
def test_rtd_barcode_of_the_compiled_core_is_giotto_phs_front_end_bit_for_bit(n, dim):
    from robuniv import _rtd_worker

    rng = np.random.default_rng(n)
    d1, d2 = (scipy.spatial.distance.squareform(scipy.spatial.distance.pdist(rng.normal(size=(n, dim))))
              for _ in range(2))
    d2[:3, :3] = d1[:3, :3]  # ties between the two matrices, as min(D1, D2) meets them
    core = _rtd_worker.cross_barcode(d1, d2)
    front_end = _rtd_worker.cross_barcode(d1, d2, front_end=True)
    assert core.shape == front_end.shape and len(core) > (0 if n < 10 else 5)
    assert np.array_equal(core, front_end)
    assert _rtd_worker.ripser_core() is not None  # the fast path was taken, not the fallback


def test_rtd_loads_no_scikit_learn():
    """giotto-ph's front end imports scikit-learn (0.9 s per comparison job); RTD must not need it."""
    import subprocess
    import sys

    code = ("import sys, numpy as np; from robuniv import _rtd_worker as W; rng = np.random.default_rng(0); "
            "x = rng.random((30, 30)); d = x + x.T; np.fill_diagonal(d, 0); W.total_persistence(d, d.T * 0.9); "
            "print(sorted(m for m in ('sklearn', 'gph', 'torch', 'pandas') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_rtd_of_identical_inputs_is_zero_and_of_different_positive():
    a, b = data(6, n=120)
    assert S.rtd(a, a, trials=2, batch=50) == 0.0
    assert S.rtd(a, b, trials=2, batch=50) > 0


def test_rtd_is_reproducible_and_parallel_equals_serial():
    a, b = data(7, n=150)
    serial = S.rtd(a, b, trials=3, batch=60, seed=4, n_jobs=1)
    assert S.rtd(a, b, trials=3, batch=60, seed=4, n_jobs=2) == serial
    assert S.rtd(a, b, trials=3, batch=60, seed=5, n_jobs=1) != serial
    assert S.rtd(a, b, trials=3, batch=60, seed=4) == pytest.approx(S.rtd(b, a, trials=3, batch=60, seed=4))


def test_identical_inputs_give_one():
    a, _ = data(8)
    for fn in (S.cka, S.procrustes_nuclear_norm, S.jaccard, S.agreement, S.jsd_sim):
        assert fn(a, a) == pytest.approx(1.0, abs=1e-9), fn.__name__
    assert S.cka(a, a, debiased=True) == pytest.approx(1.0, abs=1e-9)
    # d = sqrt(2 - 2 nuc) turns nuc's 1e-16 rounding into 1e-8
    assert S.procrustes_distance(a, a) == pytest.approx(0.0, abs=1e-7)
    assert S.procrustes_sim(a, a) == pytest.approx(1.0, abs=1e-7)


# ---------------------------------------------------------------- invariances (hypothesis)


def random_orthogonal(rng, d):
    q, r = np.linalg.qr(rng.normal(size=(d, d)))
    return q * np.sign(np.diag(r))


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(15, 60), da=st.integers(2, 10), db=st.integers(2, 10),
       scale=st.floats(0.01, 100), shift=st.floats(-50, 50))
def test_invariances(seed, n, da, db, scale, shift):
    a, b = data(seed, n=n, da=da, db=db)
    rng = np.random.default_rng(seed + 1)
    transformed = scale * a @ random_orthogonal(rng, da) + shift
    for name, fn in [("cka", S.cka), ("cka_debiased", lambda x, y: S.cka(x, y, debiased=True)),
                     ("procrustes", S.procrustes_sim)]:
        assert fn(transformed, b) == pytest.approx(fn(a, b), abs=1e-7), name
    k = min(5, n - 1)
    # cosine kNN after centring: invariant under rotation, isotropic scaling and translation
    assert S.jaccard(transformed, b, k=k) == pytest.approx(S.jaccard(a, b, k=k), abs=1e-12)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(15, 50))
def test_row_permutation_symmetry_and_ranges(seed, n):
    a, b = data(seed, n=n)
    la, lb = a[:, :4], b[:, :4]
    perm = np.random.default_rng(seed).permutation(n)
    k = min(4, n - 1)
    measures = {
        "agreement": (lambda x, y: S.agreement(x[:, :4], y[:, :4]), (0, 1)),
        "jsd_sim": (lambda x, y: S.jsd_sim(x[:, :4], y[:, :4]), (0, 1)),
        "cka": (S.cka, (0, 1)),
        "procrustes_sim": (S.procrustes_sim, (1 - math.sqrt(2) / 2, 1)),
        "nuc": (S.procrustes_nuclear_norm, (0, 1)),
        "jaccard": (lambda x, y: S.jaccard(x, y, k=k), (0, 1)),
        "rtd": (lambda x, y: S.rtd(x, y, trials=1, batch=n, n_jobs=1), (0, math.inf)),
    }
    for name, (fn, (lo, hi)) in measures.items():
        value = fn(a, b)
        assert lo - 1e-9 <= value <= hi + 1e-9, name
        assert fn(a[perm], b[perm]) == pytest.approx(value, abs=1e-7), name
        assert fn(b, a) == pytest.approx(value, abs=1e-7), name
    assert S.agreement(la, lb) == S.agreement(la[perm], lb[perm])


# ---------------------------------------------------------------- dtypes and devices


def test_float32_matches_float64_at_scale():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(3000, 32))
    a = np.maximum(z @ rng.normal(size=(32, 300)) + 5, 0)  # large mean: centring must be accurate
    b = np.maximum(z[:, :16] @ rng.normal(size=(16, 200)) + rng.normal(size=(3000, 200)), 0)
    for fn in (S.cka, lambda x, y: S.cka(x, y, debiased=True), S.procrustes_sim, S.procrustes_nuclear_norm):
        assert fn(a.astype(np.float32), b.astype(np.float32)) == pytest.approx(fn(a, b), abs=2e-5)
    t32 = S.compare_representations(torch.tensor(a, dtype=torch.float32), b.astype(np.float32), ks=(10,),
                                    with_rtd=False)
    assert t32["cka"] == pytest.approx(S.cka(a, b), abs=2e-5)
    assert t32["jaccard@10"] == pytest.approx(S.jaccard(a, b, 10), abs=2e-3)


def test_compare_representations_equals_the_single_measures():
    a, b = data(9, n=120)
    ga, gb = S.knn_graph(a, 20), S.knn_graph(b, 20)
    out = S.compare_representations(a, b, ks=(5, 20), graphs_a=ga, graphs_b=gb, rtd_trials=2, rtd_batch=40)
    assert out["cka"] == pytest.approx(S.cka(a, b), abs=1e-12)
    assert out["cka_debiased"] == pytest.approx(S.cka(a, b, debiased=True), abs=1e-12)
    assert out["procrustes_sim"] == pytest.approx(S.procrustes_sim(a, b), abs=1e-12)
    assert out["procrustes_nuclear_norm"] == pytest.approx(S.procrustes_nuclear_norm(a, b), abs=1e-12)
    assert out["jaccard@5"] == pytest.approx(S.jaccard(a, b, 5), abs=1e-12)
    assert out["jaccard@20"] == pytest.approx(S.jaccard(a, b, 20), abs=1e-12)
    assert out["rtd"] == S.rtd(a, b, trials=2, batch=40)


@pytest.mark.gpu
def test_every_measure_on_cuda_matches_cpu():
    a, b = data(10, n=400, da=64, db=96)
    ca, cb = torch.tensor(a, device="cuda"), torch.tensor(b, device="cuda")
    for fn in (S.agreement, S.jsd_sim):
        assert fn(ca[:, :10], cb[:, :10]) == pytest.approx(fn(a[:, :10], b[:, :10]), abs=1e-9)
    for fn in (S.cka, lambda x, y: S.cka(x, y, debiased=True), S.procrustes_sim, S.procrustes_nuclear_norm,
               lambda x, y: S.jaccard(x, y, 10), lambda x, y: S.rtd(x, y, trials=2, batch=100)):
        assert fn(ca, cb) == pytest.approx(fn(a, b), abs=1e-6)
    f32 = S.compare_representations(ca.float(), cb.float(), ks=(10,), with_rtd=False)
    assert f32["cka"] == pytest.approx(S.cka(a, b), abs=1e-5)
    assert np.array_equal(S.knn_graph(ca, 10), S.knn_graph(a, 10))


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize("call,message", [
    (lambda a, b: S.cka(a, b[:-1]), "reps_a and reps_b have different numbers of rows"),
    (lambda a, b: S.cka(a[:, 0], b), r"reps_a must be 2-D"),
    (lambda a, b: S.procrustes_sim(a[:0], b[:0]), "reps_a is empty"),
    (lambda a, b: S.cka(np.where(a > 1, np.nan, a), b), "reps_a contains NaN or inf"),
    (lambda a, b: S.jaccard(a, np.where(b > 1, np.inf, b)), "reps_b contains NaN or inf"),
    (lambda a, b: S.jaccard(a, b, k=len(a)), "k must be smaller than the number of inputs"),
    (lambda a, b: S.knn_graph(a, 0), "k must be a positive integer"),
    (lambda a, b: S.rtd(a, b, batch=len(a) + 1), "batch must not exceed the number of inputs"),
    (lambda a, b: S.cka(np.ones_like(a), b), "reps_a is constant"),
    (lambda a, b: S.procrustes_sim(a, np.ones_like(b) * 3), "reps_b is constant"),
    (lambda a, b: S.rtd(a, np.ones_like(b), trials=1, batch=10), "constant"),
    (lambda a, b: S.agreement(a[:, :3], b[:, :4]), "different numbers of classes"),
    (lambda a, b: S.jaccard_from_graphs(np.zeros((3, 2)), np.zeros((4, 2))), "graph_a and graph_b"),
])
def test_bad_input_raises_value_error_naming_the_argument(call, message):
    a, b = data(11, n=30)
    with pytest.raises(ValueError, match=message):
        call(a, b)


def test_jaccard_curve_equals_jaccard_per_k():
    a, b = data(12, n=250)
    ga, gb = S.knn_graph(a, 40), S.knn_graph(b, 40)
    curve = S.jaccard_curve(ga, gb, [40, 1, 7])
    assert list(curve) == [1, 7, 40]
    for k, value in curve.items():
        assert value == pytest.approx(ref_jaccard(a, b, k), abs=1e-12)


# ---------------------------------------------------------------- extreme scales and bad graphs


@pytest.mark.parametrize("scale", [1e-200, 1e-8, 1e-3, 1e3, 1e8, 1e100, 1e200])
def test_scale_invariant_measures_at_extreme_scales(scale):
    a, b = data(13, n=80, da=12, db=9)
    a = a + 3.0  # an offset: centring must happen before any product
    fns = {"cka": S.cka, "cka_debiased": lambda x, y: S.cka(x, y, debiased=True),
           "procrustes_nuclear_norm": S.procrustes_nuclear_norm, "procrustes_distance": S.procrustes_distance,
           "jaccard@5": lambda x, y: S.jaccard(x, y, 5), "rtd": lambda x, y: S.rtd(x, y, trials=1, batch=40, n_jobs=1)}
    together = S.compare_representations(a * scale, b, ks=(5,), rtd_trials=1, rtd_batch=40, rtd_jobs=1)
    for name, fn in fns.items():
        expected = fn(a, b)
        for value in (fn(a * scale, b), fn(a * scale, b * scale), fn(a, b / scale), together[name]):
            assert math.isfinite(value), name
            assert value == pytest.approx(expected, rel=1e-9, abs=1e-12), name


@pytest.mark.parametrize("scale", [1e-30, 1e-8, 1e8, 1e30])
def test_float32_at_extreme_scales(scale):
    a, b = data(14, n=60, da=8, db=8)
    a32, b32 = (a * scale).astype(np.float32), b.astype(np.float32)
    for fn in (S.cka, lambda x, y: S.cka(x, y, debiased=True), S.procrustes_nuclear_norm):
        assert fn(a32, b32) == pytest.approx(fn(a, b), abs=1e-5)


def test_constant_check_is_relative():
    a, b = data(15, n=40)
    for scale in (1e-150, 1e-8, 1, 1e150):
        with pytest.raises(ValueError, match="reps_a is constant"):
            S.cka(np.full_like(a, 7.0) * scale, b)
    tiny = 1e-300 * a  # varies, however small: defined, and equal to the unscaled value
    assert S.cka(tiny, b) == pytest.approx(S.cka(a, b), rel=1e-9)


def _graphs(n=30, k=4):
    a, b = data(16, n=n)
    return S.knn_graph(a, k), S.knn_graph(b, k)


@pytest.mark.parametrize("fn", [lambda ga, gb: S.jaccard_from_graphs(ga, gb),
                                lambda ga, gb: S.jaccard_curve(ga, gb, [2, 4])])
@pytest.mark.parametrize("corrupt,message", [
    (lambda g: g.astype(np.float64), "must hold integer"),
    (lambda g: np.where(np.arange(g.shape[0])[:, None] == 5, -1, g), r"outside \[0, 30\) \(first in row 5\)"),
    (lambda g: np.where(np.arange(g.shape[0])[:, None] == 7, 30, g), r"outside \[0, 30\) \(first in row 7\)"),
    (lambda g: np.concatenate([g[:3], np.column_stack([np.arange(3, 30), g[3:, 1:]])]), "own neighbour .*row 3"),
    (lambda g: np.column_stack([g[:, :1], g[:, :1], g[:, 2:]]), "repeats a neighbour"),
])
@pytest.mark.parametrize("which", ["graph_a", "graph_b"])
def test_bad_graphs_raise_value_error_naming_the_argument(fn, corrupt, message, which):
    ga, gb = _graphs()
    ga, gb = (corrupt(ga), gb) if which == "graph_a" else (ga, corrupt(gb))
    with pytest.raises(ValueError, match=f"{which} .*{message}"):
        fn(ga, gb)


def test_compare_pair_adds_the_prediction_measures():
    a, b = data(17, n=60)
    out = S.compare_pair(a[:, :5], b[:, :5], a, b, ks=(5,), with_rtd=False)
    assert out["agreement"] == S.agreement(a[:, :5], b[:, :5])
    assert out["jsd_sim"] == S.jsd_sim(a[:, :5], b[:, :5])
    assert out["cka"] == S.compare_representations(a, b, ks=(5,), with_rtd=False)["cka"]



def test_per_model_summaries_give_the_pairs_values_bit_for_bit():
    """netrep's split: norms and RTD distances computed once per model give exactly the pair's own values;
    summaries of another dtype or other RTD settings are not used (the values stay the pair's own)."""
    rng = np.random.default_rng(3)
    a = rng.standard_normal((240, 30)).astype(np.float32)
    b = (a @ rng.standard_normal((30, 20)) + rng.standard_normal((240, 20))).astype(np.float32)
    options = dict(ks=(5, 10), rtd_trials=2, rtd_batch=80, rtd_seed=1, rtd_jobs=1)
    reference = S.compare_representations(a, b, **options)
    summaries = tuple(S.summarise(x, rtd_trials=2, rtd_batch=80, rtd_seed=1) for x in (a, b))
    assert S.compare_representations(a, b, summaries=summaries, **options) == reference
    other_rtd = tuple(S.summarise(x, rtd_trials=3, rtd_batch=80, rtd_seed=1) for x in (a, b))
    assert other_rtd[0].rtd_distances(2, 80, 1) is None
    assert S.compare_representations(a, b, summaries=other_rtd, **options) == reference
    as_float64 = tuple(S.summarise(x.astype(np.float64)) for x in (a, b))  # another dtype: recomputed
    assert S.compare_representations(a, b, summaries=as_float64, **{**options, "with_rtd": False}) == {
        k: v for k, v in reference.items() if k != "rtd"}
    # a summary whose values are not the pair's would change the result: the summaries are really read
    wrong = (dataclasses.replace(summaries[0], gram_sq_norm=summaries[0].gram_sq_norm * 4), summaries[1])
    assert S.compare_representations(a, b, summaries=wrong, **options)["cka"] == pytest.approx(reference["cka"] / 2)
    uncentred = (dataclasses.replace(summaries[0], mean=np.zeros_like(summaries[0].mean)), summaries[1])
    assert S.compare_representations(a, b, summaries=uncentred, **options)["cka"] != reference["cka"]
    with pytest.raises(ValueError, match="the summary of reps_a is of 240 inputs, the pair has 239"):
        S.compare_representations(a[1:], b[1:], summaries=summaries, **options)
    distances = S.rtd_distances(a, 2, 80, 1)
    assert distances.shape == (2, 80, 80) and np.array_equal(distances, summaries[0].rtd["distances"])
    with pytest.raises(ValueError, match=r"distances_a has shape \(2, 80, 80\), expected \(3, 80, 80\)"):
        S.rtd(a, b, trials=3, batch=80, seed=1, n_jobs=1, distances_a=distances)


@pytest.mark.parametrize("condition", [1e2, 1e4, 1e6, 1e8])
def test_float32_nuclear_norm_is_float64_svds_on_ill_conditioned_inputs(condition):
    """The nuclear norm runs a float32 SVD of the D x D cross product (float32 inputs): against scipy's float64
    SVD of the same centred, unit-norm matrices it stays within 2e-6 relative (measured: at most 2.1e-7),
    for singular values spread over `condition`, and for rank-deficient post-ReLU and unrelated inputs."""
    rng = np.random.default_rng(int(np.log10(condition)))
    n, d = 2000, 256

    def reference(a, b):
        x, y = (m.astype(np.float64) - m.astype(np.float64).mean(0) for m in (a, b))
        return scipy.linalg.svdvals((x / np.linalg.norm(x)).T @ (y / np.linalg.norm(y))).sum()

    u, v = np.linalg.qr(rng.standard_normal((n, d)))[0], np.linalg.qr(rng.standard_normal((d, d)))[0]
    spread = np.logspace(0, -np.log10(condition), d)
    a = (u * spread) @ v
    b = a @ np.linalg.qr(rng.standard_normal((d, d)))[0] + 1e-3 * rng.standard_normal((n, d)) * spread
    z = rng.standard_normal((n, 20))
    low_a, low_b = (np.maximum(z[:, :r] @ rng.standard_normal((r, d)), 0) for r in (20, 15))
    unrelated = rng.standard_normal((n, d)) * spread, rng.standard_normal((n, d))
    for x, y in ((a, b), (low_a, low_b), unrelated):
        x, y = x.astype(np.float32), y.astype(np.float32)
        assert S.procrustes_nuclear_norm(x, y) == pytest.approx(reference(x, y), rel=2e-6)


def test_finite_check_accepts_values_whose_sum_overflows_and_finds_every_non_finite():
    huge = np.full((50, 4), 3e38, dtype=np.float32)  # finite, but their float32 sum is inf
    assert S._as_tensor(huge, "huge").shape == (50, 4)
    for bad in (np.nan, np.inf, -np.inf):
        x = np.ones((50, 4), dtype=np.float32)
        x[17, 2] = bad
        with pytest.raises(ValueError, match="x contains NaN or inf"):
            S._as_tensor(x, "x")
