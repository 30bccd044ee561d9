"""Speed and accuracy of eg.sqrtm / eg.logm / eg.expm against the native torch paths.

Speed (single thread, float64, well-separated random SPD matrices, where native is finite):
- forward + backward of ``tr(B f(A))`` for eg.sqrtm / eg.logm vs the same function built through
  ``torch.linalg.eigh`` (native) and through ``eg.eigh`` (via); eg.expm vs
  ``torch.linalg.matrix_exp``;
- the backward alone, as ratios to the backward of the same loss through ``eg.eigh`` ("bwd
  ratio") and to the backward of ``eg.eigh`` alone ("eigh bwd", a loss linear in ``w, V``;
  target <= 1.2).

Accuracy: relative error of the gradient of ``tr(B sqrtm(A))`` against the eigenvalue gap of a
pair, ours vs native, against the Daleckii-Krein reference built from the exact eigenpairs.

Usage: ``python benchmarks/bench_spectral.py [--quick] [--sizes 8 128 512 1024]``.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
import warnings
from collections.abc import Callable

import torch

import eigengrad as eg
from eigengrad.testing import (
    divided_difference_gradient,
    matrix_with_spectrum,
    relative_error,
    symmetric_direction,
)

torch.set_num_threads(1)
F64 = torch.float64


def native_sqrtm(A: torch.Tensor) -> torch.Tensor:
    w, V = torch.linalg.eigh(A)
    return (V * torch.sqrt(w).unsqueeze(-2)) @ V.mH


def native_logm(A: torch.Tensor) -> torch.Tensor:
    w, V = torch.linalg.eigh(A)
    return (V * torch.log(w).unsqueeze(-2)) @ V.mH


def eigh_sqrtm(A: torch.Tensor) -> torch.Tensor:
    w, V = eg.eigh(A)
    return (V * torch.sqrt(w).unsqueeze(-2)) @ V.mH


def eigh_logm(A: torch.Tensor) -> torch.Tensor:
    w, V = eg.eigh(A)
    return (V * torch.log(w).unsqueeze(-2)) @ V.mH


def _timed(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(
    f: Callable[[torch.Tensor], torch.Tensor], A: torch.Tensor, B: torch.Tensor, repeats: int
) -> tuple[float, float]:
    """Median (forward, backward) seconds of ``tr(B f(A))``."""
    fwd, bwd = [], []
    for _ in range(repeats):
        X = A.clone().requires_grad_()
        start = time.perf_counter()
        loss = (f(X) * B).sum()
        mid = time.perf_counter()
        loss.backward()
        end = time.perf_counter()
        fwd.append(mid - start)
        bwd.append(end - mid)
    return statistics.median(fwd), statistics.median(bwd)


def eigh_backward_alone(A: torch.Tensor, repeats: int) -> float:
    """Median backward seconds of ``eg.eigh`` alone (a loss linear in ``w`` and ``V``)."""
    gen = torch.Generator().manual_seed(0)
    C = torch.randn(A.shape, dtype=A.dtype, generator=gen)
    c = torch.randn(A.shape[-1], dtype=A.dtype, generator=gen)

    def loss(X: torch.Tensor) -> torch.Tensor:
        w, V = eg.eigh(X)
        return (V * C).sum() + (w * c).sum()

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return measure(
            lambda X: loss(X).reshape(1, 1), A, torch.ones(1, 1, dtype=A.dtype), repeats
        )[1]


def speed(sizes: list[int]) -> None:
    print("speed: tr(B f(A)), float64, 1 thread, median seconds (fwd + bwd), ratios ours/other")
    header = (
        f"{'n':>5} {'function':<7} {'eg fwd+bwd':>11} {'native':>9} {'via eg.eigh':>11} "
        f"{'eg bwd':>9} {'via bwd':>9} {'bwd ratio':>9} {'vs native':>9} {'eigh bwd':>9} "
        f"{'ratio':>6}"
    )
    print(header)
    for n in sizes:
        repeats = 7 if n <= 128 else (3 if n <= 512 else 2)
        w = torch.linspace(0.5, 4.0, n, dtype=F64)
        A, _, _ = matrix_with_spectrum(w, seed=n)
        B = symmetric_direction(n, seed=n + 1)
        b_e = eigh_backward_alone(A, repeats)
        for name, ours, native, via in (
            ("sqrtm", eg.sqrtm, native_sqrtm, eigh_sqrtm),
            ("logm", eg.logm, native_logm, eigh_logm),
            ("expm", eg.expm, torch.linalg.matrix_exp, None),
        ):
            f_o, b_o = measure(ours, A, B, repeats)
            f_n, b_n = measure(native, A, B, repeats)
            if via is not None:
                f_v, b_v = measure(via, A, B, repeats)
                via_s, bwd_v, ratio = f"{f_v + b_v:11.4g}", f"{b_v:9.4g}", f"{b_o / b_v:9.2f}"
            else:
                via_s, bwd_v, ratio = f"{'-':>11}", f"{'-':>9}", f"{'-':>9}"
            print(
                f"{n:>5} {name:<7} {f_o + b_o:11.4g} {f_n + b_n:9.4g} {via_s} {b_o:9.4g} "
                f"{bwd_v} {ratio} {(f_o + b_o) / (f_n + b_n):9.2f} {b_e:9.4g} {b_o / b_e:6.2f}"
            )


def accuracy(n: int) -> None:
    print(f"\ncorrectness: gradient of tr(B sqrtm(A)), n = {n}, pair with eigenvalue gap g")
    print(f"{'gap':>8} {'eg.sqrtm':>10} {'native eigh':>12}")
    base = torch.linspace(0.5, 4.0, n - 1, dtype=F64)
    B = symmetric_direction(n, seed=2)
    for gap in (1e-2, 1e-4, 1e-6, 1e-8, 1e-10, 1e-12, 1e-14, 0.0):
        w = torch.cat([base[:2], base[1:2] + gap, base[2:]])
        A, w, Q = matrix_with_spectrum(w, seed=5)
        # closed-form divided differences 1 / (√w_i + √w_j) on the exact spectrum (the plain
        # quotient would itself lose eps / gap to cancellation)
        r = torch.sqrt(w)
        ref = divided_difference_gradient(w, Q, B, 1 / (r.unsqueeze(-1) + r.unsqueeze(-2)))
        errs = []
        for f in (eg.sqrtm, native_sqrtm):
            X = A.clone().requires_grad_()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                (g,) = torch.autograd.grad((f(X) * B).sum(), X)
            errs.append(relative_error(g, ref))
        shown = ["NaN/inf" if math.isinf(e) else f"{e:.1e}" for e in errs]
        print(f"{gap:8.0e} {shown[0]:>10} {shown[1]:>12}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny sizes (smoke test)")
    parser.add_argument("--sizes", type=int, nargs="*", default=None)
    args = parser.parse_args()
    sizes = args.sizes or ([8, 32] if args.quick else [8, 128, 512, 1024])
    speed(sizes)
    accuracy(8)


if __name__ == "__main__":
    main()
