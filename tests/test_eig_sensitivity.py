"""Tests of eg.eigenvalue_condition_numbers and eg.eig_projectors."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.linalg
import torch

import eigengrad as eg
from eigengrad.exceptions import GaugeDependenceWarning
from eigengrad.testing import directional_fd, nonnormal_with_spectrum, relative_error

with warnings.catch_warnings():  # torch's forward-AD decompositions warn once on first import
    warnings.simplefilter("ignore")
    import torch._decomp.decompositions_for_jvp


def _random(n: int, dtype: torch.dtype, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    A = torch.randn(n, n, generator=gen, dtype=torch.float64)
    if dtype.is_complex:
        A = torch.complex(A, torch.randn(n, n, generator=gen, dtype=torch.float64))
    return A.to(dtype)


def _grad(f, A):
    A = A.detach().clone().requires_grad_()
    (g,) = torch.autograd.grad(f(A), A)
    return g


@pytest.mark.parametrize("dtype", [torch.float64, torch.complex128])
def test_condition_numbers_match_scipy(dtype):
    A = _random(6, dtype, seed=2)
    lam, ul, vr = scipy.linalg.eig(A.numpy(), left=True, right=True)
    norms = np.linalg.norm(ul, axis=0) * np.linalg.norm(vr, axis=0)
    ref = norms / np.abs(np.sum(ul.conj() * vr, 0))
    w = eg.eigvals(A)
    kappa = eg.eigenvalue_condition_numbers(A)
    for i in range(6):
        k = int(np.argmin(np.abs(lam - complex(w[i]))))
        assert abs(float(kappa[i]) - ref[k]) < 1e-10 * ref[k]


def test_condition_numbers_closed_form_and_gradient():
    t = 3.0  # [[1, t], [0, 2]]: kappa = sqrt(1 + t^2) for both eigenvalues
    A = torch.tensor([[1.0, t], [0.0, 2.0]], dtype=torch.float64)
    kappa = eg.eigenvalue_condition_numbers(A)
    assert relative_error(kappa, torch.full((2,), (1 + t * t) ** 0.5, dtype=A.dtype)) < 1e-14
    g = _grad(lambda X: eg.eigenvalue_condition_numbers(X).sum(), A)
    E = torch.tensor([[0.3, -0.2], [0.5, 0.1]], dtype=torch.float64)
    fd = directional_fd(lambda X: eg.eigenvalue_condition_numbers(X).sum(), A, E, h=1e-4)
    assert abs(float((g * E).sum()) - fd) < 1e-8


@pytest.mark.parametrize("dtype", [torch.float64, torch.complex128])
def test_projectors_identities_and_gradient(dtype):
    A = _random(5, dtype, seed=4)
    w, P = eg.eig_projectors(A)
    eye = torch.eye(5, dtype=P.dtype)
    assert relative_error(P.sum(0), eye) < 1e-12
    assert relative_error((w[:, None, None] * P).sum(0), A.to(P.dtype)) < 1e-12
    assert relative_error(P[1] @ P[1], P[1]) < 1e-12 and float((P[0] @ P[2]).abs().max()) < 1e-12
    B = _random(5, torch.complex128, seed=5)

    def loss(X):
        return (eg.eig_projectors(X).projectors[2] * B).real.sum()

    g = _grad(loss, A)  # phase-invariant: no warning (pytest runs with -W error)
    # Kato: dP_i = sum_{j != i} (P_j dA P_i + P_i dA P_j) / (w_i - w_j)
    E = _random(5, dtype, seed=6).to(P.dtype)
    dP = sum((P[j] @ E @ P[2] + P[2] @ E @ P[j]) / (w[2] - w[j]) for j in range(5) if j != 2)
    directional = float((dP * B).real.sum())
    assert abs(float((g.conj() * E).real.sum()) - directional) < 1e-9 * max(1, abs(directional))


def test_projector_of_member_of_repeated_eigenvalue_warns():
    A, _ = nonnormal_with_spectrum([1.0, 1.0, 3.0], dtype=torch.float64, seed=4)
    i = int((eg.eigvals(A) - 1).abs().argmin())
    with pytest.warns(GaugeDependenceWarning, match="multiplicity 2"):
        _grad(lambda X: eg.eig_projectors(X).projectors[i].real.sum(), A)


def test_projectors_and_condition_numbers_gradcheck_and_vmap():
    A = _random(4, torch.float64, seed=12).requires_grad_()
    assert torch.autograd.gradcheck(
        lambda X: eg.eig_projectors(X).projectors, (A,), check_forward_ad=True
    )
    assert torch.autograd.gradcheck(eg.eigenvalue_condition_numbers, (A,), check_forward_ad=True)
    batch = torch.stack([_random(4, torch.complex128, seed=s) for s in range(3)])
    f = torch.func.grad(lambda X: eg.eigenvalue_condition_numbers(X).sum())
    loop = torch.stack([f(a) for a in batch])
    assert relative_error(torch.func.vmap(f)(batch), loop) < 1e-12


def test_ill_conditioned_projectors_do_not_raise_false_gauge_alarms():
    # kappa ~ 1e5: rounding noise of the phase-invariant projector loss is ~ kappa eps; the
    # gauge check scales its tolerance by max(1, kappa_j) (pytest runs with -W error).
    n = 20
    gen = torch.Generator().manual_seed(0)
    U = torch.triu(torch.randn(n, n, generator=gen, dtype=torch.float64), 1)
    Q = torch.linalg.qr(torch.randn(n, n, generator=gen, dtype=torch.float64)).Q
    A = Q @ (torch.diag(torch.linspace(-1, 1, n, dtype=torch.float64)) + U) @ Q.T
    assert float(eg.eigenvalue_condition_numbers(A).max()) > 1e4
    B = torch.randn(n, n, generator=gen, dtype=torch.complex128)
    g = _grad(lambda X: (eg.eig_projectors(X).projectors[:2] * B).real.sum(), A)
    assert bool(torch.isfinite(g).all())


@pytest.mark.parametrize(
    ("fn", "name"),
    [
        (eg.eigenvalue_condition_numbers, "eigengrad.eigenvalue_condition_numbers"),
        (eg.eig_projectors, "eigengrad.eig_projectors"),
    ],
)
def test_errors_and_warnings_name_the_function(fn, name):
    # they used to name eigengrad.eig, which the caller never called
    with pytest.raises(eg.exceptions.NotSquareError, match=name):
        fn(torch.zeros(2, 3, dtype=torch.float64))
    with pytest.raises(eg.exceptions.InputError, match=rf"{name}: expected a real rtol >= 0"):
        fn(torch.eye(2, dtype=torch.float64), rtol=-1.0)
    J = torch.tensor([[2.0, 1.0], [0.0, 2.0]], dtype=torch.float64, requires_grad=True)
    out = fn(J)
    value = out.real.sum() if isinstance(out, torch.Tensor) else out.projectors[0].real.sum()
    with pytest.warns(eg.exceptions.DefectiveEigenvalueWarning, match=f"{name} backward"):
        value.backward()
