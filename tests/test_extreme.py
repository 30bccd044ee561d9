"""Extreme eigenvalues, Ky Fan sums, spectral gaps, Rayleigh quotients."""

from __future__ import annotations

import warnings

import pytest
import torch

import eigengrad as eg
from eigengrad.exceptions import (
    DomainError,
    InputDTypeError,
    InputError,
    InputShapeError,
    NonFiniteInputError,
    SubgradientWarning,
)
from eigengrad.testing import matrix_with_spectrum, random_unitary, relative_error

with warnings.catch_warnings():  # torch 2.13 deprecation chatter on torch.func.jvp's first use
    warnings.simplefilter("ignore", DeprecationWarning)
    import torch._decomp.decompositions_for_jvp

F64, C128 = torch.float64, torch.complex128


def herm(X: torch.Tensor) -> torch.Tensor:
    return (X + X.mH) / 2


@pytest.mark.parametrize("dtype", [F64, C128])
@pytest.mark.parametrize("n", [1, 3, 5])
def test_lambda_max_of_identity_has_gradient_I_over_n(n, dtype):
    eye = torch.eye(n, dtype=dtype, requires_grad=True)
    if n == 1:
        (g,) = torch.autograd.grad(eg.lambda_max(eye), eye)
    else:
        with pytest.warns(SubgradientWarning, match=r"lambda_max.*multiplicity"):
            (g,) = torch.autograd.grad(eg.lambda_max(eye), eye)
    assert relative_error(g, torch.eye(n, dtype=dtype) / n) < 1e-14
    Ar = torch.eye(n, dtype=dtype, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SubgradientWarning)
        (gmin,) = torch.autograd.grad(eg.lambda_min(Ar), Ar)
    assert relative_error(gmin, torch.eye(n, dtype=dtype) / n) < 1e-14


def test_forward_mode_gives_one_sided_derivative():
    eye = torch.eye(3, dtype=F64)
    Q = random_unitary(3, seed=7)
    E = herm(Q @ torch.diag(torch.tensor([1.0, 2.0, 3.0], dtype=F64)) @ Q.mT)
    _, t = torch.func.jvp(eg.lambda_max, (eye,), (E,))
    assert float(t) == pytest.approx(3.0, abs=1e-12)
    _, t = torch.func.jvp(eg.lambda_min, (eye,), (E,))
    assert float(t) == pytest.approx(1.0, abs=1e-12)
    _, t = torch.func.jvp(lambda X: eg.sum_largest(X, 2), (eye,), (E,))
    assert float(t) == pytest.approx(5.0, abs=1e-12)
    # and it is the true one-sided derivative
    h = 1e-7
    assert float((eg.lambda_max(eye + h * E) - 1.0) / h) == pytest.approx(3.0, abs=1e-6)


@pytest.mark.parametrize("dtype", [F64, C128])
def test_sum_largest_tie_returns_subgradient_and_warns_once(dtype):
    # k = 3: the 3rd and 4th largest are equal (a cluster of multiplicity 3, 2 of it selected)
    A, _, Q = matrix_with_spectrum([-1.0, 0.5, 0.5, 0.5, 2.0], seed=3, dtype=dtype)
    A.requires_grad_()
    with pytest.warns(SubgradientWarning) as record:
        (g,) = torch.autograd.grad(eg.sum_largest(A, 3), A)
    assert len([r for r in record if issubclass(r.category, SubgradientWarning)]) == 1
    assert "sum_largest" in str(record[0].message) and "multiplicity 3" in str(record[0].message)
    P_above = Q[:, 4:] @ Q[:, 4:].mH
    P_c = Q[:, 1:4] @ Q[:, 1:4].mH
    assert relative_error(g, P_above + (2 / 3) * P_c) < 1e-12
    # the minimum-norm property: this is the subgradient of smallest Frobenius norm among
    # P_above + Q_c diag(t) Q_c^H with t in [0, 1]^3, sum t = 2 -> t = (2/3, 2/3, 2/3).


def test_sum_largest_cluster_inside_is_exact_and_silent():
    A, _, Q = matrix_with_spectrum([-1.0, 0.5, 2.0, 2.0, 2.0], seed=3)
    A.requires_grad_()
    (g,) = torch.autograd.grad(eg.sum_largest(A, 3), A)  # -W error: no warning
    assert relative_error(g, Q[:, 2:] @ Q[:, 2:].mT) < 1e-12
    (g,) = torch.autograd.grad(eg.sum_smallest(A, 2), A)
    assert relative_error(g, Q[:, :2] @ Q[:, :2].mT) < 1e-12
    assert float(eg.sum_largest(A, 0).detach()) == 0.0


@pytest.mark.parametrize("dtype", [F64, C128])
def test_gradcheck_separated(dtype):
    A, _, _ = matrix_with_spectrum([0.3, 1.0, 2.2, 3.0], seed=1, dtype=dtype)
    A.requires_grad_()
    for fn in (
        eg.lambda_max,
        eg.lambda_min,
        lambda X: eg.sum_largest(X, 2),
        lambda X: eg.sum_smallest(X, 3),
        lambda X: eg.spectral_gap(X, 2),
    ):
        assert torch.autograd.gradcheck(lambda X, fn=fn: fn(herm(X)), (A,), check_forward_ad=True)


def test_spectral_gap():
    A, _, Q = matrix_with_spectrum([0.0, 1.0, 4.0, 4.5], seed=2)
    A.requires_grad_()
    gap = eg.spectral_gap(A, 2)
    assert float(gap.detach()) == pytest.approx(3.0)
    (g,) = torch.autograd.grad(gap, A)
    ref = torch.outer(Q[:, 2], Q[:, 2]) - torch.outer(Q[:, 1], Q[:, 1])
    assert relative_error(g, ref) < 1e-12
    # at a repeated eigenvalue: one-sided forward derivative, warned subgradient backward
    B, _, _ = matrix_with_spectrum([0.0, 1.0, 1.0, 3.0], seed=2)
    E = herm(random_unitary(4, seed=3) @ torch.diag(torch.tensor([0.0, 1.0, 2.0, 0.0]).double()))
    _, t = torch.func.jvp(lambda X: eg.spectral_gap(X, 2), (B,), (E,))
    h = 1e-7
    fd = (eg.spectral_gap(B + h * E, 2) - eg.spectral_gap(B, 2)) / h
    assert float(t) == pytest.approx(float(fd), abs=1e-5)


def test_rayleigh_quotient():
    A, _, Q = matrix_with_spectrum([1.0, 2.0, 3.0, 4.0], seed=5, dtype=C128)
    x = torch.randn(4, dtype=C128, generator=torch.Generator().manual_seed(1))
    value = eg.rayleigh_quotient(A, x)
    assert float(value) == pytest.approx(float((x.conj() @ A @ x).real / (x.conj() @ x).real))
    X = Q[:, 2:]
    assert float(eg.rayleigh_quotient(A, X)) == pytest.approx(7.0)
    G = torch.tensor([[2.0, 1.0], [0.5, 3.0]], dtype=C128)
    assert float(eg.rayleigh_quotient(A, X @ G)) == pytest.approx(7.0)  # span only
    Ar = A.clone().requires_grad_()
    Xr = X.clone().requires_grad_()
    (gA, gX) = torch.autograd.grad(eg.rayleigh_quotient(Ar, Xr), (Ar, Xr))
    assert relative_error(gA, X @ X.mH) < 1e-12
    assert float(gX.abs().max()) < 1e-12  # invariant subspace: stationary
    Ab, _, _ = matrix_with_spectrum([1.0, 2.0, 3.0], seed=5, batch=(2,))
    xb = torch.ones(2, 3, dtype=F64)
    assert eg.rayleigh_quotient(Ab, xb).shape == (2,)


def test_bad_inputs():
    A = torch.eye(3, dtype=F64)
    with pytest.raises(InputShapeError, match="n >= 1"):
        eg.lambda_max(torch.zeros(0, 0))
    with pytest.raises(InputError, match="0 <= k <= n"):
        eg.sum_largest(A, 4)
    with pytest.raises(InputError, match="1 <= k <= n - 1"):
        eg.spectral_gap(A, 3)
    with pytest.raises(InputError, match="1 <= k <= n - 1"):
        eg.spectral_gap(A, 0)
    with pytest.raises(DomainError, match="zero vector"):
        eg.rayleigh_quotient(A, torch.zeros(3, dtype=F64))
    with pytest.raises(DomainError, match="full column rank"):
        eg.rayleigh_quotient(A, torch.ones(3, 2, dtype=F64))
    with pytest.raises(InputShapeError, match="expected X of shape"):
        eg.rayleigh_quotient(A, torch.ones(4, dtype=F64))


def test_rayleigh_quotient_input_checks_and_scaling():
    A = torch.diag(torch.tensor([1.0, 2.0, 3.0], dtype=F64))
    # the quotient depends on the span only: huge and tiny vectors used to give NaN or a
    # "zero vector" error
    for scale in (1e200, 1e-200):
        x = torch.tensor([scale, 0.0, 0.0], dtype=F64, requires_grad=True)
        value = eg.rayleigh_quotient(A, x)
        assert float(value.detach()) == 1.0
        value.backward()
        assert bool(torch.isfinite(x.grad).all())
    X = torch.tensor([[1e300, 0.0], [0.0, 1e-300], [0.0, 0.0]], dtype=F64)
    assert float(eg.rayleigh_quotient(A, X)) == pytest.approx(3.0)
    with pytest.raises(NonFiniteInputError):
        eg.rayleigh_quotient(A * float("nan"), torch.ones(3, dtype=F64))
    with pytest.raises(NonFiniteInputError):
        eg.rayleigh_quotient(A, torch.tensor([1.0, float("nan"), 0.0], dtype=F64))
    for dtype in (torch.float16, torch.bool, torch.int64):
        with pytest.raises(InputDTypeError):
            eg.rayleigh_quotient(A.to(dtype), torch.ones(3).to(dtype))
    with pytest.raises(DomainError, match="zero vector"):
        eg.rayleigh_quotient(torch.zeros(0, 0, dtype=F64), torch.zeros(0, dtype=F64))
    # an integer or bool indicator vector takes A's dtype
    assert float(eg.rayleigh_quotient(A, torch.tensor([0, 1, 1]))) == 2.5
    assert float(eg.rayleigh_quotient(A, torch.tensor([False, True, True]))) == 2.5
