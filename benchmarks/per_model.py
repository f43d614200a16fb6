"""Per-model steps against per-pair work at the paper's scale: CKA beside ReSi's, RTD with and without the
models' distances computed once.

    python benchmarks/per_model.py [--n 10000] [--d 2048] [--threads 2] [--repeats 3] [--resi PATH]

``--resi``: a checkout of ReSi (github.com/mklabunde/resi; `fetch` it, then `git archive HEAD repsim | tar x`).
Its ``repsim/measures/cka.py`` runs unchanged; its helper module (which imports einops and loguru, not
dependencies of robuniv) is replaced by the three helpers cka.py uses, for 2-D inputs. Without ``--resi``
the ReSi row is left out.

Prints, per step, the median wall seconds and CPU seconds (this process and its RTD workers) of
``--repeats`` runs on the same arrays, and the ratios. Per pair with summaries is what a comparison job
pays; the summary is paid once per model and input set (M models: shared by M - 1 pairs).
"""
from __future__ import annotations

import argparse
import importlib.util
import resource
import statistics
import sys
import time
import types
from pathlib import Path

import numpy as np
import torch

from robuniv import similarity as S
from similarity import synthetic


def cpu_seconds() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def timed(fn, repeats: int):
    """(value, median wall s, median CPU s)."""
    walls, cpus, value = [], [], None
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), cpu_seconds()
        value = fn()
        walls.append(time.perf_counter() - wall)
        cpus.append(cpu_seconds() - cpu)
    return value, statistics.median(walls), statistics.median(cpus)


def resi_cka(path: Path):
    """ReSi's ``centered_kernel_alignment`` from its own file, with its three helpers for 2-D inputs."""
    utils = types.ModuleType("repsim.measures.utils")
    utils.SHAPE_TYPE = str
    utils.flatten = lambda *arrays, shape: arrays
    utils.to_torch_if_needed = lambda *arrays: tuple(torch.as_tensor(x) for x in arrays)
    utils.RepresentationalSimilarityMeasure = type("RepresentationalSimilarityMeasure", (), {
        "__init__": lambda self, **kwargs: None})
    for name in ("repsim", "repsim.measures"):
        sys.modules.setdefault(name, types.ModuleType(name))
    sys.modules["repsim.measures.utils"] = utils
    spec = importlib.util.spec_from_file_location("resi_cka", path / "repsim" / "measures" / "cka.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.centered_kernel_alignment


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--d", type=int, default=2048)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rtd-trials", type=int, default=10)
    parser.add_argument("--rtd-batch", type=int, default=500)
    parser.add_argument("--resi", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    a, b = (torch.from_numpy(x) for x in synthetic(args.n, args.d, args.d))
    rows = []

    def row(step, fn, repeats=args.repeats):
        value, wall, cpu = timed(fn, repeats)
        rows.append((step, wall, cpu, value))
        return value

    rtd = dict(rtd_trials=args.rtd_trials, rtd_batch=args.rtd_batch, rtd_seed=0)
    summaries = (row(f"summary of one model (norms, {args.rtd_trials} RTD distance matrices)",
                     lambda: S.summarise(a, **rtd)), S.summarise(b, **rtd))
    cka = row("CKA, pair alone (robuniv)", lambda: S.compute("cka", a, b))
    row("CKA, pair with summaries (robuniv)", lambda: S.FAMILIES["cka"](S.PairSteps(a, b, summaries=summaries), {}))
    if args.resi is not None:
        peer = resi_cka(args.resi)
        value = row("CKA (ReSi, same float32 arrays)", lambda: peer(a, b, shape="nd"))
        print(f"# CKA: robuniv {cka:.7f}, ReSi {value:.7f}")
    row("comparison without RTD, pair alone", lambda: S.compare_representations(a, b, ks=(), with_rtd=False))
    row("comparison without RTD, with summaries",
        lambda: S.compare_representations(a, b, ks=(), with_rtd=False, summaries=summaries))
    jobs = args.threads
    alone = row("RTD, pair alone", lambda: S.rtd(a, b, trials=args.rtd_trials, batch=args.rtd_batch, n_jobs=jobs), 1)
    with_distances = row("RTD, with the models' distances", lambda: S.rtd(
        a, b, trials=args.rtd_trials, batch=args.rtd_batch, n_jobs=jobs,
        distances_a=summaries[0].rtd["distances"], distances_b=summaries[1].rtd["distances"]), 1)
    assert alone == with_distances, (alone, with_distances)

    print(f"# N={args.n} D={args.d}, {args.threads} threads, median of {args.repeats} (RTD: 1 run), "
          f"post-ReLU synthetic float32")
    print(f"{'step':<58}{'wall s':>9}{'CPU s':>9}")
    for step, wall, cpu, _ in rows:
        print(f"{step:<58}{wall:>9.3f}{cpu:>9.3f}")
    by_step = {step: (wall, cpu) for step, wall, cpu, _ in rows}
    pair = by_step["CKA, pair with summaries (robuniv)"]
    if args.resi is not None:
        peer = by_step["CKA (ReSi, same float32 arrays)"]
        print(f"ReSi CKA / robuniv CKA per pair with summaries: wall {peer[0] / pair[0]:.2f}x, "
              f"CPU {peer[1] / pair[1]:.2f}x; / robuniv pair alone: wall "
              f"{peer[0] / by_step['CKA, pair alone (robuniv)'][0]:.2f}x")
    full, summed = by_step["RTD, pair alone"], by_step["RTD, with the models' distances"]
    print(f"RTD per pair: {full[0]:.1f} s alone, {summed[0]:.1f} s with the models' distances (same value)")


if __name__ == "__main__":
    main()
