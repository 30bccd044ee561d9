"""The degeneracy policy (MATH.md section 3) against independent references."""

import math
import warnings

import pytest
import torch

import eigengrad as eg
from eigengrad.demo._eigh_rows import SEED_MATRIX
from eigengrad.testing import (
    divided_difference_gradient,
    function_divided_differences,
    matrix_with_spectrum,
    projector_loss_gradient,
    random_unitary,
    relative_error,
    spectrum_with_gap,
    symmetric_direction,
)

GAPS = [0.0, 1e-14, 1e-12, 1e-10, 1e-8, 1e-6, 1e-3]
SCALES = [1e-100, 1e-8, 1.0, 1e8, 1e100]


def _grad(loss, A, **options):
    A = A.detach().clone().requires_grad_()
    w, V = eg.eigh(A, **options)
    (g,) = torch.autograd.grad(loss(w, V), A)
    return g


def _fixed_B(n, dtype, seed=11):
    return symmetric_direction(n, seed=seed, dtype=dtype) * n


@pytest.mark.parametrize("dtype", [torch.float64, torch.complex128])
@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("gap", GAPS)
def test_invariant_losses_are_exact_at_every_gap_and_scale(gap, scale, dtype):
    n, k = 6, 3  # cluster of 2 at positions 1, 2; selection = 3 lowest (whole cluster)
    w = spectrum_with_gap(n, gap, multiplicity=2, at=1, scale=scale)
    A, w, Q = matrix_with_spectrum(w, seed=3, dtype=dtype)
    B = _fixed_B(n, dtype)
    selected = torch.arange(n) < k

    def projector(w_, V):
        P = V[:, :k] @ V[:, :k].mH
        return (P * B.conj()).sum().real

    def cluster_sum(w_, V):
        return w_[1:3].sum() * 2.0 + w_[0]

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning at all
        g_proj = _grad(projector, A)
        g_sum = _grad(cluster_sum, A)
    ref_proj = projector_loss_gradient(w, Q, selected, B)
    Qc = Q[:, 1:3]
    ref_sum = 2.0 * Qc @ Qc.mH + Q[:, :1] @ Q[:, :1].mH
    assert relative_error(g_proj, ref_proj) < 1e-8
    assert relative_error(g_sum, ref_sum) < 1e-8


@pytest.mark.parametrize("dtype", [torch.float64, torch.complex128])
def test_invariant_losses_exact_for_triple_cluster_rounding_split(dtype):
    w = torch.tensor([-2.0, 0.5, 0.5, 0.5, 1.0, 3.0], dtype=torch.float64)
    for seed in range(5):
        A, w, Q = matrix_with_spectrum(w, seed=seed, dtype=dtype)
        B = _fixed_B(6, dtype, seed=seed)

        def projector(w_, V, B=B):
            return (V[:, 1:4] @ V[:, 1:4].mH * B.conj()).sum().real

        with warnings.catch_warnings():
            warnings.simplefilter("error")
            g = _grad(projector, A)
        selected = torch.tensor([False, True, True, True, False, False])
        assert relative_error(g, projector_loss_gradient(w, Q, selected, B)) < 1e-8


def test_seed_matrix_projector_exact_and_eigenvector_sum_warns_or_raises():
    M = torch.tensor(SEED_MATRIX, dtype=torch.float64)
    r = math.sqrt(1.2039**2 + 0.3690**2)
    B = _fixed_B(4, torch.float64)
    P_L = (torch.eye(4, dtype=torch.float64) - M / r) / 2
    P_U = torch.eye(4, dtype=torch.float64) - P_L
    ref = -(P_U @ B @ P_L + P_L @ B @ P_U) / (2 * r)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        g = _grad(lambda w, V: ((V[:, :2] @ V[:, :2].mT) * B).sum(), M)
    assert relative_error(g, ref) < 1e-12

    def vector_sum(w, V):
        return V[:, 0].sum()

    with pytest.warns(eg.GaugeDependenceWarning, match=r"-1\.2592 \(multiplicity 2\)") as rec:
        g = _grad(vector_sum, M)
    assert bool(torch.isfinite(g).all())
    message = str(rec[0].message)
    assert "projector" in message and "gauge='raise'" in message
    with pytest.raises(eg.GaugeDependenceError, match=r"-1\.2592 \(multiplicity 2\)"):
        _grad(vector_sum, M, gauge="raise")


def test_gauge_projected_gradient_is_the_invariant_part():
    # For loss = sum(v_0) at a double eigenvalue, the returned gradient equals the gradient of
    # the loss with the within-cluster rotation removed: it is orthogonal to the cluster block.
    A, _, Q = matrix_with_spectrum([1.0, 1.0, 2.0, 4.0], seed=1)
    with pytest.warns(eg.GaugeDependenceWarning):
        g = _grad(lambda w, V: V[:, 0].sum(), A)
    Qc = Q[:, :2]
    assert float((Qc.mT @ g @ Qc).abs().max()) < 1e-12


def test_lambda_max_of_identity_gradient_and_forward_derivative():
    eye = torch.eye(3, dtype=torch.float64)
    with pytest.warns(eg.SubgradientWarning, match=r"multiplicity 3"):
        g = _grad(lambda w, V: w[-1], eye)
    torch.testing.assert_close(g, eye / 3, rtol=0, atol=1e-15)
    D = torch.diag(torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64))
    for seed in range(6):
        Q = random_unitary(3, seed=seed)
        E = Q @ D @ Q.mT
        _, t = torch.func.jvp(lambda A: eg.eigvalsh(A)[-1], (eye,), ((E + E.mT) / 2,))
        assert abs(float(t) - 3.0) < 1e-12
        _, t_all = torch.func.jvp(eg.eigvalsh, (eye,), ((E + E.mT) / 2,))
        torch.testing.assert_close(t_all, torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64))


def test_forward_mode_on_several_clusters_is_per_cluster_eigvalsh():
    w = torch.tensor([-1.0, -1.0, 0.0, 2.0, 2.0, 2.0, 5.0], dtype=torch.float64)
    A, w, Q = matrix_with_spectrum(w, seed=8)
    E = symmetric_direction(7, seed=9)
    (_, dV), (dw, dV) = torch.func.jvp(eg.eigh, (A,), (E,))
    _, V = eg.eigh(A)
    K = V.mT @ E @ V
    expect = torch.cat(
        [
            torch.linalg.eigvalsh(K[:2, :2]),
            K[2:3, 2],
            torch.linalg.eigvalsh(K[3:6, 3:6]),
            K[6:, 6],
        ]
    )
    torch.testing.assert_close(dw, expect, rtol=1e-12, atol=1e-12)
    # the eigenvector tangent is exact for basis-invariant functions: projector JVP
    Pc = V[:, 3:6] @ V[:, 3:6].mT
    dP = dV[:, 3:6] @ V[:, 3:6].mT + V[:, 3:6] @ dV[:, 3:6].mT
    selected = torch.tensor([False, False, False, True, True, True, False])
    D = torch.where(
        selected[:, None] != selected[None, :],
        (selected[:, None].double() - selected[None, :].double())
        / (w[:, None] - w[None, :] + torch.eye(7, dtype=torch.float64)),
        0.0,
    )
    ref = Q @ (D * (Q.mT @ E @ Q)) @ Q.mT
    assert relative_error(dP, ref) < 1e-10
    assert Pc.shape == (7, 7)


def test_subgradient_warning_and_cluster_mean_for_one_eigenvalue_of_a_pair():
    A, _, Q = matrix_with_spectrum([0.0, 1.0, 1.0, 2.0], seed=2)
    with pytest.warns(eg.SubgradientWarning, match=r"at 1 \(multiplicity 2\)"):
        g = _grad(lambda w, V: w[1], A)
    Qc = Q[:, 1:3]
    torch.testing.assert_close(g, Qc @ Qc.mT / 2, rtol=0, atol=1e-12)


@pytest.mark.parametrize("gap", [1e-9, 1e-7, 1e-5, 1e-3])
@pytest.mark.parametrize("dtype", [torch.float64, torch.complex128])
def test_matrix_function_loss_keeps_exact_gap_terms(gap, dtype):
    # tr(B V f(Λ) V^H) for f = exp: its gradient is the Daleckii-Krein formula.
    w = spectrum_with_gap(6, gap, multiplicity=2, at=2)
    A, w, Q = matrix_with_spectrum(w, seed=5, dtype=dtype)
    B = _fixed_B(6, dtype, seed=6)

    def loss(w_, V):
        F = (V * torch.exp(w_).to(V.dtype)) @ V.mH
        return (F * B.conj()).sum().real

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        g = _grad(loss, A)
    D = function_divided_differences(w, torch.exp(w), torch.exp(w))
    ref = divided_difference_gradient(w, Q, B, D)
    assert relative_error(g, ref) < 1e-5


def test_near_crossing_eigenvector_derivative_is_not_masked():
    d = t = 1e-10
    A = torch.tensor([[1.0, t], [t, 1.0 + d]], dtype=torch.float64)
    r = math.sqrt(d * d + 4 * t * t)
    lam, dlam = (d - r) / 2, (1 - d / r) / 2
    ref = t * dlam * (t * t - lam * lam) / (t * t + lam * lam) ** 2
    g = _grad(lambda w, V: V[0, 0] * V[1, 0], A)
    assert abs(float(g[1, 1]) - ref) / abs(ref) < 1e-5


def test_float32_exact_crossing_warns_instead_of_nan():
    A = torch.tensor([[1.0, 5e-9], [5e-9, 1.0 + 1e-8]], dtype=torch.float32)
    with pytest.warns(eg.GaugeDependenceWarning):
        g = _grad(lambda w, V: V[0, 0] * V[1, 0], A)
    assert bool(torch.isfinite(g).all())


def test_complex_phase_dependence_warns_and_raises():
    A, _, _ = matrix_with_spectrum([0.0, 1.0, 3.0], seed=4, dtype=torch.complex128)
    with pytest.warns(eg.GaugeDependenceWarning, match="complex phase of eigenvector"):
        g = _grad(lambda w, V: V[1, 1].real, A)
    assert bool(torch.isfinite(g).all())
    with pytest.raises(eg.GaugeDependenceError, match="phase"):
        _grad(lambda w, V: V[1, 1].real, A, gauge="raise")
    # phase-invariant losses are silent
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _grad(lambda w, V: V[1, 1].abs(), A)


def test_warning_names_batch_index_of_the_degenerate_matrix():
    good, _, _ = matrix_with_spectrum([0.0, 1.0, 2.0], seed=1)
    bad, _, _ = matrix_with_spectrum([0.0, 1.0, 1.0], seed=2)
    A = torch.stack([good, good, bad]).reshape(3, 1, 3, 3)
    with pytest.warns(eg.GaugeDependenceWarning, match=r"batch index \(2, 0\)"):
        _grad(lambda w, V: V[..., 0, 2].sum(), A)


def test_exactly_zero_and_identity_matrices():
    for A in (torch.zeros(3, 3, dtype=torch.float64), torch.eye(3, dtype=torch.float64)):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            g = _grad(lambda w, V: w.sum() + (V @ V.mT).trace(), A)
        torch.testing.assert_close(g, torch.eye(3, dtype=torch.float64))


def test_custom_tolerance_widens_clusters():
    A, _, _ = matrix_with_spectrum([0.0, 1.0, 1.0 + 1e-6, 3.0], seed=3)
    _grad(lambda w, V: V[:, 1].sum(), A)  # resolvable: exact 1/gap terms, silent
    with pytest.warns(eg.GaugeDependenceWarning, match="multiplicity 2"):
        _grad(lambda w, V: V[:, 1].sum(), A, rtol=1e-5)
    with pytest.warns(eg.GaugeDependenceWarning, match="multiplicity 2"):
        _grad(lambda w, V: V[:, 1].sum(), A, rtol=0.0, atol=1e-5)
