"""The properties each registry entry declares (robuniv.measures: invariances, symmetric, metric), tested
generically: a declared invariance must leave the value unchanged whichever representation is transformed, an
undeclared one must change it for these inputs, and so on. A wrong flag fails here."""
import numpy as np
import pytest

from robuniv import measures as M
from robuniv.similarity import compute

N, D = 80, 12
RTD_OPTIONS = {"rtd_trials": 2, "rtd_batch": 40}


def _inputs():
    """Structured inputs: a decaying spectrum (so that truncating to 99 % of the variance matters), an offset
    from the origin (so that centring matters) and a scale at which exp(−2‖rᵢ − rⱼ‖²) does not underflow."""
    rng = np.random.default_rng(7)
    spectrum = 0.6 ** np.arange(D)
    a = rng.normal(size=(N, D)) * spectrum @ np.linalg.qr(rng.normal(size=(D, D)))[0] * 0.5 + 0.3
    b = a @ (np.eye(D) + 0.6 * rng.normal(size=(D, D))) + 0.05 * rng.normal(size=(N, D)) + 0.1
    c = 0.5 * a + 0.4 * rng.normal(size=(N, D)) * spectrum
    return a, b, c


A, B, C = _inputs()
_rng = np.random.default_rng(11)
TRANSFORMS = {
    "orthogonal": lambda x: x @ np.linalg.qr(_rng.normal(size=(D, D)))[0],
    "isotropic_scaling": lambda x: 3.7 * x,
    "translation": lambda x: x + 2.0 * _rng.normal(size=(1, D)),
    "permutation": lambda x: x[:, _rng.permutation(D)],
    "invertible_linear": lambda x: x @ (np.eye(D) + 0.8 * _rng.normal(size=(D, D))),
}
DECLARED = [name for name, m in M.MEASURES.items() if m.invariances is not None and (M.split_k(name)[1] or 0) < N // 2]


def value(name, a, b):
    return compute(name, a, b, **(RTD_OPTIONS if name == M.RTD else {}))


def same(x, y) -> bool:
    return bool(np.isclose(x, y, rtol=1e-6, atol=1e-9))


def test_every_representation_measure_declares_its_properties():
    undeclared = [n for n, m in M.MEASURES.items() if m.kind == M.REPRESENTATIONS and m.invariances is None]
    assert undeclared == []
    assert len(DECLARED) >= 28


@pytest.mark.parametrize("transform", list(TRANSFORMS))
@pytest.mark.parametrize("name", DECLARED)
def test_declared_invariance(name, transform):
    entry = M.measure(name)
    base = value(name, A, B)
    moved = [value(name, TRANSFORMS[transform](A), B), value(name, A, TRANSFORMS[transform](B))]
    if transform in entry.invariances:
        assert all(same(base, v) for v in moved), f"{name} declares {transform} invariance: {base} vs {moved}"
    else:
        assert not all(same(base, v) for v in moved), (
            f"{name} does not declare {transform} invariance, but the value stays {base} ({moved})")


@pytest.mark.parametrize("name", DECLARED)
def test_declared_symmetry(name):
    forward, backward = value(name, A, B), value(name, B, A)
    assert same(forward, backward) == M.measure(name).symmetric, (name, forward, backward)


@pytest.mark.parametrize("name", [n for n in DECLARED if M.measure(n).metric])
def test_declared_metric(name):
    assert abs(value(name, A, A)) < 1e-6
    triples = [(A, B, C), (B, C, A), (C, A, B), (A, C, B)]
    for x, y, z in triples:
        assert value(name, x, z) <= value(name, x, y) + value(name, y, z) + 1e-9, name


def test_metric_flags_are_those_of_distances():
    # a similarity (higher is more similar) is never declared a metric
    assert all(M.measure(n).direction == M.LOWER for n in DECLARED if M.measure(n).metric)


@pytest.mark.parametrize("name", [n for n in DECLARED if M.measure(n).direction == M.LOWER
                                  and M.measure(n).metric is False])
def test_undeclared_metric(name):
    """A distance-like measure declared no metric breaks an axiom here: it is 0 between A and A with its
    inputs shuffled (a different representation of the same inputs, for measures of one-model statistics), or
    the triangle inequality fails on one of these triples."""
    shuffled = A[np.random.default_rng(3).permutation(N)]
    direction = np.random.default_rng(4).normal(size=A.shape)  # three points on a line: squared distances fail
    triples = [(A, B, C), (B, C, A), (C, A, B), tuple(A + s * direction for s in (0.0, 0.3, 0.6))]
    indiscernible = abs(value(name, A, shuffled)) < 1e-9
    triangle = any(value(name, x, z) > value(name, x, y) + value(name, y, z) + 1e-9 for x, y, z in triples)
    assert indiscernible or triangle, f"{name} is not declared a metric, but behaved as one here"
