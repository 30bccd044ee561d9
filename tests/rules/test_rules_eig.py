"""The neutral eig rules run on array_api_strict and agree with the torch entry point."""

from __future__ import annotations

import warnings

import array_api_strict as xp
import numpy as np
import torch

import eigengrad as eg
from eigengrad._rules import _eig as rules


def _pair(n: int = 4, seed: int = 0):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((n, n)) + 1j * rng.standard_normal((n, n))
    w, V = np.linalg.eig(A)
    return A, w, V


def test_vjp_matches_torch_entry_point():
    A, w, V = _pair()
    rng = np.random.default_rng(1)
    gw = rng.standard_normal(4) + 1j * rng.standard_normal(4)
    gV = rng.standard_normal((4, 4)) + 1j * rng.standard_normal((4, 4))
    Vx, wx = xp.asarray(V), xp.asarray(w)
    S = xp.conj(Vx).mT @ xp.asarray(gV)
    T = rules.gauge_cotangent(Vx, S)
    # project out the phase dependence so that the loss is gauge-invariant, as the policy does
    T = T - xp.linalg.diagonal(T)[..., None, :] * xp.eye(4, dtype=T.dtype)
    keep = ~xp.eye(4, dtype=xp.bool)
    gA = rules.eig_vjp(Vx, xp.asarray(gw), rules.inverse_gaps(wx, keep), T)

    At = torch.from_numpy(A)
    w_t, V_t = torch.linalg.eig(At)
    order = [int(np.argmin(np.abs(w_t.numpy() - z))) for z in w]
    phase = V_t[:, order] / torch.from_numpy(V)  # torch's eigenvectors differ by phases only
    phase = phase[0]

    def loss(X):
        wt, Vt = eg.eig(X)
        Vt = Vt[:, order] / phase
        gVt = torch.from_numpy(gV)
        # gauge-invariant version of Re<gV, V>: remove the phase direction per column
        lin = (gVt.conj() * Vt).sum(0)
        return (torch.from_numpy(gw).conj() * wt[order]).real.sum() + lin.real.sum()

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the linear loss is phase dependent; compared projected
        X = At.clone().requires_grad_()
        (g,) = torch.autograd.grad(loss(X), X)
    assert np.max(np.abs(np.asarray(gA) - g.numpy())) < 1e-10


def test_jvp_satisfies_the_eigen_equation():
    A, w, V = _pair(seed=3)
    rng = np.random.default_rng(4)
    dA = rng.standard_normal((4, 4)) + 1j * rng.standard_normal((4, 4))
    Vx = xp.asarray(V)
    K = xp.linalg.solve(Vx, xp.asarray(dA) @ Vx)
    F = rules.inverse_gaps(xp.asarray(w), ~xp.eye(4, dtype=xp.bool))
    dw, dV = rules.eig_jvp(Vx, K, F)
    # d(A V - V diag w) = dA V + A dV - dV diag(w) - V diag(dw) = 0
    residual = xp.asarray(dA) @ Vx + xp.asarray(A) @ dV - dV * xp.asarray(w) - Vx * dw
    assert float(xp.max(xp.abs(residual))) < 1e-12
    assert float(xp.max(xp.abs(xp.real(xp.sum(xp.conj(Vx) * dV, axis=-2))))) < 1e-12


def test_clusters_conditions_and_defect_pairs():
    w = xp.asarray([1.0 + 0j, 1.0 + 1e-18j, 2.0 + 0j, 1.0 - 1e-18j])
    same = rules.complex_clusters(w, xp.asarray([[1e-15]]))
    assert xp.all(xp.sum(xp.astype(same, xp.int64), axis=-1) == xp.asarray([3, 3, 1, 3]))
    V = xp.asarray([[1.0, 1.0], [0.0, 1e-6]])
    kappa = rules.condition_numbers(V / xp.linalg.vector_norm(V, axis=0), xp.linalg.inv(V))
    assert float(kappa[0]) > 1e5
    d = rules.defect_pairs(
        xp.asarray([1.0 + 0j, 1.001 + 0j]), kappa, xp.eye(2, dtype=xp.bool), xp.asarray([1.0])
    )
    assert float(d[0, 1]) < 1e-8 and float(d[0, 0]) == float("inf")
    mean, spread = rules.cluster_mean_spread(xp.asarray([1.0, 3.0, 5.0]), same[:3, :3])
    assert float(mean[0]) == 2.0 and float(spread[2]) == 0.0
