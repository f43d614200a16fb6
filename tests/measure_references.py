"""From-definition float64 references for the 21 measures of the catalogue (robuniv.catalogue).

Each ``ref_<name>(A, B, **settings) -> float`` is written straight from the definition in the catalogue
contract (A: N x Da, B: N x Db, rows = inputs), as plainly as possible (loops over rows, no shared steps),
with numpy / scipy only and no import of robuniv, so that the library's implementations can be checked
against them. Where the contract follows ReSi (Klabunde et al. 2023/2024), these follow its definitions,
not its code. Sources:

- svcca: Raghu et al. 2017 (SVCCA; 99% of the variance kept per model)
- pwcca: Morcos et al. 2018 (projection-weighted CCA; weights from the first argument)
- linear_regression, magnitude_difference, concentricity_difference: statistics as in Klabunde et al.'s
  2023 survey (Kornblith-style R^2 of a linear fit; magnitude and concentricity of the mean)
- rsa: Kriegeskorte et al. 2008 (Pearson RSMs compared by Spearman correlation)
- rsm_norm_difference: Klabunde et al. 2023 (spectral norm of the difference of the Euclidean RSMs)
- distance_correlation: Szekely et al. 2007
- eigenspace_overlap: May et al. 2019
- hard_correlation_match, soft_correlation_match: Li et al. 2016 (convergent learning)
- second_order_cosine: Hamilton et al. 2016 (in ReSi's form: cosine distances over the union of neighbours)
- rank_similarity: Wang et al. 2022
- mutual_knn, cknna: Huh et al. 2024 (the Platonic representation hypothesis)
- aligned_cosine, orthogonal_angular_shape_metric: Williams et al. 2021 (generalized shape metrics)
- permutation_procrustes, procrustes_size_and_shape: Ding et al. 2021; Dryden & Mardia (statistical
  shape analysis)
- gulp: Boix-Adsera et al. 2022 (lambda = 0, a squared distance)
- uniformity_difference: Wang & Isola 2020 (uniformity with t = 2)
"""
import numpy as np
import scipy.optimize
import scipy.stats


# ---------------------------------------------------------------- small helpers
def _f64(X):
    return np.asarray(X, dtype=np.float64)


def _centre(X):
    """Subtract the column means (over inputs)."""
    X = _f64(X)
    return X - X.mean(axis=0, keepdims=True)


def _unit_rows(X):
    X = _f64(X)
    return X / np.linalg.norm(X, axis=1, keepdims=True)


def _zero_pad(A, B):
    """Pad the narrower matrix with columns of zeros to the wider one's width."""
    A, B = _f64(A), _f64(B)
    width = max(A.shape[1], B.shape[1])
    A = np.hstack([A, np.zeros((A.shape[0], width - A.shape[1]))])
    B = np.hstack([B, np.zeros((B.shape[0], width - B.shape[1]))])
    return A, B


def _orthonormal_basis(X):
    """An orthonormal basis (N x rank) of the column space of X (left singular vectors of nonzero singular values)."""
    U, S, _ = np.linalg.svd(X, full_matrices=False)
    r = np.linalg.matrix_rank(X)
    return U[:, :r]


def _cosine(u, v):
    return float(np.dot(u, v) / (np.linalg.norm(u) * np.linalg.norm(v)))


def _pearson(u, v):
    u = u - u.mean()
    v = v - v.mean()
    return _cosine(u, v)


def _euclidean_distances(X):
    X = _f64(X)
    n = X.shape[0]
    D = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            D[i, j] = np.sqrt(np.sum((X[i] - X[j]) ** 2))
    return D


def _cosine_distances(X):
    X = _f64(X)
    n = X.shape[0]
    D = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            D[i, j] = 1.0 - _cosine(X[i], X[j])
    return D


def _nearest(D, i, k):
    """The k rows nearest to row i by the distances D[i, :], excluding i itself, nearest first."""
    others = [j for j in range(D.shape[0]) if j != i]
    others.sort(key=lambda j: D[i, j])
    return others[:k]


def _nuclear_norm(M):
    return float(np.sum(np.linalg.svd(M, compute_uv=False)))


# ---------------------------------------------------------------- CCA family
def ref_svcca(A, B, variance=0.99):
    def reduce(X):
        Xc = _centre(X)
        U, S, _ = np.linalg.svd(Xc, full_matrices=False)
        total = np.sum(S ** 2)
        running = 0.0
        r = len(S)
        for idx, s in enumerate(S):
            running += s ** 2
            if running / total >= variance:
                r = idx + 1
                break
        return U[:, :r] * S[:r]

    Ar, Br = reduce(A), reduce(B)
    Qa, _ = np.linalg.qr(_centre(Ar))
    Qb, _ = np.linalg.qr(_centre(Br))
    rho = np.linalg.svd(Qa.T @ Qb, compute_uv=False)
    m = min(Ar.shape[1], Br.shape[1])
    return float(np.mean(rho[:m]))


def ref_pwcca(A, B):
    Ac, Bc = _centre(A), _centre(B)
    Qa, _ = np.linalg.qr(Ac)
    Qb, _ = np.linalg.qr(Bc)
    U, rho, _ = np.linalg.svd(Qa.T @ Qb, full_matrices=False)
    H = Qa @ U  # canonical variates of A, N x min(Da, Db)
    alpha = np.zeros(H.shape[1])
    for i in range(H.shape[1]):
        for j in range(Ac.shape[1]):
            alpha[i] += abs(np.dot(H[:, i], Ac[:, j]))
    alpha = alpha / alpha.sum()
    return float(np.sum(alpha * rho))


# ---------------------------------------------------------------- alignment family
def ref_linear_regression(A, B):
    Ac, Bc = _centre(A), _centre(B)
    Qb = _orthonormal_basis(Bc)
    return float(np.sum((Qb.T @ Ac) ** 2) / np.sum(Ac ** 2))


def ref_eigenspace_overlap(A, B):
    A, B = _f64(A), _f64(B)
    Ua, Ub = _orthonormal_basis(A), _orthonormal_basis(B)
    return float(np.sum((Ua.T @ Ub) ** 2) / max(A.shape[1], B.shape[1]))


def _correlation_matrix(A, B):
    Ac, Bc = _centre(A), _centre(B)
    C = np.zeros((Ac.shape[1], Bc.shape[1]))
    for p in range(Ac.shape[1]):
        for q in range(Bc.shape[1]):
            C[p, q] = _pearson(Ac[:, p], Bc[:, q])
    return C


def ref_hard_correlation_match(A, B):
    C = _correlation_matrix(A, B)
    rows, cols = scipy.optimize.linear_sum_assignment(C, maximize=True)
    return float(np.mean(C[rows, cols]))


def ref_soft_correlation_match(A, B):
    C = _correlation_matrix(A, B)
    return float((np.mean(C.max(axis=1)) + np.mean(C.max(axis=0))) / 2)


def ref_aligned_cosine(A, B):
    A, B = _zero_pad(A, B)
    U, _, Vt = np.linalg.svd(A.T @ B)
    Q = U @ Vt
    AQ = A @ Q
    return float(np.mean([_cosine(AQ[i], B[i]) for i in range(A.shape[0])]))


def ref_orthogonal_angular_shape_metric(A, B):
    Ac, Bc = _centre(A), _centre(B)
    Ac = Ac / np.linalg.norm(Ac)
    Bc = Bc / np.linalg.norm(Bc)
    return float(np.arccos(np.clip(_nuclear_norm(Ac.T @ Bc), -1.0, 1.0)))


def ref_permutation_procrustes(A, B):
    A, B = _zero_pad(A, B)
    rows, cols = scipy.optimize.linear_sum_assignment(A.T @ B, maximize=True)
    P = np.zeros((A.shape[1], A.shape[1]))
    P[rows, cols] = 1.0  # column rows[t] of A is matched with column cols[t] of B
    return float(np.linalg.norm(A @ P - B))


def ref_procrustes_size_and_shape(A, B):
    Ac, Bc = _zero_pad(_centre(A), _centre(B))
    squared = np.sum(Ac ** 2) + np.sum(Bc ** 2) - 2 * _nuclear_norm(Ac.T @ Bc)
    return float(np.sqrt(max(0.0, squared)))


def ref_gulp(A, B):
    Ac, Bc = _centre(A), _centre(B)
    Qa, Qb = _orthonormal_basis(Ac), _orthonormal_basis(Bc)
    return float(Qa.shape[1] + Qb.shape[1] - 2 * np.sum((Qa.T @ Qb) ** 2))


# ---------------------------------------------------------------- RSM family
def ref_rsa(A, B):
    def rsm(X):
        X = _f64(X)
        Xr = X - X.mean(axis=1, keepdims=True)  # each row's mean over features
        n = X.shape[0]
        return [_cosine(Xr[i], Xr[j]) for i in range(n) for j in range(i + 1, n)]

    return float(scipy.stats.spearmanr(rsm(A), rsm(B))[0])


def ref_rsm_norm_difference(A, B):
    D = _euclidean_distances(A) - _euclidean_distances(B)
    return float(np.linalg.svd(D, compute_uv=False)[0])


def ref_distance_correlation(A, B):
    def double_centre(D):
        return D - D.mean(axis=1, keepdims=True) - D.mean(axis=0, keepdims=True) + D.mean()

    Da, Db = double_centre(_euclidean_distances(A)), double_centre(_euclidean_distances(B))

    def dcov2(X, Y):
        return float(np.mean(X * Y))

    return float(np.sqrt(dcov2(Da, Db) / np.sqrt(dcov2(Da, Da) * dcov2(Db, Db))))


def ref_uniformity_difference(A, B):
    def uniformity(X):
        X = _f64(X)
        n = X.shape[0]
        total = 0.0
        for i in range(n):
            for j in range(n):
                total += np.exp(-2.0 * np.sum((X[i] - X[j]) ** 2))
        return np.log(total / n ** 2)

    return float(abs(uniformity(A) - uniformity(B)))


# ---------------------------------------------------------------- statistics
def ref_magnitude_difference(A, B):
    return float(abs(np.linalg.norm(_f64(A).mean(axis=0)) - np.linalg.norm(_f64(B).mean(axis=0))))


def ref_concentricity_difference(A, B):
    def concentricity(X):
        X = _f64(X)
        m = X.mean(axis=0)
        return np.mean([_cosine(X[i], m) for i in range(X.shape[0])])

    return float(abs(concentricity(A) - concentricity(B)))


# ---------------------------------------------------------------- neighbour family
def ref_second_order_cosine(A, B, k=10):
    dA, dB = _cosine_distances(A), _cosine_distances(B)
    n = dA.shape[0]
    scores = []
    for i in range(n):
        union = sorted(set(_nearest(dA, i, k)) | set(_nearest(dB, i, k)))
        scores.append(_cosine(dA[i, union], dB[i, union]))
    return float(np.mean(scores))


def ref_rank_similarity(A, B, k=10):
    dA, dB = _cosine_distances(A), _cosine_distances(B)
    n = dA.shape[0]
    scores = []
    for i in range(n):
        nA, nB = _nearest(dA, i, k), _nearest(dB, i, k)
        joint = set(nA) & set(nB)
        if not joint:
            scores.append(0.0)
            continue
        score = 0.0
        for j in joint:
            rA, rB = nA.index(j) + 1, nB.index(j) + 1
            score += 2.0 / ((1 + abs(rA - rB)) * (rA + rB))
        scores.append(score / sum(1.0 / m for m in range(1, len(joint) + 1)))
    return float(np.mean(scores))


def _top_k_by_similarity(G, i, k):
    """The k columns j != i with the largest G[i, j]."""
    others = [j for j in range(G.shape[0]) if j != i]
    others.sort(key=lambda j: -G[i, j])
    return others[:k]


def ref_mutual_knn(A, B, k=10):
    Au, Bu = _unit_rows(A), _unit_rows(B)
    GA, GB = Au @ Au.T, Bu @ Bu.T
    n = GA.shape[0]
    return float(np.mean([len(set(_top_k_by_similarity(GA, i, k)) & set(_top_k_by_similarity(GB, i, k))) / k
                          for i in range(n)]))


def _hsic_unbiased(K, L):
    m = K.shape[0]
    Kt, Lt = K.copy(), L.copy()
    np.fill_diagonal(Kt, 0.0)
    np.fill_diagonal(Lt, 0.0)
    value = (np.sum(Kt * Lt.T) + np.sum(Kt) * np.sum(Lt) / ((m - 1) * (m - 2))
             - 2.0 * np.sum(Kt @ Lt) / (m - 2))
    return value / (m * (m - 3))


def ref_cknna(A, B, k=10):
    Au, Bu = _unit_rows(A), _unit_rows(B)
    K, L = Au @ Au.T, Bu @ Bu.T
    n = K.shape[0]

    def knn_mask(G):
        M = np.zeros((n, n))
        for i in range(n):
            M[i, _top_k_by_similarity(G, i, k)] = 1.0
        return M

    mK, mL = knn_mask(K), knn_mask(L)
    mask = mK * mL
    sim_kl = _hsic_unbiased(mask * K, mask * L)
    sim_kk = _hsic_unbiased(mK * K, mK * K)
    sim_ll = _hsic_unbiased(mL * L, mL * L)
    return float(sim_kl / np.sqrt(sim_kk * sim_ll))


REFERENCES = {
    "svcca": ref_svcca,
    "pwcca": ref_pwcca,
    "linear_regression": ref_linear_regression,
    "rsa": ref_rsa,
    "rsm_norm_difference": ref_rsm_norm_difference,
    "distance_correlation": ref_distance_correlation,
    "eigenspace_overlap": ref_eigenspace_overlap,
    "hard_correlation_match": ref_hard_correlation_match,
    "soft_correlation_match": ref_soft_correlation_match,
    "second_order_cosine": ref_second_order_cosine,
    "rank_similarity": ref_rank_similarity,
    "mutual_knn": ref_mutual_knn,
    "cknna": ref_cknna,
    "aligned_cosine": ref_aligned_cosine,
    "orthogonal_angular_shape_metric": ref_orthogonal_angular_shape_metric,
    "permutation_procrustes": ref_permutation_procrustes,
    "procrustes_size_and_shape": ref_procrustes_size_and_shape,
    "gulp": ref_gulp,
    "magnitude_difference": ref_magnitude_difference,
    "concentricity_difference": ref_concentricity_difference,
    "uniformity_difference": ref_uniformity_difference,
}

#: the measures that take a neighbourhood size k (called as "<name>@<k>" in the library)
KNN_MEASURES = ("second_order_cosine", "rank_similarity", "mutual_knn", "cknna")
