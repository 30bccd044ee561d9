"""eg.power_iteration: implicit vs unrolled derivatives, forward mode, warnings, errors."""

from __future__ import annotations

import pytest
import torch
import torch.autograd.forward_ad as fwAD

import eigengrad as eg
from eigengrad.exceptions import ConvergenceWarning, InputError, NonFiniteInputError
from eigengrad.testing import cycle_edges, matrix_with_spectrum, relative_error

F64 = torch.float64


# iterative solvers: single-threaded, so results do not depend on the thread count
pytestmark = pytest.mark.usefixtures("one_thread")


def _separated(n=120, seed=1):
    w = torch.linspace(-0.5, 1.0, n, dtype=F64)
    w[-1] = 2.0  # dominant, ratio 0.5
    return matrix_with_spectrum(w, seed=seed)


def _loss(lam, x, c):
    return lam + (x @ c) ** 2 + x.sum()


def test_implicit_matches_unrolled_dense():
    A0, _w, _Q = _separated()
    c = torch.linspace(-1, 1, A0.shape[0], dtype=F64)
    grads = {}
    for mode in ("implicit", "unrolled"):
        A = A0.clone().requires_grad_()
        lam, x, info = eg.power_iteration(A, differentiation=mode, tol=1e-14)
        assert bool(info.converged.all())
        assert abs(float(lam.detach()) - 2.0) < 1e-12
        (grads[mode],) = torch.autograd.grad(_loss(lam, x, c), A)
    assert relative_error(grads["implicit"], grads["unrolled"]) < 1e-8
    assert torch.allclose(grads["implicit"], grads["implicit"].T)


def test_implicit_matches_unrolled_sparse_and_operator():
    n = 200
    und = cycle_edges(n)[:, :n]
    edges = torch.cat([und, und.flip(0)], 1)
    base = torch.linspace(0.5, 1.5, n, dtype=F64)
    bump = torch.zeros(n, dtype=F64)
    bump[0] = 6.0  # a localized, well-separated dominant eigenvector
    diag = torch.arange(n).repeat(2, 1)
    results = {}
    for form in ("sparse", "operator"):
        for mode in ("implicit", "unrolled"):
            t = base.clone().requires_grad_()
            L = eg.graph_laplacian(edges, t.repeat(2), n).coalesce()
            A = torch.sparse_coo_tensor(
                torch.cat([L.indices(), diag], 1),
                torch.cat([L.values(), bump]),
                (n, n),
                check_invariants=False,
            ).coalesce()
            if form == "operator":
                A = eg.aslinearoperator(A)
            lam, x, _info = eg.power_iteration(A, differentiation=mode, tol=1e-14)
            (g,) = torch.autograd.grad(lam + x[:10].pow(2).sum(), t)
            results[form, mode] = g
    for form in ("sparse", "operator"):
        assert relative_error(results[form, "implicit"], results[form, "unrolled"]) < 1e-8
    assert relative_error(results["sparse", "implicit"], results["operator", "implicit"]) < 1e-12


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")
def test_forward_mode_matches_unrolled():
    A0, _w, Q = _separated(60)
    dA = eg.testing.symmetric_direction(60, seed=3)
    out = {}
    for mode in ("implicit", "unrolled"):
        with fwAD.dual_level():
            lam, x, _ = eg.power_iteration(fwAD.make_dual(A0, dA), differentiation=mode, tol=1e-14)
            out[mode] = (fwAD.unpack_dual(lam).tangent, fwAD.unpack_dual(x).tangent)
    assert relative_error(out["implicit"][0], out["unrolled"][0]) < 1e-8
    assert relative_error(out["implicit"][1], out["unrolled"][1]) < 1e-8
    assert abs(float(out["implicit"][0]) - float(Q[:, -1] @ dA @ Q[:, -1])) < 1e-10


def test_nonconvergence_warns():
    A = torch.diag(torch.tensor([2.0, -2.0, 1.0], dtype=F64))  # |λ| tie: no convergence
    with pytest.warns(ConvergenceWarning, match="relative residual reached"):
        eg.power_iteration(A, max_iter=50)


def test_errors():
    A = torch.eye(3, dtype=F64)
    with pytest.raises(InputError, match="differentiation"):
        eg.power_iteration(A, differentiation="backprop")
    with pytest.raises(InputError, match="x0"):
        eg.power_iteration(A, x0=torch.ones(4, dtype=F64))
    # a zero start vector used to run max_iter iterations and return NaN
    with pytest.raises(InputError, match="nonzero start vector"):
        eg.power_iteration(A, x0=torch.zeros(3, dtype=F64))
    with pytest.raises(NonFiniteInputError):
        eg.power_iteration(A, x0=torch.tensor([1.0, float("nan"), 0.0], dtype=F64))
    with pytest.raises(eg.exceptions.InputDTypeError, match="real x0 for a real operator"):
        eg.power_iteration(A, x0=torch.ones(3, dtype=torch.complex128))
    assert eg.power_iteration(A, max_iter=1e3).info.converged.all()  # integral float
    for options, match in (
        ({"tol": -1.0}, "positive tol"),
        ({"max_iter": 0}, "max_iter >= 1"),
        ({"seed": 1.5}, "integer seed"),
    ):
        with pytest.raises(InputError, match=match):
            eg.power_iteration(A, **options)
