"""Property tests (hypothesis, derandomized in CI) for eg.eigh."""

import warnings

import hypothesis.strategies as st
import torch
from hypothesis import given

import eigengrad as eg
from eigengrad.testing import (
    hermitian_from_spectrum,
    matrix_with_spectrum,
    projector_loss_gradient,
    random_unitary,
    relative_error,
    symmetric_direction,
)

seeds = st.integers(0, 2**16)
sizes = st.integers(2, 7)
dtypes = st.sampled_from([torch.float64, torch.complex128])


def _separated_spectrum(n, seed):
    gen = torch.Generator().manual_seed(seed)
    steps = 0.2 + torch.rand(n, generator=gen, dtype=torch.float64)
    return torch.cumsum(steps, 0) - steps.sum() / 2


@given(n=sizes, seed=seeds, dtype=dtypes)
def test_jvp_vjp_adjointness(n, seed, dtype):
    A, _, _ = matrix_with_spectrum(_separated_spectrum(n, seed), seed=seed, dtype=dtype)
    dA = symmetric_direction(n, seed=seed + 1, dtype=dtype)
    gen = torch.Generator().manual_seed(seed + 2)
    gw = torch.randn(n, generator=gen, dtype=torch.float64)
    real = torch.randn(n, n, generator=gen, dtype=torch.float64)
    gV = (
        torch.complex(real, torch.randn(n, n, generator=gen, dtype=torch.float64))
        if (dtype.is_complex)
        else real
    )

    def f(A):
        w, V = eg.eigh(A)
        return w, V

    (_, V), (dw, dV) = torch.func.jvp(f, (A,), (dA,))
    # remove the phase-dependent part of gV so that the loss <gV, V> is gauge invariant
    S = V.mH @ gV
    gV = gV - V * (1j * S.diagonal().imag if dtype.is_complex else 0.0)
    _, pullback = torch.func.vjp(f, A)
    (gA,) = pullback((gw, gV))
    lhs = (gA.conj() * dA).sum().real
    rhs = (gw * dw).sum() + (gV.conj() * dV).sum().real
    assert abs(float(lhs - rhs)) <= 1e-9 * (1 + abs(float(lhs)))


@given(n=sizes, seed=seeds, dtype=dtypes)
def test_equivariance_under_unitary_similarity(n, seed, dtype):
    A, _, _ = matrix_with_spectrum(_separated_spectrum(n, seed), seed=seed, dtype=dtype)
    U = random_unitary(n, seed=seed + 7, dtype=dtype)
    B = symmetric_direction(n, seed=seed + 3, dtype=dtype)

    def grad_of(A, B):
        A = A.clone().requires_grad_()
        w, V = eg.eigh(A)
        loss = (w**3).sum() + ((V[:, :1] @ V[:, :1].mH) * B.conj()).sum().real
        return torch.autograd.grad(loss, A)[0], w

    g, w = grad_of(A, B)
    g_rot, w_rot = grad_of(U @ A @ U.mH, U @ B @ U.mH)
    torch.testing.assert_close(w_rot, w, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(g_rot, U @ g @ U.mH, rtol=1e-8, atol=1e-10)


@given(seed=seeds, dtype=dtypes, mult=st.integers(2, 4))
def test_invariant_gradients_unchanged_by_rotations_inside_clusters(seed, dtype, mult):
    n = mult + 3
    w = torch.cat([torch.tensor([-2.0]), torch.full((mult,), 0.5), torch.tensor([1.5, 3.0])])
    w = w.to(torch.float64)
    Q = random_unitary(n, seed=seed, dtype=dtype)
    R = random_unitary(mult, seed=seed + 1, dtype=dtype)
    Q2 = Q.clone()
    Q2[:, 1 : 1 + mult] = Q[:, 1 : 1 + mult] @ R  # same matrix, other basis of the cluster
    B = symmetric_direction(n, seed=seed + 2, dtype=dtype)
    selected = torch.zeros(n, dtype=torch.bool)
    selected[: 1 + mult] = True
    grads = []
    for basis in (Q, Q2):
        A = hermitian_from_spectrum(w, basis).requires_grad_()
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            _, V = eg.eigh(A)
            k = 1 + mult
            loss = ((V[:, :k] @ V[:, :k].mH) * B.conj()).sum().real
            grads.append(torch.autograd.grad(loss, A)[0])
    ref = projector_loss_gradient(w, Q, selected, B)
    assert relative_error(grads[0], ref) < 1e-8
    assert relative_error(grads[1], ref) < 1e-8


@given(seed=seeds, batch=st.integers(1, 4), n=st.integers(1, 5))
def test_batch_equals_loop(seed, batch, n):
    gen = torch.Generator().manual_seed(seed)
    X = torch.randn(batch, n, n, generator=gen, dtype=torch.float64)
    A = ((X + X.mT) / 2).requires_grad_()
    C = torch.randn(batch, n, n, generator=gen, dtype=torch.float64)

    def loss(A, C):
        w, V = eg.eigh(A)
        return (w**2).sum() + (V**2 * C).sum()

    (g_batch,) = torch.autograd.grad(loss(A, C), A)
    for b in range(batch):
        (g_one,) = torch.autograd.grad(loss(A[b], C[b]), A)
        torch.testing.assert_close(g_one[b], g_batch[b], rtol=1e-12, atol=1e-12)


@given(seed=seeds, dtype=dtypes, mult=st.integers(2, 5), scale=st.sampled_from([1e-30, 1.0, 1e30]))
def test_no_nan_at_exact_degeneracy(seed, dtype, mult, scale):
    w = torch.cat([torch.full((mult,), 1.0), torch.tensor([2.0, -1.0])]).sort().values * scale
    A, _, _ = matrix_with_spectrum(w.to(torch.float64), seed=seed, dtype=dtype)
    A = A.requires_grad_()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", eg.EigengradWarning)  # basis-dependent on purpose
        w_, V = eg.eigh(A)
        loss = w_.sum() + V.abs().sum() + (V[:, 0] * V[:, -1].conj()).real.sum()
        (g,) = torch.autograd.grad(loss, A)
    assert bool(torch.isfinite(g).all())
