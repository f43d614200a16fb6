"""The catalogue's measures (robuniv.similarity.compute) against the from-definition references in
tests/measure_references.py, on random, structured and nonnegative inputs, in both argument orders.

No skipping: a measure the library does not know fails here."""
import numpy as np
import pytest

from measure_references import KNN_MEASURES, REFERENCES
from robuniv.similarity import compute

K = 10  # the kNN measures' k (continuous random data: no ties among the neighbours)
N = 120

# Tolerance for float64 inputs: rtol=1e-6, atol=1e-8 (the references take other routes through
# float64 linear algebra; agreement is ~1e-12 where both are right, so this only absorbs rounding).
RTOL64, ATOL64 = 1e-6, 1e-8
# Tolerance for float32 inputs (the reference is computed in float64 on the same float32 values):
# rtol=1e-4, atol=1e-6, room for a library that keeps some float32 arithmetic.
RTOL32, ATOL32 = 1e-4, 1e-6


def _gaussian(rng, da=30, db=20):
    return rng.standard_normal((N, da)), rng.standard_normal((N, db))


def _linear(rng, da=30, db=20):
    """B = A M + small noise: strongly related representations."""
    A = rng.standard_normal((N, da))
    return A, A @ rng.standard_normal((da, db)) + 0.1 * rng.standard_normal((N, db))


def _relu(rng, da=30, db=20):
    """Post-ReLU-like nonnegative inputs (a little positive jitter so that no column or row is constant)."""
    A, B = _gaussian(rng, da, db)
    return np.maximum(A, 0) + 0.01 * rng.random((N, da)), np.maximum(B, 0) + 0.01 * rng.random((N, db))


def _unit_rows(rng, da=30, db=20):
    """Unit-norm rows (the setting of uniformity, where distances are O(1) and its value is informative)."""
    A = rng.standard_normal((N, da))
    B = A[:, :db] + 0.7 * rng.standard_normal((N, db))
    return A / np.linalg.norm(A, axis=1, keepdims=True), B / np.linalg.norm(B, axis=1, keepdims=True)


CASES = {
    "gaussian_30_20": lambda rng: _gaussian(rng, 30, 20),
    "gaussian_25_25": lambda rng: _gaussian(rng, 25, 25),  # equal widths (aligned_cosine needs no padding)
    "linear_30_20": _linear,
    "relu_30_20": _relu,
    "unit_rows_30_20": _unit_rows,
}


def _case(case: str, order: str):
    A, B = CASES[case](np.random.default_rng(sorted(CASES).index(case)))
    return (A, B) if order == "ab" else (B, A)


def _library_name(name: str, k: int = K) -> str:
    return f"{name}@{k}" if name in KNN_MEASURES else name


def _reference(name: str, A, B, k: int = K) -> float:
    A, B = np.asarray(A, dtype=np.float64), np.asarray(B, dtype=np.float64)
    return REFERENCES[name](A, B, k=k) if name in KNN_MEASURES else REFERENCES[name](A, B)


def test_the_references_cover_the_catalogue():
    assert len(REFERENCES) == 21


@pytest.mark.parametrize("order", ["ab", "ba"])  # both argument orders: pwcca, linear_regression, cknna are asymmetric
@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("name", list(REFERENCES))
def test_float64_matches_reference(name, case, order):
    A, B = _case(case, order)
    expected = _reference(name, A, B)
    assert np.isfinite(expected), (name, case, order)
    value = compute(_library_name(name), A, B)
    assert np.isfinite(value)
    np.testing.assert_allclose(value, expected, rtol=RTOL64, atol=ATOL64, err_msg=f"{name} on {case} ({order})")


@pytest.mark.parametrize("name", list(REFERENCES))
def test_float32_inputs_match_reference(name):
    A, B = _case("gaussian_30_20", "ab")
    A32, B32 = A.astype(np.float32), B.astype(np.float32)
    expected = _reference(name, A32, B32)
    value = compute(_library_name(name), A32, B32)
    np.testing.assert_allclose(value, expected, rtol=RTOL32, atol=ATOL32, err_msg=f"{name} on float32 inputs")


@pytest.mark.parametrize("k", [5, 25])
@pytest.mark.parametrize("name", KNN_MEASURES)
def test_knn_measures_at_other_k(name, k):
    A, B = _case("linear_30_20", "ab")
    value = compute(_library_name(name, k), A, B)
    np.testing.assert_allclose(value, _reference(name, A, B, k=k), rtol=RTOL64, atol=ATOL64,
                               err_msg=f"{name}@{k}")


@pytest.mark.parametrize("name", ["mutual_knn", "cknna"])
def test_knn_overlap_of_a_representation_with_itself_is_one(name):
    A, _ = _case("gaussian_30_20", "ab")
    assert _reference(name, A, A) == pytest.approx(1.0, abs=1e-12)
    assert compute(_library_name(name), A, A) == pytest.approx(1.0, abs=1e-10)


@pytest.mark.parametrize("case", ["normal", "ties", "one", "empty", "constant", "nan", "signed_zero", "inf"])
def test_average_ranks_are_scipys_rankdata(case):
    """RSA's Spearman ranks without scipy.stats: equal to scipy.stats.rankdata (method "average") exactly."""
    import scipy.stats

    from robuniv.catalogue import average_ranks

    rng = np.random.default_rng(3)
    x = {"normal": rng.normal(size=2001), "ties": rng.integers(0, 7, size=3000).astype(np.float32),
         "one": np.array([4.0]), "empty": np.array([]), "constant": np.full(9, 2.5), "nan": np.array([1, np.nan, 3.0]),
         "signed_zero": np.array([0.0, -0.0, 1.0, -1.0]), "inf": np.array([np.inf, -np.inf, 1.0, np.inf])}[case]
    ours = average_ranks(x)
    assert ours.dtype == np.float64
    assert np.array_equal(ours, scipy.stats.rankdata(x), equal_nan=True)
