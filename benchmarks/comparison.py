"""One pair's comparison without RTD (both CKA, the Procrustes values; no kNN) at the paper's scale, with the
nuclear norm from the eigenvalues of the float64 Gram matrix (default) or from a float32 SVD (``--svd``,
the earlier path), so that the two run side by side in one timing session:

    python benchmarks/comparison.py [--n 10000] [--d 2048] [--svd]

Prints the values and the seconds of the comparison itself (the data are made first, untimed).
"""
from __future__ import annotations

import argparse
import time

import torch

from robuniv import similarity as S
from similarity import synthetic


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--d", type=int, default=2048)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--svd", action="store_true", help="the nuclear norm by float32 SVD (the earlier path)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.svd:
        S.NUCLEAR_EIGH_MIN_SIZE = 1 << 30
    a, b = (torch.from_numpy(x) for x in synthetic(args.n, args.d, args.d))
    start = time.perf_counter()
    values = S.compare_representations(a, b, ks=(), with_rtd=False)
    seconds = time.perf_counter() - start
    print(f"N={args.n} D={args.d} nuclear={'svd32' if args.svd else 'eigh64'} seconds={seconds:.2f} "
          + " ".join(f"{k}={v:.9f}" for k, v in values.items()))


if __name__ == "__main__":
    main()
