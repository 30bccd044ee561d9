"""Tests of eg.spectral_radius and eg.spectral_abscissa."""

from __future__ import annotations

import warnings

import pytest
import torch

import eigengrad as eg
from eigengrad.exceptions import (
    DefectiveEigenvalueError,
    DefectiveEigenvalueWarning,
    InputError,
    InputShapeError,
    SubgradientWarning,
)
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


def _check_fd(f, A, seed):
    A = A.detach().clone().requires_grad_()
    (g,) = torch.autograd.grad(f(A), A)
    assert g.dtype == A.dtype
    for k in range(2):
        E = _random(A.shape[-1], A.dtype, seed=seed + k)
        fd = directional_fd(f, A.detach(), E, h=1e-5)
        assert abs(float((g.conj() * E).real.sum()) - fd) < 1e-8 * max(1.0, abs(fd))


@pytest.mark.parametrize("f", [eg.spectral_radius, eg.spectral_abscissa])
def test_simple_maximiser_complex_matrix(f):
    _check_fd(f, _random(6, torch.complex128, seed=1), seed=10)


@pytest.mark.parametrize("f", [eg.spectral_radius, eg.spectral_abscissa])
def test_simple_real_maximiser_real_matrix(f):
    A, _ = nonnormal_with_spectrum([2.0, 0.5 + 1j, 0.5 - 1j, -1.0], dtype=torch.float64, seed=3)
    _check_fd(f, A, seed=20)


@pytest.mark.parametrize("f", [eg.spectral_radius, eg.spectral_abscissa])
def test_conjugate_pair_maximiser_real_matrix(f):
    A, _ = nonnormal_with_spectrum([1.0 + 2j, 1.0 - 2j, 0.5, -0.3], dtype=torch.float64, seed=5)
    assert abs(float(f(A)) - (5**0.5 if f is eg.spectral_radius else 1.0)) < 1e-12
    _check_fd(f, A, seed=30)  # no SubgradientWarning: the pair is not a genuine tie


def test_radius_and_abscissa_values_and_batch():
    A = torch.stack([_random(5, torch.float64, seed=s) for s in range(3)])
    w = torch.linalg.eigvals(A)
    assert relative_error(eg.spectral_radius(A), w.abs().amax(-1)) < 1e-14
    assert relative_error(eg.spectral_abscissa(A), w.real.amax(-1)) < 1e-14
    loop = torch.stack([torch.func.grad(eg.spectral_radius)(a) for a in A])
    assert relative_error(torch.func.vmap(torch.func.grad(eg.spectral_radius))(A), loop) < 1e-13


def test_genuine_ties_average_and_warn():
    A = torch.diag(torch.tensor([1.0, -1.0, 0.5], dtype=torch.float64))
    with pytest.warns(SubgradientWarning, match=r"spectral radius 1 is attained by 2"):
        g = torch.func.grad(eg.spectral_radius)(A)
    assert relative_error(g, torch.diag(torch.tensor([0.5, -0.5, 0.0], dtype=A.dtype))) < 1e-14
    eye = torch.eye(3, dtype=torch.float64)
    with pytest.warns(SubgradientWarning, match="spectral abscissa"):
        g = torch.func.grad(eg.spectral_abscissa)(eye)
    assert relative_error(g, eye / 3) < 1e-14  # the minimum-norm subgradient


def test_forward_mode_and_empty():
    A = _random(4, torch.float64, seed=7)
    E = _random(4, torch.float64, seed=8)
    _, t = torch.func.jvp(eg.spectral_abscissa, (A,), (E,))
    g = torch.func.grad(eg.spectral_abscissa)(A)
    assert abs(float(t) - float((g * E).sum())) < 1e-12
    with pytest.raises(InputShapeError, match="n >= 1"):
        eg.spectral_radius(torch.zeros(0, 0))


def test_gradcheck_and_jacobians():
    A = _random(4, torch.complex128, seed=40).requires_grad_()
    for f in (eg.spectral_radius, eg.spectral_abscissa):
        assert torch.autograd.gradcheck(f, (A,), check_forward_ad=True)
        assert torch.autograd.gradgradcheck(f, (A,))
        B = A.detach().real
        assert relative_error(torch.func.jacfwd(f)(B), torch.func.jacrev(f)(B)) < 1e-12
        # reverse over reverse batches eig's backward (a conjugate view there used to hit the
        # missing vmap rule of aten::_neg_view); compare with reverse over forward
        hessian = torch.func.jacrev(torch.func.jacrev(f))(B)
        assert relative_error(hessian, torch.func.jacrev(torch.func.jacfwd(f))(B)) < 1e-10


@pytest.mark.parametrize("fn", [eg.spectral_radius, eg.spectral_abscissa])
def test_value_is_the_maximum_whatever_the_tie_tolerance(fn):
    # near-ties within the tolerance share the gradient, not the value (it used to be their
    # mean: 2.95 here)
    A = torch.diag(torch.tensor([1.0, 2.9, 3.0], dtype=torch.float64)).requires_grad_()
    with pytest.warns(SubgradientWarning, match="attained by 2 distinct eigenvalues"):
        value = fn(A, rtol=0.05)
    assert float(value.detach()) == 3.0
    value.backward()
    torch.testing.assert_close(
        A.grad.diagonal(), torch.tensor([0.0, 0.5, 0.5], dtype=torch.float64)
    )


@pytest.mark.parametrize("fn", [eg.spectral_radius, eg.spectral_abscissa, eg.eigvals])
@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("rtol", float("nan")),
        ("rtol", -1.0),
        ("atol", -1.0),
        ("atol", "0"),
        ("defective_rtol", -1.0),
    ],
)
def test_tolerances_are_validated(fn, option, value):
    A = torch.diag(torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64))
    with pytest.raises(InputError, match=rf"real {option} >= 0"):
        fn(A, **{option: value})
    with warnings.catch_warnings():  # every eigenvalue a maximiser (or one cluster): allowed
        warnings.simplefilter("ignore", SubgradientWarning)
        fn(A, **{option: float("inf")})


@pytest.mark.parametrize(
    ("fn", "jordan"),
    [
        (fn, jordan)
        for fn in (eg.spectral_radius, eg.spectral_abscissa)
        for jordan in (
            [[3.0, 1.0], [0.0, 3.0]],
            [[0.0, 1.0], [0.0, 0.0]],
            [[2.0, 1.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 1.0]],
        )
        # the radius at rho = 0 is a documented non-differentiable point of its own
        if not (fn is eg.spectral_radius and jordan[0][0] == 0.0)
    ],
)
def test_defective_maximiser_follows_the_defective_policy(fn, jordan):
    # The maximum over a Jordan block moves like eps^(1/m): no derivative, no subgradient. The
    # backward used to return the averaged cotangent 0.5 I with a SubgradientWarning (the eig
    # policy takes a constant cotangent on a defective group for the smooth trace); forward mode
    # already raised.
    J = torch.tensor(jordan, dtype=torch.float64, requires_grad=True)
    with pytest.raises(DefectiveEigenvalueError):
        torch.autograd.grad(fn(J, defective="raise"), J)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.autograd.grad(fn(J), J)
    kinds = {type(c.message) for c in caught}
    assert DefectiveEigenvalueWarning in kinds and SubgradientWarning not in kinds


def test_semisimple_and_conjugate_maximisers_are_not_defective():
    S = torch.diag(torch.tensor([3.0, 3.0, 1.0], dtype=torch.float64)).requires_grad_()
    with pytest.warns(SubgradientWarning):
        (g,) = torch.autograd.grad(eg.spectral_abscissa(S), S)
    torch.testing.assert_close(g.diagonal(), torch.tensor([0.5, 0.5, 0.0], dtype=torch.float64))
    R = torch.tensor([[0.0, -2.0], [2.0, 0.0]], dtype=torch.float64, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        (g,) = torch.autograd.grad(eg.spectral_radius(R), R)
    torch.testing.assert_close(g, torch.tensor([[0.0, -0.5], [0.5, 0.0]], dtype=torch.float64))
