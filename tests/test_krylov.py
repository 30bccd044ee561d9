"""Projected shifted MINRES and block LOBPCG internals against dense references."""

from __future__ import annotations

import pytest
import torch

from eigengrad._chebyshev import chebyshev_preconditioner
from eigengrad._krylov import INVARIANT_RUN, projected_minres
from eigengrad._lobpcg import _orthonormalize, lobpcg, random_block
from eigengrad.testing import matrix_with_spectrum

F64 = torch.float64


# iterative solvers: single-threaded, so results do not depend on the thread count
pytestmark = pytest.mark.usefixtures("one_thread")


def test_projected_minres_matches_dense_solve():
    n, k = 80, 3
    A, w, Q = matrix_with_spectrum(torch.linspace(-1.0, 3.0, n, dtype=F64), seed=2)
    X = Q[:, 10 : 10 + k]  # interior eigenvalues: the projected operator is indefinite
    sigma = w[10 : 10 + k]
    B = torch.randn(n, k, dtype=F64, generator=torch.Generator().manual_seed(0))
    Y, info = projected_minres(lambda V: A @ V, X, sigma, B, tol=1e-12, max_iter=5000)
    Qc = torch.cat([Q[:, :10], Q[:, 10 + k :]], 1)
    wc = torch.cat([w[:10], w[10 + k :]])
    ref = torch.stack([Qc @ ((Qc.T @ B[:, i]) / (wc - sigma[i])) for i in range(k)], 1)
    assert bool(info.converged.all()) and float(info.residual_norms.max()) <= 1e-12
    assert torch.allclose(Y, ref, atol=1e-9)
    assert float((X.T @ Y).abs().max()) < 1e-12


def test_preconditioned_projected_minres():
    n, k = 120, 2
    A, w, Q = matrix_with_spectrum(torch.logspace(-2, 2, n, dtype=F64), seed=4)
    X, sigma = Q[:, :k], w[:k]
    B = torch.randn(n, k, dtype=F64, generator=torch.Generator().manual_seed(2))
    T = chebyshev_preconditioner(lambda V: A @ V, 0.0, 100.0, degree=10)
    Yp, info_p = projected_minres(lambda V: A @ V, X, sigma, B, tol=1e-12, max_iter=500, precond=T)
    Y, info = projected_minres(lambda V: A @ V, X, sigma, B, tol=1e-12, max_iter=5000)
    assert bool(info_p.converged.all()) and info_p.iterations < info.iterations
    assert torch.allclose(Yp, Y, atol=1e-9)


@pytest.mark.parametrize("max_iter", [300, 2000])
@pytest.mark.parametrize("perturbation", [0.0, 1e-8, 1e-4])
def test_invariant_minres_skips_the_projection_at_the_residual_level(perturbation, max_iter):
    # X a Ritz block with residual ~ 100 * perturbation: skipping the operator's projection
    # leaves the solution unchanged to rounding; at 1e-4 it stagnates near the residual, and the
    # solver goes on with the projected operator
    n, k = 120, 3
    A, _w, Q = matrix_with_spectrum(torch.logspace(-2, 2, n, dtype=F64), seed=5)
    E = torch.randn(n, k, dtype=F64, generator=torch.Generator().manual_seed(3))
    X, _ = torch.linalg.qr(Q[:, :k] + perturbation * E)
    sigma = torch.linalg.eigvalsh(X.T @ A @ X)
    B = torch.randn(n, k, dtype=F64, generator=torch.Generator().manual_seed(4))
    T = chebyshev_preconditioner(lambda V: A @ V, 0.0, 100.0, degree=10)
    kw = {"tol": 1e-12, "max_iter": max_iter, "precond": T}
    Y, info = projected_minres(lambda V: A @ V, X, sigma, B, **kw)
    Yi, info_i = projected_minres(lambda V: A @ V, X, sigma, B, invariant=True, **kw)
    assert bool(info.converged.all()) and bool(info_i.converged.all())
    assert float((Yi - Y).norm() / Y.norm()) <= 1e-10
    if perturbation == 1e-4:
        # the unprojected run stagnated, then a projected one converged (max_iter <= 500 too)
        assert info_i.iterations > min(INVARIANT_RUN, max_iter // 2)
    assert float((X.T @ Yi).abs().max()) < 1e-12


def test_projected_minres_reports_nonconvergence_and_zero_rhs():
    n = 60
    A, w, Q = matrix_with_spectrum(torch.linspace(0.0, 1.0, n, dtype=F64), seed=1)
    B = torch.randn(n, 2, dtype=F64, generator=torch.Generator().manual_seed(1))
    B[:, 1] = 0
    _Y, info = projected_minres(lambda V: A @ V, Q[:, :1], w[:1], B, tol=1e-14, max_iter=3)
    assert not bool(info.converged[0]) and bool(info.converged[1])
    assert float(info.residual_norms[1]) == 0.0


def test_minres_drops_finished_columns_and_keeps_their_solutions():
    # column 0 is an eigenvector of the shifted operator (solved in one iteration), column 1
    # needs many: the products shrink to one column, and the finished column's recurrence,
    # which broke down (beta = 0), must not touch its solution again (it used to turn it into
    # NaN, discarded only by a restart of both columns)
    n = 80
    A, w, Q = matrix_with_spectrum(torch.linspace(1.0, 9.0, n, dtype=F64), seed=2)
    X = Q[:, :1]
    B = torch.randn(n, 2, dtype=F64, generator=torch.Generator().manual_seed(3))
    B[:, 0] = Q[:, 5] * 3.0
    B = B - X @ (X.T @ B)
    sigma = torch.tensor([0.5, 0.5], dtype=F64)
    widths = []

    def apply(V):
        widths.append(V.shape[1])
        return A @ V

    Y, info = projected_minres(apply, X, sigma, B, tol=1e-12, max_iter=500)
    assert bool(info.converged.all()) and bool(torch.isfinite(Y).all())
    assert torch.allclose(Y[:, 0], Q[:, 5] * 3.0 / (float(w[5]) - 0.5), atol=1e-12)
    P = torch.eye(n, dtype=F64) - X @ X.T
    ref = torch.linalg.lstsq(P @ (A - 0.5 * torch.eye(n, dtype=F64)) @ P, B[:, 1:]).solution
    assert torch.allclose(Y[:, 1:], P @ ref, atol=1e-10)
    # two-column products: the first iteration and the explicit residual (no restart)
    assert widths.count(2) == 2 and widths.count(1) == info.iterations - 1 > 20


def test_orthonormalize_drops_dependent_columns():
    V = torch.randn(50, 3, dtype=F64, generator=torch.Generator().manual_seed(0))
    V = torch.cat([V, V[:, :1] * 2], 1)
    Q, _ = _orthonormalize(V, None, [])
    assert Q.shape == (50, 3)
    assert torch.allclose(Q.T @ Q, torch.eye(3, dtype=F64), atol=1e-13)


def test_lobpcg_complex_and_rank_deficient_start():
    n = 200
    A, w, _Q = matrix_with_spectrum(
        torch.linspace(1.0, 20.0, n, dtype=F64), seed=3, dtype=torch.complex128
    )
    X0 = random_block(n, 5, torch.complex128, torch.device("cpu"), 0)
    X0[:, 4] = X0[:, 0]
    out = lobpcg(lambda V: A @ V, X0, 3, tol=1e-12, max_iter=500)
    assert torch.allclose(out.eigenvalues[:3], w[:3], atol=1e-10)
    assert float(out.residual_norms[:3].max()) <= 1e-12 * out.norm_estimate
