"""Deterministic block LOBPCG for the smallest eigenpairs of a Hermitian operator (no autograd).

Knyazev's locally optimal block preconditioned conjugate gradient (2001) in the basis-orthonormal
form of Hetmaniuk and Lehoucq (2006): each iteration performs Rayleigh-Ritz on
``S = [X, W, P]`` (Ritz vectors, preconditioned residuals, previous search directions). ``W`` is
orthonormalized against ``X`` by block Gram-Schmidt with SVQB and rank dropping (one pass when
the "twice is enough" test allows, two otherwise); ``P`` is kept as is while the Gram matrix is
well conditioned (Jacobi-scaled Cholesky with a pivot test), orthonormalized against ``[X, W]``
when it is not, and dropped (a restart) if that fails. Converged columns are soft-locked: they
stay in ``X`` (so the Ritz values keep improving) but contribute no residual or search
direction. The products ``A X``, ``A P`` are recomputed every ``restart_every`` iterations so
that updated products never drift. Convergence is residual-based:
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


def _svqb(G: torch.Tensor, cols: int) -> tuple[torch.Tensor, bool]:
    """``T`` with ``T^H G T = I`` from the Gram matrix ``G`` (SVQB, Stathopoulos and Wu 2002).

    ``G`` is scaled to unit diagonal before its eigendecomposition; directions whose scaled
    eigenvalue is below ``100 · eps · cols`` of the largest are dropped (``T`` has fewer
    columns). Also returns whether the scaled ``G`` is well conditioned (``cond < 1e6``).
    """
    real = G.real.dtype
    eps = torch.finfo(real).eps
    G = (G + G.mH) / 2
    norms = G.diagonal().real.clamp_min(0).sqrt()
    nonzero = norms > torch.finfo(real).tiny ** 0.5
    inv = torch.where(nonzero, 1 / torch.where(nonzero, norms, 1.0), 0.0).to(G.dtype)
    d, U = torch.linalg.eigh(inv[:, None] * G * inv[None, :])
    d_max = d.max().clamp_min(eps)
    keep = d > 100 * eps * cols * d_max
    well_conditioned = bool(d.min() > 1e-6 * d_max)
    return inv[:, None] * (U[:, keep] / d[keep].sqrt().to(G.dtype)), well_conditioned


def _orthonormalize(
    V: torch.Tensor,
    AV: torch.Tensor | None,
    against: list[tuple[torch.Tensor, torch.Tensor | None]],
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Orthonormalize ``V`` against the orthonormal blocks ``against`` and itself.

    Block classical Gram-Schmidt followed by SVQB. The first pass works on Gram matrices only:
    with ``c = B^H V`` the projected Gram matrix is ``V^H V - c^H c``, and the update
    ``(V - B c) T`` is one product and one fused update. A second, explicit pass follows when
    the projection cancelled more than three quarters of a column's squared norm or the
    projected Gram matrix is ill-conditioned ("twice is enough": Giraud, Langou and Rozložník
    2005). ``AV`` (if given) is transformed alongside; numerically dependent directions are
    dropped, so the result may have fewer columns.
    """
    for attempt in range(2):
        if V.shape[1] == 0:
            return V, AV
        G = V.mH @ V
        cs = [B.mH @ V for B, _ in against]
        Gp = G - sum((c.mH @ c for c in cs), torch.zeros_like(G))
        before = G.diagonal().real
        after = Gp.diagonal().real
        T, well_conditioned = _svqb(Gp, V.shape[1])
        V_new = V @ T
        AV_new = AV @ T if AV is not None else None
        for (B, AB), c in zip(against, cs, strict=True):
            cT = c @ T
            V_new.addmm_(B, cT, alpha=-1)
            if AV_new is not None and AB is not None:
                AV_new.addmm_(AB, cT, alpha=-1)
        V, AV = V_new, AV_new
        kept = bool((after > 0.25 * before).all())
        if attempt == 0 and kept and well_conditioned:
            break
    return V, AV


def _join(
    blocks: list[torch.Tensor], ablocks: list[torch.Tensor], buffer: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Write ``[S, A S]`` into the leading columns of ``buffer``; return ``S``, ``A S`` and both.

    With ``S`` and ``A S`` side by side, ``S^H [S, A S]`` is one product (one pass over ``S``),
    and the persistent buffer spares the allocator (and the kernel's page zeroing) at large n.
    """
    end = 0
    for b in blocks + ablocks:
        start, end = end, end + b.shape[1]
        buffer[:, start:end].copy_(b)
    r = end // 2
    return buffer[:, :r], buffer[:, r:end], buffer[:, :end]


def _rayleigh_ritz(
    S: torch.Tensor, AS: torch.Tensor, SAS: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor] | None:
    """Ritz pairs of the pencil ``(S^H A S, S^H S)``; ``None`` if ``S`` is ill-conditioned.

    ``SAS`` is ``[S, A S]`` as one tensor when the caller has it (one product for both
    projections). When ``S^H S`` is not the identity to rounding, it is scaled to unit diagonal
    (Jacobi) and Cholesky-factored; the scaling makes rescaling ``P`` itself unnecessary.
    """
    r = S.shape[1]
    if SAS is not None:
        GH = S.mH @ SAS
        G, H = GH[:, :r], GH[:, r:]
    else:
        G, H = S.mH @ S, S.mH @ AS
    G, H = (G + G.mH) / 2, (H + H.mH) / 2
    real = S.real.dtype
    eye = torch.eye(r, dtype=S.dtype, device=S.device)
    if float((G - eye).abs().max()) < 1e3 * torch.finfo(real).eps:
        return torch.linalg.eigh(H)
    scale = G.diagonal().real.clamp_min(torch.finfo(real).tiny).rsqrt().to(S.dtype)
    G = scale[:, None] * G * scale[None, :]
    H = scale[:, None] * H * scale[None, :]
    L, info = torch.linalg.cholesky_ex(G)
    # the smallest pivot bounds the smallest eigenvalue of the unit-diagonal G from above; below
    # sqrt(eps) the Ritz values would carry errors ~ eps / pivot^2 (Hetmaniuk and Lehoucq 2006)
    if int(info) != 0 or float(L.diagonal().real.min()) ** 2 < torch.finfo(real).eps ** 0.5:
        return None
    Li = torch.linalg.solve_triangular(L, eye, upper=False)
    theta, U = torch.linalg.eigh(Li @ H @ Li.mH)
    C = scale[:, None] * (Li.mH @ U)
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
    # [S, A S] for Rayleigh-Ritz, side by side in one persistent buffer (see _join)
    buffer = X.new_empty(X.shape[0], 6 * m)
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
        all_active = bool(active.all())
        W = R if all_active else R[:, active]
        if precond is not None:
            W = precond(W)
        # P is not rescaled: the Rayleigh-Ritz step handles a non-orthogonal, unnormalized P
        W, _ = _orthonormalize(W, None, [(X, None)])
        if W.shape[1] == 0:
            break  # stagnation: no new direction
        AW = apply(W)
        blocks = [X, W] + ([P] if P is not None else [])
        ablocks = [AX, AW] + ([AP] if AP is not None else [])
        S, AS, SAS = _join(blocks, ablocks, buffer)
        rr = _rayleigh_ritz(S, AS, SAS)
        if rr is None and P is not None and AP is not None:
            # P is nearly dependent on [X, W] (typical near convergence): keep its independent
            # directions only, orthonormalized against [X, W]
            P, AP = _orthonormalize(P, AP, [(X, AX), (W, AW)])
            assert AP is not None
            if P.shape[1]:
                blocks[2], ablocks[2] = P, AP
                S, AS, SAS = _join(blocks, ablocks, buffer)
                rr = _rayleigh_ritz(S, AS, SAS)
        if rr is None and P is not None:  # restart without P
            P = AP = None
            S, AS = S[:, : m + W.shape[1]], AS[:, : m + W.shape[1]]
            rr = _rayleigh_ritz(S, AS)
        if rr is None:
            break
        theta_all, C = rr
        norm_est = max(norm_est, float(theta_all.abs().max()))
        C = C[:, :m]
        theta = theta_all[:m]
        # [X, P] = S [C, (0; C_wp)] in one product (S is read once): P = W C_w + P C_p are the
        # new directions of the active columns
        Cp = C[m:, :] if all_active else C[m:, active]
        CXP = C.new_zeros(C.shape[0], m + Cp.shape[1])
        CXP[:, :m] = C
        CXP[m:, m:] = Cp
        XP, AXP = S @ CXP, AS @ CXP
        X, P, AX, AP = XP[:, :m], XP[:, m:], AXP[:, :m], AXP[:, m:]
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
