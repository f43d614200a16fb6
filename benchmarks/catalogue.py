"""The measure catalogue against its published implementations, on the same arrays: value and speed.

    python benchmarks/catalogue.py --resi PATH [--platonic PATH] [--n 10000] [--d 2048] [--families ...]

``--resi``: a checkout of ReSi (github.com/mklabunde/resi; `fetch` it, then `git archive HEAD repsim | tar x`);
its measure files run unchanged; its helper module imports einops and loguru (not dependencies of robuniv),
so both get stand-ins here (einops' ``rearrange`` is only used for 4-D inputs). ``--platonic``: a directory
holding the Platonic-representation study's ``metrics.py`` (github.com/minyoungg/platonic-rep; it imports
torchaudio, which gets a stand-in: only its edit-distance metric uses it); its mutual_knn and cknna are called
on unit-norm rows, as that study does.

Prints, per measure: the peer, |robuniv − peer|, and per family: robuniv's seconds for the whole family (every
measure of it, its per-model steps shared) beside the sum of the peer's seconds for the same measures, and the
peak resident memory of the process after the family. Inputs: two correlated post-ReLU representations
(float32 N x D, as benchmarks/similarity.py makes them), passed to both sides as float64.
"""
from __future__ import annotations

import argparse
import importlib.util
import logging
import resource
import sys
import time
import types
from pathlib import Path

import numpy as np

from robuniv import measures as M
from robuniv.catalogue import compute_family
from similarity import synthetic

# robuniv measure -> (module of ReSi's repsim/measures, function, keyword arguments)
RESI = {
    "svcca": ("cca", "svcca", {}),
    "pwcca": ("cca", "pwcca", {}),
    "linear_regression": ("linear_regression", "linear_reg", {}),
    "rsa": ("rsa", "representational_similarity_analysis", {"n_jobs": 1}),
    "rsm_norm_difference": ("rsm_norm_difference", "rsm_norm_diff", {"n_jobs": 1}),
    "distance_correlation": ("distance_correlation", "distance_correlation", {"n_jobs": 1}),
    "eigenspace_overlap": ("eigenspace_overlap", "eigenspace_overlap_score", {}),
    "hard_correlation_match": ("correlation_match", "hard_correlation_match", {"n_jobs": 1}),
    "soft_correlation_match": ("correlation_match", "soft_correlation_match", {"n_jobs": 1}),
    "aligned_cosine": ("procrustes", "aligned_cossim", {}),
    "orthogonal_angular_shape_metric": ("procrustes", "orthogonal_angular_shape_metric_centered", {}),
    "permutation_procrustes": ("procrustes", "permutation_procrustes", {}),
    "procrustes_size_and_shape": ("procrustes", "procrustes_size_and_shape_distance", {}),
    "gulp": ("gulp", "gulp", {}),
    "magnitude_difference": ("statistics", "magnitude_difference", {}),
    "concentricity_difference": ("statistics", "concentricity_difference", {}),
    "uniformity_difference": ("statistics", "uniformity_difference", {"n_jobs": 1}),
    "second_order_cosine@10": ("nearest_neighbor", "second_order_cosine_similarity", {"k": 10, "n_jobs": 1,
                                                                                      "n_jobs_neighbors": 1}),
    "rank_similarity@10": ("nearest_neighbor", "rank_similarity", {"k": 10, "n_jobs": 1}),
}
PLATONIC = {"mutual_knn@10": ("mutual_knn", {"topk": 10}), "cknna@10": ("cknna", {"topk": 10})}


def _stand_in(name: str, **attributes) -> None:
    module = types.ModuleType(name)
    module.__dict__.update(attributes)
    sys.modules.setdefault(name, module)


def resi_functions(path: Path) -> dict:
    """{robuniv measure: ReSi function} loaded from ReSi's own files (its package __init__ is not run)."""
    def rearrange(*args, **kwargs):
        raise NotImplementedError("einops is not installed (only 4-D inputs need it)")

    _stand_in("einops", rearrange=rearrange)
    _stand_in("loguru", logger=logging.getLogger("resi"))
    package = types.ModuleType("repsim")
    package.__path__ = [str(path / "repsim")]
    measures = types.ModuleType("repsim.measures")
    measures.__path__ = [str(path / "repsim" / "measures")]
    sys.modules.setdefault("repsim", package)
    sys.modules.setdefault("repsim.measures", measures)
    out = {}
    for name, (module, function, kwargs) in RESI.items():
        loaded = importlib.import_module(f"repsim.measures.{module}")
        out[name] = (lambda f, kw: lambda a, b: float(f(a, b, "nd", **kw)))(getattr(loaded, function), kwargs)
    return out


def platonic_functions(path: Path) -> dict:
    import torch
    import torch.nn.functional as F

    _stand_in("torchaudio")
    _stand_in("torchaudio.functional")
    spec = importlib.util.spec_from_file_location("platonic_metrics", path / "metrics.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    metrics = module.AlignmentMetrics

    def call(function, kwargs):
        def run(a, b):
            ta, tb = (F.normalize(torch.from_numpy(x), dim=-1) for x in (a, b))
            return float(getattr(metrics, function)(ta, tb, **kwargs))
        return run

    return {name: call(function, kwargs) for name, (function, kwargs) in PLATONIC.items()}


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--d", type=int, default=2048)
    parser.add_argument("--resi", type=Path, required=True)
    parser.add_argument("--platonic", type=Path, default=None)
    parser.add_argument("--families", nargs="*", default=list(M.CATALOGUE_FAMILIES))
    parser.add_argument("--skip-peer", nargs="*", default=[], help="measures whose peer is not run (too slow)")
    args = parser.parse_args()
    a, b = (x.astype(np.float64) for x in synthetic(args.n, args.d, args.d))
    peers = {**resi_functions(args.resi), **(platonic_functions(args.platonic) if args.platonic else {})}
    print(f"N = {args.n}, D = {args.d}, float64 inputs; seconds are wall time of one run")
    print(f"{'measure':34s} {'peer':10s} {'robuniv':>14s} {'peer value':>14s} {'|difference|':>12s} {'peer s':>8s}")
    for family in args.families:
        start = time.perf_counter()
        values = compute_family(family, a, b, {"ks": (10,)})
        ours = time.perf_counter() - start
        memory = peak_mb()
        peer_seconds = 0.0
        for name in [n for n in M.catalogue_measures() if M.measure(n).family == family]:
            peer = peers.get(name)
            if peer is None or name in args.skip_peer:
                print(f"{name:34s} {'-':10s} {values[name]:14.8g}")
                continue
            start = time.perf_counter()
            theirs = peer(a, b)
            seconds = time.perf_counter() - start
            peer_seconds += seconds
            source = "Platonic" if name in PLATONIC else "ReSi"
            print(f"{name:34s} {source:10s} {values[name]:14.8g} {theirs:14.8g} {abs(values[name] - theirs):12.3g} "
                  f"{seconds:8.2f}")
        print(f"  family {family}: robuniv {ours:.2f} s for all its measures, peers {peer_seconds:.2f} s "
              f"(ratio {peer_seconds / ours:.2f}x); peak RSS after it {memory:.0f} MB", flush=True)


if __name__ == "__main__":
    main()
