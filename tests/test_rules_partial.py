"""The neutral partial-eigenpair rules against array_api_strict and closed forms."""

from __future__ import annotations

import array_api_strict as xp
import numpy as np
import torch

from eigengrad._rules import _partial as rp


def test_stored_entries_match_hermitian_gradient_strict():
    rng = np.random.default_rng(0)
    n, k = 7, 2
    X = xp.asarray(np.linalg.qr(rng.standard_normal((n, k)))[0])
    G = xp.asarray(rng.standard_normal((n, k)))
    dense = rp.hermitian_gradient(X, G)
    rows = xp.asarray(np.repeat(np.arange(n), n))
    cols = xp.asarray(np.tile(np.arange(n), n))
    entries = rp.stored_entries_gradient(X, G, rows, cols)
    assert np.allclose(np.asarray(entries).reshape(n, n), np.asarray(dense))
    assert np.allclose(np.asarray(dense), np.asarray(dense).T)


def test_vjp_factor_reproduces_full_eigh_rule_complex():
    # gA from the low-rank factor equals the full eigh VJP with cotangent [gX, 0].
    gen = torch.Generator().manual_seed(3)
    n, k = 9, 3
    Z = torch.complex(
        torch.randn(n, n, generator=gen, dtype=torch.float64),
        torch.randn(n, n, generator=gen, dtype=torch.float64),
    )
    Q, _ = torch.linalg.qr(Z)
    w = torch.linspace(0, 4, n, dtype=torch.float64)
    A = (Q * w) @ Q.mH
    X, Qc = Q[:, :k], Q[:, k:]
    gX = torch.complex(
        torch.randn(n, k, generator=gen, dtype=torch.float64),
        torch.randn(n, k, generator=gen, dtype=torch.float64),
    )
    gw = torch.randn(k, generator=gen, dtype=torch.float64)
    S = X.mH @ gX
    F = 1 / (w[:k][None, :] - w[:k][:, None])
    F.fill_diagonal_(0)
    M = rp.inspace_cotangent(gw, F.to(S.dtype), (S - S.mH) / 2, S)
    R = rp.complement_project(X, gX)
    Y = torch.stack([Qc @ ((Qc.mH @ R[:, i]) / (w[k:] - w[i])) for i in range(k)], 1)
    gA = rp.hermitian_gradient(X, rp.vjp_factor(X, M, Y))
    Ff = 1 / (w[None, :] - w[:, None])
    Ff.fill_diagonal_(0)
    gV = torch.cat([gX, torch.zeros(n, n - k, dtype=gX.dtype)], 1)
    Sf = Q.mH @ gV
    full = (
        Q
        @ (
            torch.diag(torch.cat([gw, torch.zeros(n - k, dtype=gw.dtype)])).to(Sf.dtype)
            + Ff.to(Sf.dtype) * (Sf - Sf.mH) / 2
        )
        @ Q.mH
    )
    assert torch.allclose(gA, full, atol=1e-12)
    del A


def test_splits_cluster():
    assert rp.splits_cluster(1.0, 1.0, 0.0)
    assert not rp.splits_cluster(1.0, 1.5, 0.1)
