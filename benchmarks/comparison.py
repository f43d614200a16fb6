"""One pair's comparison without RTD (both CKA, the Procrustes values; no kNN) at the paper's scale:

    python benchmarks/comparison.py [--n 10000] [--d 2048] [--full-rank]

Prints the values and the seconds of the comparison itself (the data are made first, untimed), so that a
change of the comparison can be timed against the previous commit side by side.
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
    parser.add_argument("--full-rank", action="store_true",
                        help="Gaussian representations (a full-rank cross product) instead of post-ReLU ones")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.full_rank:
        generator = torch.Generator().manual_seed(0)
        a, b = (torch.randn(args.n, args.d, generator=generator) for _ in range(2))
    else:
        a, b = (torch.from_numpy(x) for x in synthetic(args.n, args.d, args.d))
    start = time.perf_counter()
    values = S.compare_representations(a, b, ks=(), with_rtd=False)
    seconds = time.perf_counter() - start
    print(f"N={args.n} D={args.d} {'full-rank' if args.full_rank else 'post-ReLU'} seconds={seconds:.2f} "
          + " ".join(f"{k}={v:.9f}" for k, v in values.items()))


if __name__ == "__main__":
    main()
