"""Deterministic block LOBPCG for the smallest eigenpairs of a Hermitian operator (no autograd).

Knyazev's locally optimal block preconditioned conjugate gradient (2001) in the basis-orthonormal
form of Hetmaniuk and Lehoucq (2006): each iteration performs Rayleigh-Ritz on
``S = [X, W, P]`` (Ritz vectors, preconditioned residuals, previous search directions), kept
orthonormal by two passes of block Gram-Schmidt with SVQB and rank dropping. Converged columns
are soft-locked: they stay in ``X`` (so the Ritz values keep improving) but contribute no residual
or search direction. ``P`` is dropped (a restart) when it becomes rank-deficient or the Gram matrix
is ill-conditioned, and the products ``A X``, ``A P`` are recomputed every ``restart_every``
iterations so that updated products never drift. Convergence is residual-based:
``‖A x_i - θ_i x_i‖ <= tol · ‖A‖_est`` with ``‖A‖_est`` the largest Ritz value magnitude seen.

Everything is matrix-free (one product with ``A`` per iteration on the active columns, plus
periodic recomputations) and device-agnostic; randomness comes only from the seeded start block.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

Matmat = Callable[[torch.Tensor], torch.Tensor]


@dataclass
class LobpcgResult:
    """Raw LOBPCG output, ascending Ritz values of the block (including guard columns)."""

    eigenvalues: torch.Tensor
    eigenvectors: torch.Tensor
    residual_norms: torch.Tensor
    iterations: int
    norm_estimate: float


def random_block(
    n: int, m: int, dtype: torch.dtype, device: torch.device, seed: int
) -> torch.Tensor:
    """Seeded standard normal ``(n, m)`` block, generated on the CPU (identical on every device)."""
    gen = torch.Generator().manual_seed(seed)
    real = torch.empty((), dtype=dtype).real.dtype
    Z = torch.randn(n, m, generator=gen, dtype=real)
    if dtype.is_complex:
        Z = torch.complex(Z, torch.randn(n, m, generator=gen, dtype=real))
    return Z.to(device)


def _orthonormalize(
    V: torch.Tensor,
    AV: torch.Tensor | None,
    against: list[tuple[torch.Tensor, torch.Tensor | None]],
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Orthonormalize ``V`` against the orthonormal blocks ``against`` and itself (SVQB, 2 passes).

    ``AV`` (if given) is transformed alongside; directions that are numerically dependent are
    dropped, so the result may have fewer columns.
    """
    real = torch.empty((), dtype=V.dtype).real.dtype
    eps = torch.finfo(real).eps
    for _ in range(2):
        for B, AB in against:
            c = B.mH @ V
            V = V - B @ c
            if AV is not None and AB is not None:
                AV = AV - AB @ c
        if V.shape[1] == 0:
            return V, AV
        # SVQB on the column-scaled Gram matrix; the scaling is folded into one product V @ T
        G = V.mH @ V
        G = (G + G.mH) / 2
        norms = G.diagonal().real.clamp_min(0).sqrt()
        nonzero = norms > torch.finfo(real).tiny ** 0.5
        inv = torch.where(nonzero, 1 / torch.where(nonzero, norms, 1.0), 0.0).to(V.dtype)
        d, U = torch.linalg.eigh(inv[:, None] * G * inv[None, :])
        keep_d = d > 100 * eps * V.shape[1] * d.max().clamp_min(eps)
        T = inv[:, None] * (U[:, keep_d] / d[keep_d].sqrt().to(V.dtype))
        V = V @ T
        if AV is not None:
            AV = AV @ T
    return V, AV


def _rayleigh_ritz(S: torch.Tensor, AS: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
    """Ritz pairs of the pencil ``(S^H A S, S^H S)``; ``None`` if ``S`` is ill-conditioned."""
    H = S.mH @ AS
    H = (H + H.mH) / 2
    G = S.mH @ S
    G = (G + G.mH) / 2
    eye = torch.eye(G.shape[0], dtype=G.dtype, device=G.device)
    real = torch.empty((), dtype=S.dtype).real.dtype
    if float((G - eye).abs().max()) < 1e3 * torch.finfo(real).eps:
        return torch.linalg.eigh(H)
    L, info = torch.linalg.cholesky_ex(G)
    if int(info) != 0:
        return None
    Li = torch.linalg.solve_triangular(L, eye, upper=False)
    theta, U = torch.linalg.eigh(Li @ H @ Li.mH)
    C = Li.mH @ U
    if not bool(torch.isfinite(C).all()):
        return None
    return theta, C


def lobpcg(
    apply: Matmat,
    X0: torch.Tensor,
    k: int,
    *,
    tol: float,
    max_iter: int,
    precond: Matmat | None = None,
    restart_every: int = 20,
) -> LobpcgResult:
    """Smallest ``m = X0.shape[1]`` Ritz pairs of ``A``; iterate until the first ``k`` converge.

    Parameters
    ----------
    apply : callable
        ``V -> A V`` for Hermitian ``A`` (no autograd).
    X0 : Tensor
        Start block ``(n, m)``, ``m >= k``; columns ``k..m-1`` are guard vectors.
    k : int
        Number of wanted eigenpairs.
    tol : float
        Relative residual tolerance.
    max_iter : int
        Maximum number of iterations.
    precond : callable, optional
        ``R -> T R``, ``T`` Hermitian positive definite approximating ``A^{-1}`` (or
        ``(A - σ)^{-1}`` near the wanted eigenvalues).
    restart_every : int
        Recompute ``A X`` and ``A P`` explicitly every this many iterations.

    Returns
    -------
    LobpcgResult
    """
    m = X0.shape[1]
    X, _ = _orthonormalize(X0, None, [])
    if X.shape[1] < m:  # rank-deficient start: complete it deterministically
        extra = random_block(X0.shape[0], m - X.shape[1], X0.dtype, X0.device, seed=12345)
        X, _ = _orthonormalize(torch.cat([X, extra], 1), None, [])
    AX = apply(X)
    rr = _rayleigh_ritz(X, AX)
    assert rr is not None
    theta, C = rr
    X, AX = X @ C, AX @ C
    norm_est = float(theta.abs().max()) if theta.numel() else 0.0
    P: torch.Tensor | None = None
    AP: torch.Tensor | None = None
    iterations = 0
    exact = True  # AX was recomputed at this iterate
    for it in range(1, max_iter + 1):
        R = AX - X * theta.to(X.dtype)
        res = torch.linalg.vector_norm(R, dim=0)
        scale = max(norm_est, torch.finfo(theta.dtype).tiny)
        conv = res <= tol * scale
        if bool(conv[:k].all()):
            if exact:
                break
            AX = apply(X)  # confirm with an exact product
            exact = True
            R = AX - X * theta.to(X.dtype)
            res = torch.linalg.vector_norm(R, dim=0)
            conv = res <= tol * scale
            if bool(conv[:k].all()):
                break
        iterations = it
        active = ~conv
        W = R[:, active]
        if precond is not None:
            W = precond(W)
        if P is not None and AP is not None:
            # scale only: the Rayleigh-Ritz step handles a non-orthogonal P via S^H S
            p_norms = torch.linalg.vector_norm(P, dim=0)
            ok = p_norms > torch.finfo(p_norms.dtype).tiny ** 0.5
            scale_p = torch.where(ok, 1 / torch.where(ok, p_norms, 1.0), 0.0).to(P.dtype)
            P, AP = P * scale_p, AP * scale_p
        W, _ = _orthonormalize(W, None, [(X, None)])
        if W.shape[1] == 0:
            break  # stagnation: no new direction
        AW = apply(W)
        blocks = [X, W] + ([P] if P is not None else [])
        ablocks = [AX, AW] + ([AP] if AP is not None else [])
        S, AS = torch.cat(blocks, 1), torch.cat(ablocks, 1)
        rr = _rayleigh_ritz(S, AS)
        if rr is None and P is not None:  # restart without P
            P = AP = None
            S, AS = torch.cat([X, W], 1), torch.cat([AX, AW], 1)
            rr = _rayleigh_ritz(S, AS)
        if rr is None:
            break
        theta_all, C = rr
        norm_est = max(norm_est, float(theta_all.abs().max()))
        C = C[:, :m]
        theta = theta_all[:m]
        Cwp = C[m:, :]
        P = S[:, m:] @ Cwp[:, active]
        AP = AS[:, m:] @ Cwp[:, active]
        X, AX = S @ C, AS @ C
        exact = False
        if it % restart_every == 0:
            X, _ = _orthonormalize(X, None, [])
            AX = apply(X)
            rr = _rayleigh_ritz(X, AX)
            assert rr is not None
            theta, C = rr
            X, AX = X @ C, AX @ C
            if P is not None:
                AP = apply(P)
            exact = True
    if not exact:
        AX = apply(X)
    res = torch.linalg.vector_norm(AX - X * theta.to(X.dtype), dim=0)
    return LobpcgResult(theta, X, res, iterations, norm_est)
