"""Speed and memory of robuniv.similarity at the paper's scale, against straightforward implementations.

    python benchmarks/similarity.py [--n 10000] [--d 2048] [--d-wide 4096] [--skip-reference]

Prints one table: measure, N, D, seconds (robuniv), seconds (reference), ratio. The references are
what public code typically does: numpy float64 products, a full SVD, a scikit-learn kNN search per k
and per pair, and RTD trials one after another.
"""
from __future__ import annotations

import argparse
import resource
import time

import numpy as np
import torch

from robuniv import similarity as S


def synthetic(n, d, d_other, seed=0):
    """Two correlated post-ReLU representations (float32), like two networks' penultimate layers."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, 128), dtype=np.float32)
    a = np.maximum(z @ rng.standard_normal((128, d), dtype=np.float32), 0)
    b = np.maximum(z[:, :96] @ rng.standard_normal((96, d_other), dtype=np.float32)
                   + 2 * rng.standard_normal((n, d_other), dtype=np.float32), 0)
    return a, b


def timed(fn):
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def reference_cka_procrustes(a, b):
    x = a.astype(np.float64) - a.mean(0, dtype=np.float64)
    y = b.astype(np.float64) - b.mean(0, dtype=np.float64)
    cka = np.linalg.norm(x.T @ y) ** 2 / (np.linalg.norm(x.T @ x) * np.linalg.norm(y.T @ y))
    x, y = x / np.linalg.norm(x), y / np.linalg.norm(y)
    nuc = np.linalg.svd(x.T @ y, compute_uv=True)[1].sum()  # full SVD, as public code does
    return cka, nuc


def reference_jaccard(a, b, ks):
    from sklearn.neighbors import NearestNeighbors

    out = {}
    for k in ks:  # a fresh kNN search per pair and per k
        sets = []
        for x in (a, b):
            x = x - x.mean(0)
            nn = NearestNeighbors(n_neighbors=k + 1, metric="cosine").fit(x)
            idx = nn.kneighbors(x, return_distance=False)[:, 1:]
            sets.append(idx)
        out[k] = np.mean([len(set(p) & set(q)) / len(set(p) | set(q)) for p, q in zip(*sets)])
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--d", type=int, default=2048)
    parser.add_argument("--d-wide", type=int, default=4096)
    parser.add_argument("--ks", type=int, nargs="+", default=[10, 100, 500])
    parser.add_argument("--skip-reference", action="store_true")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.set_num_threads(torch.get_num_threads())
    rows = []

    for d_other in (args.d, args.d_wide):
        a, b = synthetic(args.n, args.d, d_other)
        ta, tb = torch.from_numpy(a).to(args.device), torch.from_numpy(b).to(args.device)
        label = f"{args.d}x{d_other}"
        # per model, once: kNN graphs for the largest k
        (ga, gb), t_graphs = timed(lambda: (S.knn_graph(ta, max(args.ks)), S.knn_graph(tb, max(args.ks))))
        rows.append(("kNN graphs (2 models, k=%d)" % max(args.ks), args.n, label, t_graphs, None))
        jac, t_pair_jac = timed(lambda: S.jaccard_curve(ga, gb, args.ks))
        ref_jac, t_ref_jac = (None, None) if args.skip_reference else timed(lambda: reference_jaccard(a, b, args.ks))
        rows.append(("Jaccard k=%s from graphs (per pair)" % ",".join(map(str, args.ks)), args.n, label,
                     t_pair_jac, t_ref_jac))
        out, t_all = timed(lambda: S.compare_representations(ta, tb, ks=args.ks, with_rtd=False))
        rows.append(("all but RTD, one pair (graphs included)", args.n, label, t_all + 0.0, None))
        _, t_cka = timed(lambda: (S.cka(ta, tb), S.cka(ta, tb, debiased=True), S.procrustes_sim(ta, tb)))
        ref, t_ref = (None, None) if args.skip_reference else timed(lambda: reference_cka_procrustes(a, b))
        rows.append(("CKA + debiased CKA + Procrustes", args.n, label, t_cka, t_ref))
        if ref is not None:
            assert abs(ref[0] - out["cka"]) < 1e-4, (ref[0], out["cka"])
            assert abs(ref[1] - out["procrustes_nuclear_norm"]) < 1e-4
            for k in args.ks:
                assert abs(ref_jac[k] - out[f"jaccard@{k}"]) < 5e-3, (k, ref_jac[k], out[f"jaccard@{k}"])
        if d_other == args.d:
            value, t_rtd = timed(lambda: S.rtd(ta, tb, trials=10, batch=500, seed=0))
            serial, t_rtd_serial = (None, None) if args.skip_reference else timed(
                lambda: S.rtd(ta, tb, trials=10, batch=500, seed=0, n_jobs=1))
            if serial is not None:
                assert serial == value
            rows.append(("RTD, 10 trials of 500", args.n, label, t_rtd, t_rtd_serial))
        print(f"# {label}: " + ", ".join(f"{k}={v:.4f}" for k, v in out.items()), flush=True)

    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2
    print(f"\n{'measure':<44} {'N':>6} {'D':>10} {'robuniv s':>10} {'reference s':>12} {'ratio':>7}")
    for name, n, d, t, t_ref in rows:
        ref_text = f"{t_ref:12.2f}" if t_ref is not None else f"{'-':>12}"
        ratio = f"{t_ref / t:7.1f}" if t_ref is not None else f"{'-':>7}"
        print(f"{name:<44} {n:>6} {d:>10} {t:10.2f} {ref_text} {ratio}")
    print(f"\npeak memory (max RSS of this process, references included): {peak_gb:.2f} GB")


if __name__ == "__main__":
    main()
